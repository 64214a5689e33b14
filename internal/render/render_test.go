package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/assocsync/associate-operator/internal/testenv"
)

func TestExecuteRendersNamedTemplates(t *testing.T) {
	s := NewSet()
	if err := s.Parse("spec.resources[0].template", "name: person-{{ .PersonID }}"); err != nil {
		t.Fatal(err)
	}
	if err := s.Parse("spec.http[hook].url", `https://example.test/{{ .PersonID }}{{ define "x" }}x{{ end }}`); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"PersonID": 21}
	for name, want := range map[string]string{"spec.resources[0].template": "name: person-21", "spec.http[hook].url": "https://example.test/21"} {
		got, err := s.Execute(name, data)
		if err != nil || got != want {
			t.Errorf("expected %s to render %q, got %q, %v", name, want, got, err)
		}
	}
	// A template defined in one is not visible in another.
	if err := s.Parse("other", `{{ template "x" }}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Execute("other", data); err == nil || !strings.Contains(err.Error(), `template "x" not defined`) {
		t.Fatalf("expected another template's define to be invisible, got %v", err)
	}
	if _, err := s.Execute("never parsed", data); !errors.Is(err, ErrNoTemplate) {
		t.Fatalf("expected ErrNoTemplate for a name never parsed, got %v", err)
	}
}

func TestAMissingKeyIsAnError(t *testing.T) {
	_, err := render(t, `{{ .Associate.spec.nothing }}`, map[string]any{"Associate": map[string]any{"spec": map[string]any{}}})
	if err == nil || !strings.Contains(err.Error(), `map has no entry for key "nothing"`) {
		t.Fatalf("expected a missing key to fail the render, got %v", err)
	}
}

func TestAParseErrorNamesTheTemplate(t *testing.T) {
	err := NewSet().Parse("spec.resources[1].template", "{{ .PersonID ")
	var parseErr *ParseError
	if !errors.As(err, &parseErr) || parseErr.Name != "spec.resources[1].template" ||
		!strings.HasPrefix(err.Error(), "spec.resources[1].template does not parse: ") {
		t.Fatalf("expected a *ParseError naming spec.resources[1].template, got %v", err)
	}
}

// What reads the manager's environment, resolves names, is random or depends on the
// clock is not there: a render must depend on its data only (a changed render is an
// update call or a patch).
func TestFunctionsThatLeaveTheDataAreNotDefined(t *testing.T) {
	for _, name := range []string{"env", "expandenv", "getHostByName", "now", "ago", "randAlphaNum", "randAlpha",
		"randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle", "genPrivateKey", "genCA",
		"genSelfSignedCert", "bcrypt", "htpasswd", "derivePassword", "encryptAES", "dateInZone"} {
		err := NewSet().Parse("t", "{{ "+name+" }}")
		if err == nil || !strings.Contains(err.Error(), `function "`+name+`" not defined`) {
			t.Errorf("expected %s not to be defined, got %v", name, err)
		}
	}
}

func TestAPanicInAFunctionIsAnError(t *testing.T) {
	_, err := render(t, `{{ index (list) 3 }}`, nil)
	if err == nil || !strings.Contains(err.Error(), "index") {
		t.Fatalf("expected an index error, got %v", err)
	}
}

func TestLimitErrorsSayWhichLimit(t *testing.T) {
	for text, want := range map[string]Limit{
		`{{ range 200000 }}{{ end }}`:                                   LimitSteps,
		`{{ repeat 300000 "x" }}`:                                       LimitSize,
		`{{ range until 300 }}{{ repeat 1000 "x" }}{{ end }}`:           LimitOutput,
		`{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}`: LimitRecursion,
		`{{ $d := dict }}{{ $_ := set $d "d" $d }}`:                     LimitValue,
		`{{ range until 500 }}{{ $x := repeat 200000 "x" }}{{ end }}`:   LimitAllocation,
	} {
		_, err := render(t, text, nil)
		if le := (*LimitError)(nil); !errors.As(err, &le) || le.Limit != want {
			t.Errorf("expected %s to stop at the %s limit, got %v", text, want, err)
		}
	}
}

type person struct {
	Name string
	Born time.Time
}

// Instrumented templates print and run exactly what plain text/template does.
func TestInstrumentedTemplatesRenderWhatTextTemplateRenders(t *testing.T) {
	data := map[string]any{
		"s": "text", "n": int64(7), "f": 2.5, "b": true, "nil": nil, "empty": "",
		"m": map[string]any{"a": int64(1), "z": []any{"x", nil}}, "l": []any{"a", int64(2), 3.5},
		"t": time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), "p": &person{Name: "Ann"}, "v": person{Name: "Bo"},
		"bytes": []byte("hi"), "strs": []string{"u", "v"},
	}
	for _, text := range []string{
		`{{ .s }}|{{ .n }}|{{ .f }}|{{ .b }}|{{ .nil }}|{{ .empty }}|{{ .m }}|{{ .l }}|{{ .t }}|{{ .p }}|{{ .v }}|{{ .bytes }}|{{ .strs }}`,
		`{{ .m.a }}|{{ .m.z }}|{{ index .l 1 }}|{{ len .l }}|{{ slice .s 1 3 }}|{{ .p.Name }}|{{ 1.5 }}|{{ "x" }}|{{ 'a' }}|{{ 3 }}`,
		`{{ range $i, $e := .l }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}={{ $e }};{{ end }}|{{ range .strs }}{{ . }}{{ break }}{{ end }}`,
		`{{ range $k, $v := .m }}{{ $k }}:{{ $v }} {{ else }}none{{ end }}|{{ range .nil }}x{{ else }}none{{ end }}|{{ range 3 }}{{ . }}{{ end }}`,
		`{{ with .m.a }}{{ . }}{{ else }}no{{ end }}|{{ with .empty }}{{ . }}{{ else with .s }}{{ . }}{{ end }}|{{ if .nil }}y{{ else if .b }}b{{ else }}n{{ end }}`,
		`{{ $x := .s }}{{ $x = "changed" }}{{ $x }}|{{ define "d" }}[{{ . }}]{{ end }}{{ template "d" .n }}{{ template "d" .m.z }}|{{ block "b" .s }}<{{ . }}>{{ end }}`,
		"{{- /* a comment */ -}}  \n  {{- .s -}}  \n  |{{ .s | printf \"%s!\" }}|{{ and .b .s }}|{{ or .empty .n }}|{{ not .b }}|{{ print .n .s }}|{{ printf \"%v\" .m }}",
		`{{ html "<x>" }}|{{ js "'" }}|{{ urlquery "a b" }}|{{ println .s }}|{{ .l | len }}|{{ lt 1 2 }}|{{ ne .s "a" }}`,
	} {
		t.Run(text, func(t *testing.T) {
			plain := template.Must(template.New("t").Option("missingkey=error").Parse(text))
			var want bytes.Buffer
			if err := plain.Execute(&want, data); err != nil {
				t.Fatal(err)
			}
			got, err := render(t, text, data)
			if err != nil || got != want.String() {
				t.Fatalf("expected what text/template renders, %q, got %q, %v", want.String(), got, err)
			}
		})
	}
}

// A Set executes one template at a time, each with the whole budget.
func TestEachExecutionHasTheWholeBudget(t *testing.T) {
	s := NewSet()
	if err := s.Parse("t", `{{ range until 4000 }}{{ range until 20 }}{{ end }}{{ end }}`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Execute("t", nil); err != nil {
			t.Fatalf("execution %d: expected %d steps to fit the budget each time, got %v", i, 4000*21, err)
		}
	}
}

// The README's provisioning section lists every function a template can call.
func TestREADMEListsEveryFunction(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skipf("no README: %v", err)
	}
	for _, name := range Funcs() {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("the README does not list the template function %s", name)
		}
	}
}

// However many renders are asked for at once (a worker per policy and per Associate),
// at most MaxConcurrentRenders run; the rest wait for a slot.
func TestAtMostMaxConcurrentRendersRunAtOnce(t *testing.T) {
	const asked = MaxConcurrentRenders + 6
	var inside, most atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range asked {
		s := NewSet()
		s.funcs["hold"] = func() string {
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			inside.Add(-1)
			return "held"
		}
		if err := s.Parse("t", "{{ hold }}"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if out, err := s.Execute("t", nil); err != nil || out != "held" {
				t.Errorf("render %d: %q, %v", i, out, err)
			}
		})
	}
	testenv.Eventually(t, 10*time.Second, "the slots full and the other renders waiting", func() error {
		if in, w := inside.Load(), waiting.Load(); in != MaxConcurrentRenders || w != asked-MaxConcurrentRenders {
			return fmt.Errorf("%d renders running, %d waiting", in, w)
		}
		return nil
	})
	close(release)
	wg.Wait()
	if most.Load() != MaxConcurrentRenders {
		t.Errorf("at most %d renders ran at once, want %d", most.Load(), MaxConcurrentRenders)
	}
}
