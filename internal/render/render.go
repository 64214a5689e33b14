// Package render runs the Go text/templates of provisioning policies: their author's code,
// executed in the manager. It offers a curated set of functions (Funcs lists them), each
// of which checks the size of what it is about to make before making it, and bounds every
// execution in steps, time, template nesting, output and allocation (limits.go).
// Templates fail on a missing map key (missingkey=error).
package render

import (
	"errors"
	"fmt"
	"sync"
	"text/template"
)

// Set holds named templates, each parsed once on its own (a template defined in one is
// not visible in another), and executes one of them at a time, each execution with the
// whole budget. Executions take microseconds, so callers hardly wait.
type Set struct {
	mu     sync.Mutex
	budget *budget
	funcs  template.FuncMap
	byName map[string]*template.Template
}

// NewSet returns an empty Set.
func NewSet() *Set {
	b := &budget{}
	return &Set{budget: b, funcs: funcMap(b), byName: map[string]*template.Template{}}
}

// ParseError is a template that does not parse.
type ParseError struct {
	Name string
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s does not parse: %v", e.Name, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

var errOutputTooLarge = limitErrorf(LimitOutput, "renders more than %d bytes", MaxOutputBytes)

// ErrNoTemplate is the error of Execute for a name that was never parsed.
var ErrNoTemplate = errors.New("no such template")

// Parse parses text as the template name, replacing one of that name. It fails with a
// *ParseError, naming the template, when the text is not a template or calls a function
// that is not in the set.
func (s *Set) Parse(name, text string) error {
	t, err := template.New(name).Funcs(s.funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return &ParseError{Name: name, Err: err}
	}
	instrument(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName[name] = t
	return nil
}

// Execute renders the template name with data within the limits. A limit that is reached
// is a *LimitError (wrapped, with the template's position, by text/template); a panic in a
// function becomes an error too, so that a policy can never stop the manager.
func (s *Set) Execute(name string, data any) (string, error) {
	return s.execute(name, data, 0)
}

// execute is Execute with steps already spent (tests start near the limit).
func (s *Set) execute(name string, data any, spent int) (out string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byName[name]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrNoTemplate, name)
	}
	// The slot is taken before the budget starts: waiting for one costs no render time.
	defer acquireSlot()()
	s.budget.reset()
	s.budget.steps = spent
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s panicked: %v", name, r)
		}
	}()
	w := &sink{b: s.budget, fn: "the output", overflow: errOutputTooLarge}
	if err := t.Execute(w, data); err != nil {
		return "", err
	}
	return string(w.buf), nil
}
