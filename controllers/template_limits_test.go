package controllers

import (
	"regexp"
	"runtime"
	"testing"
)

// A template over one of internal/render's limits (its own tests hold the table of
// hostile templates) fails the policy's render with the limit's error, having allocated
// little: the contract allows one render 64 MiB, garbage included.
func TestRunawayTemplatesAreStopped(t *testing.T) {
	tests := []struct {
		name, template string
		wantErr        string // a regular expression
	}{
		{"a huge repeat", `{{ repeat 2000000000 "x" }}`, "repeat would produce more than"},
		{"nested loops without function calls", `{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}`, "steps|takes longer than|allocates more than"},
		{"a dict that contains itself", `{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ print $d }}`, "larger than"},
		{"nested lists printed with toPrettyJson", `{{ $l := list }}{{ range until 5000 }}{{ $l = list $l }}{{ end }}{{ toPrettyJson $l }}`, "nested more than 32 levels"},
		{"a huge repeat in a loop, each within the limit", `{{ range until 5000 }}{{ $x := repeat 200000 "x" }}{{ end }}`, "allocates more than"},
		{"deep recursion through template", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, "nests template calls more than 64 deep"},
		{"a shared dict inflated by set, printed", `{{ $a := dict }}{{ $b := list $a $a $a $a $a $a $a $a $a $a }}{{ $c := list $b $b $b $b $b $b $b $b $b $b }}{{ $_ := set $a "x" (repeat 200000 "x") }}{{ $c }}`, "larger than"},
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
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 64<<20 {
				t.Fatalf("expected the template stopped before allocating 64 MiB, it allocated %d MiB", allocated>>20)
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
