package render

import (
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// The contract: one render makes the manager allocate at most 64 MiB (garbage included).
const maxRenderAllocation = 64 << 20

// Hostile templates: each would spin, blow the Go stack or allocate gigabytes without the
// limits. Each must end in an error that names the limit, having allocated less than
// maxRenderAllocation in all (runtime.MemStats.TotalAlloc, garbage included).
var hostileTemplates = []struct {
	name, template string
	wantErr        string // a regular expression
}{
	// generators
	{"a huge repeat", `{{ repeat 2000000000 "x" }}`, "repeat would produce more than"},
	{"a huge until", `{{ range until 1000000000 }}{{ end }}`, "until would produce more than"},
	{"a huge untilStep", `{{ range untilStep 0 1000000000 1 }}x{{ end }}`, "untilStep would produce more than"},
	{"a huge seq", `{{ seq 1000000000 }}`, "seq would produce more than"},
	{"a seq to the largest int", `{{ seq 9223372036854775807 }}`, "seq would produce more than"},
	{"a huge indent", `{{ indent 2000000000 "x" }}`, "indent would produce more than"},
	{"a multiplying replace", `{{ $s := repeat 100000 "x" }}{{ replace "x" $s $s }}`, "replace would produce more than"},
	{"a multiplying join", `{{ join (repeat 200000 "x") (until 5000) }}`, "join would produce more than"},
	{"a multiplying regexReplaceAll", `{{ $s := repeat 100000 "x" }}{{ regexReplaceAll "x" $s $s }}`, "regexReplaceAll would produce more than"},
	{"a splitList into characters", `{{ splitList "" (repeat 100000 "x") }}`, "splitList would produce more than"},
	{"a base64 doubled in a loop", `{{ $s := "xxxxxxxx" }}{{ range until 100 }}{{ $s = b64enc $s }}{{ end }}`, "b64enc would produce more than"},
	{"a huge repeat in a loop, each within the limit", `{{ range until 5000 }}{{ $x := repeat 200000 "x" }}{{ end }}`, "allocates more than"},
	{"a growing append in a loop", `{{ $l := list }}{{ range until 5000 }}{{ $l = append $l . }}{{ end }}`, "allocates more than"},
	{"the output over its limit", `{{ range until 5000 }}{{ repeat 200000 "x" }}{{ end }}`, "renders more than"},

	// printing
	{"a padding printf", `{{ printf "%999999d%999999d%999999d" 1 2 3 }}`, "printf would produce more than"},
	{"a padding printf in a loop", `{{ range until 5000 }}{{ $x := printf "%200000d" 1 }}{{ end }}`, "allocates more than"},
	{"a printf width from an argument", `{{ printf "%*d" 1000000 1 }}`, "printf would produce more than"},
	{"a printf precision", `{{ printf "%.999999f" 1.5 }}`, "printf would produce more than"},
	{"a printf hex of a large string", `{{ printf "%x" (repeat 100000 "x") }}`, "printf would produce more than"},
	{"a js escape of a large string", `{{ js (repeat 50000 "<") }}`, "js would produce more than"},
	{"a quote of a large string", `{{ quote (repeat 100000 "\x01") }}`, "quote would produce more than"},

	// values that grow
	{"a string doubled in a loop", `{{ $s := "xxxxxxxx" }}{{ range until 40 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}`, "print would produce more than|larger than"},
	{"a dict doubled in a loop", `{{ $d := dict }}{{ range until 40 }}{{ $d = dict "a" $d "b" $d }}{{ end }}{{ toJson $d }}`, "larger than"},
	{"a list doubled in a loop", `{{ $l := list 1 }}{{ range until 40 }}{{ $l = concat $l $l }}{{ end }}`, "larger than"},
	{"nested lists printed with toPrettyJson", `{{ $l := list }}{{ range until 5000 }}{{ $l = list $l }}{{ end }}{{ toPrettyJson $l }}`, "nested more than 32 levels"},
	{"nested dicts built with set, printed with toPrettyJson", `{{ $d := dict }}{{ $c := $d }}{{ range until 5000 }}{{ $n := dict }}{{ $_ := set $c "a" $n }}{{ $c = $n }}{{ end }}{{ toPrettyJson $d }}`, "nested more than 32 levels"},
	{"nested dicts built with set, printed as they are", `{{ $d := dict }}{{ $c := $d }}{{ range until 5000 }}{{ $n := dict }}{{ $_ := set $c "a" $n }}{{ $c = $n }}{{ end }}{{ $d }}`, "nested more than 32 levels"},
	{"a wide value at the depth limit with toPrettyJson", `{{ $l := list }}{{ range until 31 }}{{ $l = list $l }}{{ end }}{{ $w := list }}{{ range until 600 }}{{ $w = append $w $l }}{{ end }}{{ toPrettyJson $w }}`, "toPrettyJson would produce more than|larger than|allocates more than"},
	{"toPrettyJson of a large value in a loop", `{{ $s := list (repeat 30000 "x") }}{{ range until 5000 }}{{ $x := toPrettyJson (list $s $s $s) }}{{ end }}`, "allocates more than"},
	{"toYaml of a large value in a loop", `{{ $l := list }}{{ range until 3000 }}{{ $l = append $l "x" }}{{ end }}{{ range until 5000 }}{{ $x := toYaml $l }}{{ end }}`, "allocates more than"},
	{"a dict that contains itself", `{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ print $d }}`, "larger than"},
	{"two dicts that contain each other", `{{ $a := dict }}{{ $b := dict "a" $a }}{{ $_ := set $a "b" $b }}{{ $a }}`, "larger than"},
	{"a list multiplied by eight in a loop", `{{ $b := list }}{{ range until 5000 }}{{ $b = list $b $b $b $b $b $b $b $b }}{{ end }}`, "larger than"},
	{"a shared dict inflated by set, printed", `{{ $a := dict }}{{ $b := list $a $a $a $a $a $a $a $a $a $a }}{{ $c := list $b $b $b $b $b $b $b $b $b $b }}{{ $d := list $c $c $c $c $c $c $c $c $c $c }}{{ $_ := set $a "x" (repeat 200000 "x") }}{{ $d }}`, "larger than"},
	{"a shared dict inflated by set, encoded", `{{ $a := dict }}{{ $b := list $a $a $a $a $a $a $a $a $a $a }}{{ $c := list $b $b $b $b $b $b $b $b $b $b }}{{ $_ := set $a "x" (repeat 200000 "x") }}{{ toJson $c }}`, "larger than"},
	{"a shared dict inflated by set, joined", `{{ $a := dict }}{{ $b := list $a $a $a $a $a $a $a $a $a $a }}{{ $_ := set $a "x" (repeat 200000 "x") }}{{ join "," $b }}`, "larger than"},
	{"a shared dict inflated by set, html-escaped", `{{ $a := dict }}{{ $b := list $a $a $a $a $a $a $a $a $a $a }}{{ $_ := set $a "x" (repeat 200000 "x") }}{{ html $b }}`, "larger than"},

	// loops and recursion
	{"nested loops without function calls", `{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}`, "steps|takes longer than|allocates more than"},
	{"nested capped loops", `{{ range until 5000 }}{{ range until 5000 }}{{ range until 5000 }}{{ end }}{{ end }}{{ end }}`, "steps|takes longer than|allocates more than"},
	{"deep recursion through template", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, "nests template calls more than 64 deep"},
	{"deep recursion through block", `{{ block "r" . }}x{{ template "r" . }}{{ end }}`, "nests template calls more than 64 deep"},
	{"a recursion that doubles", `{{ define "a" }}{{ if lt (len .) 40 }}{{ template "a" (append . 1) }}{{ template "a" (append . 1) }}{{ end }}{{ end }}{{ template "a" list }}`, "steps|takes longer than|allocates more than"},
	{"a recursion that doubles its data", `{{ define "r" }}{{ template "r" (list . .) }}{{ end }}{{ template "r" 1 }}`, "larger than|nests template calls"},
	{"a wide recursion", `{{ define "r" }}{{ range until 5000 }}{{ template "r" . }}{{ end }}{{ end }}{{ template "r" . }}`, "nests template calls|steps|allocates more than"},
	{"an action with many arguments in a loop", `{{ range until 5000 }}{{ $x := list ` + strings.Repeat("1 ", 10000) + `}}{{ end }}`, "allocates more than|steps"},
	{"a builtin with many arguments in a loop", `{{ range 100000 }}{{ if eq 1 ` + strings.Repeat("2 ", 20000) + `}}{{ end }}{{ end }}`, "allocates more than|steps"},

	// regular expressions
	{"a regexp that compiles huge", `{{ regexMatch "(abcdefghijklmnopqrstuvwxyz){1000}" "a" }}`, "pattern .* is too large"},
	{"a long regexp", `{{ regexMatch "` + strings.Repeat("a", 2000) + `" "a" }}`, "longer than 1024 bytes"},
}

func TestHostileTemplatesFailFastWithinTheAllocationLimit(t *testing.T) {
	worst, worstName := uint64(0), ""
	for _, tt := range hostileTemplates {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet()
			if err := s.Parse("hostile", tt.template); err != nil {
				t.Fatalf("expected the template to parse, got %v", err)
			}
			allocated, err := measureExecute(s, "hostile", funcsData())
			if err == nil || !regexp.MustCompile(tt.wantErr).MatchString(err.Error()) {
				t.Fatalf("expected an error matching %q, got %v", tt.wantErr, err)
			}
			if le := (*LimitError)(nil); !errors.As(err, &le) {
				t.Errorf("expected a *LimitError in %v", err)
			}
			if allocated > maxRenderAllocation {
				t.Fatalf("expected the render to allocate under %d MiB, it allocated %.1f MiB", maxRenderAllocation>>20, float64(allocated)/(1<<20))
			}
			t.Logf("allocated %.1f MiB: %v", float64(allocated)/(1<<20), err)
			if allocated > worst {
				worst, worstName = allocated, tt.name
			}
		})
	}
	t.Logf("the worst hostile template (%s) allocated %.1f MiB", worstName, float64(worst)/(1<<20))
}

// measureExecute executes and returns what the process allocated meanwhile (the tests of
// this package do not run in parallel, so that is the render's).
func measureExecute(s *Set, name string, data any) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := s.Execute(name, data)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// The charges are what the limit counts: for a mix of templates within the limits they
// cover what the execution really allocates.
func TestChargesCoverWhatExecutionAllocates(t *testing.T) {
	data := funcsData()
	for _, text := range []string{
		`{{ range 90000 }}{{ end }}`,
		`{{ range $i := 20000 }}{{ $x := add $i 1 }}{{ end }}`,
		`{{ range 20000 }}{{ $.m.b }}{{ end }}`,
		`{{ range 20000 }}{{ if eq $.m.b "c" "d" "e" "f" }}{{ end }}{{ end }}`,
		`{{ range 20000 }}{{ with $.m }}{{ .a }}{{ else }}{{ end }}{{ end }}`,
		`{{ define "d" }}{{ . }}{{ end }}{{ range 20000 }}{{ template "d" . }}{{ end }}`,
		`{{ define "a" }}{{ if lt (len .) 12 }}{{ template "a" (append . 1) }}{{ template "a" (append . 1) }}{{ end }}{{ end }}{{ template "a" list }}`,
		`{{ range 20000 }}{{ $x := dict "a" 1 "b" 2 "c" 3 }}{{ end }}`,
		`{{ range 3000 }}{{ toJson $.m }}{{ toPrettyJson $.l }}{{ end }}`,
		`{{ range 300 }}{{ $x := toYaml $.m }}{{ end }}`,
		`{{ range 2000 }}{{ $.m }}{{ printf "%v %d %q" $.m 5 "x" }}{{ end }}`,
		`{{ range 2000 }}{{ quote "x" 1 2 3 | upper | lower | b64enc | sha256sum | trunc 5 }}{{ end }}`,
		`{{ range $k, $v := .m }}{{ range 5000 }}{{ $k }}{{ $v }}{{ end }}{{ end }}`,
		`{{ range 20 }}{{ $x := printf "%100000d" 1 }}{{ $y := printf "%d %s" 1 (repeat 100000 "x") }}{{ end }}`,
		`{{ range 2000 }}{{ $x := regexReplaceAll "[^a-z]+" "Jane Doe 7" "-" }}{{ end }}`,
		`{{ range 1000 }}{{ $l := until 50 }}{{ $x := join "," (sortAlpha $l) }}{{ end }}`,
		`{{ $l := list }}{{ range until 1500 }}{{ $l = append $l . }}{{ end }}`,
	} {
		t.Run(text, func(t *testing.T) {
			s := NewSet()
			if err := s.Parse("t", text); err != nil {
				t.Fatal(err)
			}
			allocated, err := measureExecute(s, "t", data)
			if err != nil {
				t.Fatalf("expected the template to render within the limits, got %v", err)
			}
			if charged := uint64(s.budget.alloc); allocated > charged+64<<10 {
				t.Fatalf("expected the charges to cover the allocation: %d bytes charged, %d allocated", charged, allocated)
			}
		})
	}
}

// BenchmarkHostileTemplates reports what each hostile template allocates before it stops.
func BenchmarkHostileTemplates(b *testing.B) {
	for _, tt := range hostileTemplates {
		b.Run(tt.name, func(b *testing.B) {
			s := NewSet()
			if err := s.Parse("hostile", tt.template); err != nil {
				b.Fatal(err)
			}
			data := funcsData()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Execute("hostile", data); err == nil {
					b.Fatal("expected the template to fail")
				}
			}
		})
	}
}
