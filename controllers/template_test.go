package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func testPolicy(generation int64, templates ...string) *superofficev1alpha1.ProvisioningPolicy {
	p := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{
		Name: "accounts", Namespace: "crm", UID: "uid-1", Generation: generation}}
	for _, text := range templates {
		p.Spec.Resources = append(p.Spec.Resources, superofficev1alpha1.ResourceTemplate{Template: text})
	}
	return p
}

func testAssociate() *superofficev1alpha1.Associate {
	return &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Name: "cust1234-141424", Namespace: "crm"},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 141424, PersonID: 21,
			Type: superofficev1alpha1.AssociateTypeEmployee},
	}
}

func TestRenderResources(t *testing.T) {
	tests := []struct {
		name      string
		template  string
		wantName  string
		wantNS    string
		wantLabel string
		wantNone  bool
		wantErr   string
	}{
		{name: "YAML with the data and Sprig functions", template: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: person-{{ .PersonID }}
  namespace: {{ .Namespace }}
  labels:
    tenant: {{ .Tenant | lower | quote }}`, wantName: "person-21", wantNS: "crm", wantLabel: "cust1234"},
		{name: "JSON reading the whole Associate and tenantSlug",
			template: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{ tenantSlug .Tenant }}-{{ .Associate.spec.associateId }}","labels":{"tenant":"{{ .Associate.spec.tenant }}"}}}`,
			wantName: "cust1234-141424", wantLabel: "Cust1234"},
		{name: "a template that renders nothing provisions nothing", template: `{{ if eq .PersonID 0 }}apiVersion: v1{{ end }}`, wantNone: true},
		{name: "a missing name is an error", template: "apiVersion: v1\nkind: ServiceAccount\n", wantErr: "without metadata.name"},
		{name: "two documents are an error", template: "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: B\nmetadata: {name: b}\n", wantErr: "renders 2 objects"},
		{name: "a missing field is an error", template: `{{ .Associate.spec.nothing }}`, wantErr: "nothing"},
		{name: "a failing function is an error", template: `{{ if not .Associate.spec.retired }}{{ fail "personal email is required" }}{{ end }}`, wantErr: "email is required"},
		{name: "a panicking function is an error", template: `{{ index (list) 3 }}`, wantErr: "index"},
		{name: "a runaway template is stopped", template: `{{ range until 5000 }}{{ repeat 100 "x" }}{{ end }}`, wantErr: "renders more than"},
		{name: "the environment is not readable", template: `{{ env "HOME" }}`, wantErr: `function "env" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := newTemplateData(testAssociate(), ActionProvision)
			if err != nil {
				t.Fatal(err)
			}
			objects, err := newTemplateCache().compile(namespacedPolicy(testPolicy(1, tt.template))).renderResources(data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected the template to render, got %v", err)
			}
			if tt.wantNone {
				if len(objects) != 0 {
					t.Fatalf("expected no object, got %v", objects)
				}
				return
			}
			if len(objects) != 1 {
				t.Fatalf("expected one object, got %d", len(objects))
			}
			obj := objects[0]
			if obj.GetName() != tt.wantName || obj.GetNamespace() != tt.wantNS || obj.GetLabels()["tenant"] != tt.wantLabel {
				t.Fatalf("expected %s/%s with tenant label %q, got %s/%s with %v",
					tt.wantNS, tt.wantName, tt.wantLabel, obj.GetNamespace(), obj.GetName(), obj.GetLabels())
			}
		})
	}
}

func TestTemplateCacheParsesOncePerGeneration(t *testing.T) {
	cache := newTemplateCache()
	first := cache.compile(namespacedPolicy(testPolicy(1, "apiVersion: v1")))
	if again := cache.compile(namespacedPolicy(testPolicy(1, "apiVersion: v1"))); again != first {
		t.Fatal("expected the same generation to reuse the parsed templates")
	}
	if next := cache.compile(namespacedPolicy(testPolicy(2, "apiVersion: v1"))); next == first {
		t.Fatal("expected a new generation to be parsed again")
	}
}

func TestTemplateThatDoesNotParseNamesTheTemplate(t *testing.T) {
	compiled := newTemplateCache().compile(namespacedPolicy(testPolicy(1, "ok", "{{ .PersonID ")))
	if compiled.err == nil || !strings.Contains(compiled.err.Error(), "spec.resources[1].template") {
		t.Fatalf("expected a parse error naming spec.resources[1].template, got %v", compiled.err)
	}
}

func TestRenderHTTP(t *testing.T) {
	p := testPolicy(1)
	p.Spec.HTTP = []superofficev1alpha1.HTTPAction{{HTTPCall: superofficev1alpha1.HTTPCall{Name: "hook", URL: " https://example.test/people/{{ .PersonID }} ",
		BodyTemplate: `{"action":"{{ .Action }}","person":{{ .PersonID }}}`}}}
	data, err := newTemplateData(testAssociate(), ActionProvision)
	if err != nil {
		t.Fatal(err)
	}
	url, body, err := newTemplateCache().compile(namespacedPolicy(p)).renderHTTP(0, data.withAction(ActionDeprovision))
	if err != nil {
		t.Fatal(err)
	}
	if url != "https://example.test/people/21" || body != `{"action":"deprovision","person":21}` {
		t.Fatalf("expected the rendered URL and body, got %q and %q", url, body)
	}
}
