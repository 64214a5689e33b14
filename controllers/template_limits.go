package controllers

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"
)

// A policy's templates are the user's code running in the manager: besides the output
// (maxRenderedBytes), each execution is bounded in steps, time and the size of every value
// a function takes or returns, so that no template can spin or exhaust the memory.
const (
	// maxListLength bounds the lists that until, untilStep and seq produce.
	maxListLength = 5000
	// maxValueNodes bounds the elements of one value (lists, maps, nested), shared ones
	// counted each time they are reached, so a self-referencing dict is refused too.
	maxValueNodes = 20000
	// maxRenderSteps bounds one execution's function calls, range iterations and
	// template calls together.
	maxRenderSteps = 100000
	// renderTimeout bounds one execution's time, checked at every step.
	renderTimeout = time.Second
)

// renderBudget is one execution's allowance; a compiledPolicy executes one template at a
// time, so its budget is reset per execution.
type renderBudget struct {
	steps    int
	deadline time.Time
}

func (b *renderBudget) reset() {
	b.steps, b.deadline = 0, time.Now().Add(renderTimeout)
}

// step spends one step; it fails once the steps or the time are used up.
func (b *renderBudget) step() error {
	b.steps++
	if b.steps > maxRenderSteps {
		return fmt.Errorf("takes more than %d steps (function calls, loop iterations, template calls)", maxRenderSteps)
	}
	if time.Now().After(b.deadline) {
		return fmt.Errorf("takes longer than %s", renderTimeout)
	}
	return nil
}

// renderStepFunc is called at the start of every range iteration and every template, so
// that a loop without any function call still spends steps.
const renderStepFunc = "renderStep"

// guardedFuncs are templateFuncs (and fmt's print, printf and println, which shadow the
// builtins) for one budget: the functions that multiply their input are capped, and every
// call spends a step and refuses arguments and results larger than the limits.
func guardedFuncs(b *renderBudget) template.FuncMap {
	funcs := templateFuncs()
	funcs["print"], funcs["println"], funcs["printf"] = fmt.Sprint, fmt.Sprintln, cappedPrintf
	for name, fn := range cappedFuncs(funcs) {
		funcs[name] = fn
	}
	for name, fn := range funcs {
		funcs[name] = guard(name, fn, b)
	}
	funcs[renderStepFunc] = func() (string, error) { return "", b.step() }
	return funcs
}

func guard(name string, fn any, b *renderBudget) any {
	v := reflect.ValueOf(fn)
	variadic := v.Type().IsVariadic()
	return reflect.MakeFunc(v.Type(), func(args []reflect.Value) []reflect.Value {
		// text/template turns a panic in a function into the execution's error.
		if err := b.step(); err != nil {
			panic(err)
		}
		for _, arg := range args {
			if err := measure(arg); err != nil {
				panic(fmt.Errorf("an argument of %s %w", name, err))
			}
		}
		var out []reflect.Value
		if variadic {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if err := measure(out[0]); err != nil {
			panic(fmt.Errorf("the result of %s %w", name, err))
		}
		return out
	}).Interface()
}

// measure fails when a value holds more than maxRenderedBytes of strings or more than
// maxValueNodes elements.
func measure(v reflect.Value) error {
	m := measurer{nodes: maxValueNodes, bytes: maxRenderedBytes}
	if !m.walk(v) {
		return fmt.Errorf("is larger than %d bytes or %d elements", maxRenderedBytes, maxValueNodes)
	}
	return nil
}

type measurer struct{ nodes, bytes int }

func (m *measurer) walk(v reflect.Value) bool {
	if m.nodes--; m.nodes < 0 {
		return false
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		return v.IsNil() || m.walk(v.Elem())
	case reflect.String:
		m.bytes -= v.Len()
		return m.bytes >= 0
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			m.bytes -= v.Len()
			return m.bytes >= 0
		}
		for i := range v.Len() {
			if !m.walk(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !m.walk(it.Key()) || !m.walk(it.Value()) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if !m.walk(v.Field(i)) {
				return false
			}
		}
	}
	return true
}

// cappedFuncs replace the Sprig functions whose output can be far larger than their
// input: each checks the size it is about to produce before producing it.
func cappedFuncs(sprig template.FuncMap) template.FuncMap {
	seq := sprig["seq"].(func(...int) string)
	join := sprig["join"].(func(string, any) string)
	randomString := func(name string) func(int) (string, error) {
		produce := sprig[name].(func(int) string)
		return func(count int) (string, error) {
			if err := withinBytes(name, int64(count)); err != nil {
				return "", err
			}
			return produce(count), nil
		}
	}
	regexReplace := func(name string, literal bool) func(string, string, string) (string, error) {
		return func(regex, s, repl string) (string, error) {
			re, err := regexp.Compile(regex)
			if err != nil {
				return "", err
			}
			matches := int64(len(re.FindAllStringIndex(s, -1)))
			per := int64(len(repl))
			if !literal {
				per += int64(strings.Count(repl, "$")) * int64(len(s)) // each $1 expands to at most s
			}
			if err := withinBytes(name, int64(len(s))+matches*per); err != nil {
				return "", err
			}
			if literal {
				return re.ReplaceAllLiteralString(s, repl), nil
			}
			return re.ReplaceAllString(s, repl), nil
		}
	}
	return template.FuncMap{
		"until": func(count int) ([]int, error) {
			return cappedUntilStep("until", 0, count, cmpSign(count))
		},
		"untilStep": func(start, stop, step int) ([]int, error) {
			return cappedUntilStep("untilStep", start, stop, step)
		},
		"seq": func(params ...int) (string, error) {
			start, end, step := 1, 0, 1
			switch len(params) {
			case 1:
				end = params[0]
			case 2:
				start, end = params[0], params[1]
			case 3:
				start, step, end = params[0], params[1], params[2]
			}
			if err := withinList("seq", int64(listLength(start, end, step))); err != nil {
				return "", err
			}
			return seq(params...), nil
		},
		"repeat": func(count int, s string) (string, error) {
			if count < 0 {
				return "", fmt.Errorf("repeat expects a count of 0 or more, got %d", count)
			}
			if err := withinBytes("repeat", int64(count)*int64(len(s))); err != nil {
				return "", err
			}
			return strings.Repeat(s, count), nil
		},
		"randAlphaNum": randomString("randAlphaNum"),
		"randAlpha":    randomString("randAlpha"),
		"randAscii":    randomString("randAscii"),
		"randNumeric":  randomString("randNumeric"),
		"randBytes": func(count int) (string, error) {
			if err := withinBytes("randBytes", int64(count)*4/3); err != nil {
				return "", err
			}
			return sprig["randBytes"].(func(int) (string, error))(count)
		},
		"indent": func(spaces int, s string) (string, error) {
			return cappedIndent("indent", spaces, s, "")
		},
		"nindent": func(spaces int, s string) (string, error) {
			return cappedIndent("nindent", spaces, s, "\n")
		},
		"replace": func(old, replacement, src string) (string, error) {
			n := int64(strings.Count(src, old))
			if old == "" {
				n = int64(utf8.RuneCountInString(src)) + 1
			}
			if err := withinBytes("replace", int64(len(src))+n*int64(len(replacement))); err != nil {
				return "", err
			}
			return strings.ReplaceAll(src, old, replacement), nil
		},
		"join": func(sep string, v any) (string, error) {
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
				if err := withinBytes("join", int64(rv.Len())*int64(len(sep))); err != nil {
					return "", err
				}
			}
			return join(sep, v), nil
		},
		"wrapWith": func(width int, sep, s string) (string, error) {
			if err := withinBytes("wrapWith", int64(len(s))+int64(len(s)/max(width, 1)+1)*int64(len(sep))); err != nil {
				return "", err
			}
			return sprig["wrapWith"].(func(int, string, string) string)(width, sep, s), nil
		},
		"regexReplaceAll":            regexReplace("regexReplaceAll", false),
		"mustRegexReplaceAll":        regexReplace("mustRegexReplaceAll", false),
		"regexReplaceAllLiteral":     regexReplace("regexReplaceAllLiteral", true),
		"mustRegexReplaceAllLiteral": regexReplace("mustRegexReplaceAllLiteral", true),
	}
}

func withinBytes(name string, n int64) error {
	if n > maxRenderedBytes {
		return fmt.Errorf("%s would produce more than %d bytes", name, maxRenderedBytes)
	}
	return nil
}

func withinList(name string, n int64) error {
	if n > maxListLength {
		return fmt.Errorf("%s would produce more than %d elements", name, maxListLength)
	}
	return nil
}

func cmpSign(n int) int {
	if n < 0 {
		return -1
	}
	return 1
}

// listLength is how many elements start, start+step, ... up to end (inclusive) has, as
// seq counts them; math.MaxInt when step goes the wrong way forever.
func listLength(start, end, step int) uint64 {
	span := math.Abs(float64(end) - float64(start))
	return uint64(span/math.Max(math.Abs(float64(step)), 1)) + 1
}

// cappedUntilStep is Sprig's untilStep, refusing lists longer than maxListLength.
func cappedUntilStep(name string, start, stop, step int) ([]int, error) {
	var v []int
	switch {
	case stop < start && step < 0:
		if err := withinList(name, int64(listLength(start, stop, step))-1); err != nil {
			return nil, err
		}
		for i := start; i > stop; i += step {
			v = append(v, i)
		}
	case stop > start && step > 0:
		if err := withinList(name, int64(listLength(start, stop, step))-1); err != nil {
			return nil, err
		}
		for i := start; i < stop; i += step {
			v = append(v, i)
		}
	}
	if v == nil {
		v = []int{}
	}
	return v, nil
}

func cappedIndent(name string, spaces int, s, prefix string) (string, error) {
	if spaces < 0 {
		return "", fmt.Errorf("%s expects 0 or more spaces, got %d", name, spaces)
	}
	lines := int64(strings.Count(s, "\n")) + 1
	if err := withinBytes(name, int64(len(s))+lines*int64(spaces)); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", spaces)
	return prefix + pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

// cappedPrintf is fmt.Sprintf, refusing a format whose widths and precisions (fmt allows
// up to a million each) would pad past the limit.
func cappedPrintf(format string, args ...any) (string, error) {
	padding := int64(0)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		number := int64(0)
	verb:
		for i++; i < len(format); i++ {
			switch c := format[i]; {
			case c >= '0' && c <= '9':
				number = min(number*10+int64(c-'0'), 1e6)
			case c == '*': // the width or precision comes from an argument
				padding += 1e6
			case strings.IndexByte("+-# .[]", c) >= 0:
				padding, number = padding+number, 0
			default:
				break verb
			}
		}
		padding += number
	}
	if err := withinBytes("printf", int64(len(format))+padding); err != nil {
		return "", err
	}
	return fmt.Sprintf(format, args...), nil
}

// addRenderSteps makes every range iteration and every template (define, block and the
// main one) of t spend a step.
func addRenderSteps(t *template.Template, funcs template.FuncMap) error {
	tick, err := template.New("step").Funcs(funcs).Parse("{{" + renderStepFunc + "}}")
	if err != nil {
		return err
	}
	step := tick.Root.Nodes[0]
	for _, each := range t.Templates() {
		if each.Tree == nil || each.Root == nil {
			continue
		}
		addSteps(each.Root, step)
		each.Root.Nodes = append([]parse.Node{step}, each.Root.Nodes...)
	}
	return nil
}

func addSteps(node parse.Node, step parse.Node) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, child := range n.Nodes {
			addSteps(child, step)
		}
	case *parse.IfNode:
		addSteps(n.List, step)
		addSteps(n.ElseList, step)
	case *parse.WithNode:
		addSteps(n.List, step)
		addSteps(n.ElseList, step)
	case *parse.RangeNode:
		addSteps(n.List, step)
		addSteps(n.ElseList, step)
		n.List.Nodes = append([]parse.Node{step}, n.List.Nodes...)
	}
}
