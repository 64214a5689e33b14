package controllers

import (
	"regexp"
	"runtime"
	"testing"
)

// Each of these would spin or allocate gigabytes without the limits; each must end in an
// error that names the limit, having allocated little (counted cumulatively, garbage
// included: up to maxRenderSteps small allocations).
func TestRunawayTemplatesAreStopped(t *testing.T) {
	// The step budget or the time budget, whichever a slow machine reaches first.
	const budgetExceeded = "steps|takes longer than"
	tests := []struct {
		name, template string
		wantErr        string // a regular expression
	}{
		{"a huge repeat", `{{ repeat 2000000000 "x" }}`, "repeat would produce more than"},
		{"a huge until", `{{ range until 1000000000 }}{{ end }}`, "until would produce more than"},
		{"a huge untilStep", `{{ range untilStep 0 1000000000 1 }}x{{ end }}`, "untilStep would produce more than"},
		{"a huge seq", `{{ seq 1000000000 }}`, "seq would produce more than"},
		{"a huge random string", `{{ randAlphaNum 2000000000 }}`, "randAlphaNum would produce more than"},
		{"a huge random byte string", `{{ randBytes 2000000000 }}`, "randBytes would produce more than"},
		{"a huge indent", `{{ indent 2000000000 "x" }}`, "indent would produce more than"},
		{"a multiplying replace", `{{ $s := repeat 100000 "x" }}{{ replace "x" $s $s }}`, "replace would produce more than"},
		{"a multiplying join", `{{ join (repeat 200000 "x") (until 5000) }}`, "join would produce more than"},
		{"a multiplying regexReplaceAll", `{{ $s := repeat 100000 "x" }}{{ regexReplaceAll "x" $s $s }}`, "regexReplaceAll would produce more than"},
		{"a padding printf", `{{ printf "%999999d%999999d%999999d" 1 2 3 }}`, "printf would produce more than"},
		{"nested loops without function calls", `{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}`, budgetExceeded},
		{"nested capped loops", `{{ range until 5000 }}{{ range until 5000 }}{{ range until 5000 }}{{ end }}{{ end }}{{ end }}`, budgetExceeded},
		{"a string doubled in a loop", `{{ $s := "xxxxxxxx" }}{{ range until 40 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}`, "larger than"},
		{"a dict doubled in a loop", `{{ $d := dict }}{{ range until 40 }}{{ $d = dict "a" $d "b" $d }}{{ end }}{{ toJson $d }}`, "larger than"},
		{"a dict that contains itself", `{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ print $d }}`, "larger than"},
		{"a recursion that doubles", `{{ define "a" }}{{ if lt (len .) 40 }}{{ template "a" (append . 1) }}{{ template "a" (append . 1) }}{{ end }}{{ end }}{{ template "a" list }}`, budgetExceeded},
	}
	data, err := newTemplateData(testAssociate(), ActionProvision)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compiled := newTemplateCache().compile(namespacedPolicy(testPolicy(1, tt.template)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := compiled.renderResources(data)
			runtime.ReadMemStats(&after)
			if err == nil || !regexp.MustCompile(tt.wantErr).MatchString(err.Error()) {
				t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
			}
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<20 {
				t.Fatalf("expected the template stopped before allocating 256 MiB, it allocated %d MiB", allocated>>20)
			}
		})
	}
}

// The limits leave room for what a policy really does.
func TestTemplatesWithinTheLimitsRender(t *testing.T) {
	data, err := newTemplateData(testAssociate(), ActionProvision)
	if err != nil {
		t.Fatal(err)
	}
	template := `apiVersion: v1
kind: ConfigMap
metadata:
  name: person-{{ .PersonID }}
data:
  ids: {{ seq 3 | quote }}
  padded: {{ printf "%05d" .PersonID | quote }}
  spec: {{ toJson .Associate.spec | quote }}
  list: {{ join "," (until 100) | quote }}
  block: |
{{ repeat 3 "line\n" | indent 4 }}`
	objects, err := newTemplateCache().compile(namespacedPolicy(testPolicy(1, template))).renderResources(data)
	if err != nil {
		t.Fatalf("expected the template to render, got %v", err)
	}
	got, _, _ := unstructuredString(objects[0].Object, "data", "padded")
	if got != "00021" {
		t.Fatalf("expected data.padded 00021, got %q", got)
	}
	if ids, _, _ := unstructuredString(objects[0].Object, "data", "ids"); ids != "1 2 3" {
		t.Fatalf("expected data.ids %q, got %q", "1 2 3", ids)
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var current any = obj
	for _, field := range fields {
		m, ok := current.(map[string]any)
		if !ok {
			return "", false, nil
		}
		current = m[field]
	}
	s, ok := current.(string)
	return s, ok, nil
}

// BenchmarkRenderSamplePolicy is the hot path's rendering: the sample policy's two
// templates for one Associate, with the limits' checks on every call.
func BenchmarkRenderSamplePolicy(b *testing.B) {
	policy := testPolicy(1)
	policy.Spec = samplePolicySpec()
	compiled := newTemplateCache().compile(namespacedPolicy(policy))
	data, err := newTemplateData(testAssociate(), ActionProvision)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := compiled.renderResources(data); err != nil {
			b.Fatal(err)
		}
	}
}
