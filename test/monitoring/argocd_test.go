package monitoring

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

var argocdDir = filepath.Join(testenv.RepoRoot(), "charts", "associate-operator", "files", "argocd")

// argocdKinds are the kinds the health check is for, with the status type each writes
// (ClusterProvisioningPolicy's is ProvisioningPolicy's).
var argocdKinds = map[string]any{
	"Associate":                 &superofficev1alpha1.AssociateStatus{},
	"WebhookReceiver":           &superofficev1alpha1.WebhookReceiverStatus{},
	"ProvisioningPolicy":        &superofficev1alpha1.ProvisioningPolicyStatus{},
	"ClusterProvisioningPolicy": &superofficev1alpha1.ProvisioningPolicyStatus{},
}

func TestArgoCDConfigMapHoldsTheHealthCheckForEachKind(t *testing.T) {
	script := readFile(t, filepath.Join(argocdDir, "health.lua"))
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(argocdDir, "argocd-cm.yaml"))), &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	var want []string
	for kind := range argocdKinds {
		want = append(want, "resource.customizations.health."+superofficev1alpha1.GroupVersion.Group+"_"+kind)
	}
	slices.Sort(want)
	got := slices.Sorted(func(yield func(string) bool) {
		for key := range cm.Data {
			if !yield(key) {
				return
			}
		}
	})
	if !slices.Equal(got, want) {
		t.Errorf("argocd-cm.yaml holds keys %v, want %v", got, want)
	}
	for key, value := range cm.Data {
		if value != script {
			t.Errorf("argocd-cm.yaml %s is not health.lua as it stands beside it", key)
		}
	}
}

func TestArgoCDHealthFollowsObservedGenerationAndConditions(t *testing.T) {
	script := readFile(t, filepath.Join(argocdDir, "health.lua"))
	tests := []struct {
		name  string
		kinds []string // empty: every kind
		// generation is metadata.generation; status the object's status, as YAML.
		generation  int64
		status      string
		want        string
		wantMessage string
	}{
		{name: "no status yet", generation: 1, status: "", want: "Progressing", wantMessage: "Waiting for the operator"},
		{name: "the current generation not observed yet", generation: 3, status: `
observedGeneration: 2
conditions:
- {type: Ready, status: "True", reason: Ready, message: fine, observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "observe generation 3"},
		{name: "Ready for the current generation", generation: 2, status: `
observedGeneration: 2
conditions:
- {type: Ready, status: "True", reason: Ready, message: all done, observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Healthy", wantMessage: "all done"},
		{name: "kstatus Reconciling", generation: 2, status: `
observedGeneration: 2
conditions:
- {type: Reconciling, status: "True", reason: Progressing, message: applying, observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Ready, status: "True", reason: Ready, message: fine, observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "Reconciling Progressing: applying"},
		{name: "kstatus Stalled", generation: 2, status: `
observedGeneration: 2
conditions:
- {type: Stalled, status: "True", reason: TemplateError, message: "policy p: template: no field Nope", observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Ready, status: "False", reason: TemplateError, message: "policy p: template: no field Nope", observedGeneration: 2, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Stalled TemplateError: policy p"},
		{name: "Ready False with a terminal reason", generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "False", reason: TemplateError, message: "bad template", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Ready TemplateError: bad template"},
		{name: "no Ready condition yet", generation: 1, status: `
observedGeneration: 1`,
			want: "Progressing", wantMessage: "Waiting for the Ready condition"},
		{name: "an Associate that no policy matches is Ready", kinds: []string{"Associate"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: NoPolicyMatched, message: no policy matches, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Healthy"},
		{name: "an Associate whose provisioning is retried", kinds: []string{"Associate"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "False", reason: HTTPActionFailed, message: "action hook: 503", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "Ready HTTPActionFailed: action hook: 503"},
		{name: "an Associate rendering an object another policy made", kinds: []string{"Associate"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "False", reason: ObjectConflict, message: "ServiceAccount acc/person-21 exists", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "ObjectConflict"},
		{name: "a receiver Ready, Synced and Registered", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
webhookPath: /webhooks/acc/so
conditions:
- {type: Ready, status: "True", reason: Ready, message: deliveries are accepted, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Synced, status: "True", reason: Synced, message: listed 5, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Registered, status: "True", reason: Registered, message: webhook 7 active, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Healthy", wantMessage: "deliveries are accepted"},
		{name: "a receiver without its Secret", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "False", reason: SecretNotFound, message: Secret so-secret not found in namespace acc, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Ready SecretNotFound: Secret so-secret not found"},
		{name: "a receiver waiting for its first resync", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: Ready, message: ok, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Synced, status: "Unknown", reason: ResyncPending, message: no resync has run yet, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "Synced ResyncPending"},
		{name: "a receiver whose resync failed and is retried", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: Ready, message: ok, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Synced, status: "False", reason: ResyncFailed, message: listing failed, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "Synced ResyncFailed"},
		{name: "a receiver that refused a mass deletion", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: Ready, message: ok, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Synced, status: "False", reason: MassDeletionRefused, message: 40 of 50 gone, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Synced MassDeletionRefused"},
		{name: "a receiver whose SuperOffice endpoint is refused", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: Ready, message: ok, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Synced, status: "False", reason: EndpointNotAllowed, message: "url must be https", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Synced EndpointNotAllowed"},
		{name: "a receiver whose webhook SuperOffice stopped", kinds: []string{"WebhookReceiver"}, generation: 1, status: `
observedGeneration: 1
conditions:
- {type: Ready, status: "True", reason: Ready, message: ok, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}
- {type: Registered, status: "False", reason: WebhookStopped, message: stopped, observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "Registered WebhookStopped"},
		{name: "a policy whose templates render", kinds: []string{"ProvisioningPolicy", "ClusterProvisioningPolicy"}, generation: 4, status: `
observedGeneration: 4
matchedAssociates: 12
conditions:
- {type: Ready, status: "True", reason: TemplatesRendered, message: every template renders, observedGeneration: 4, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Healthy", wantMessage: "every template renders"},
		{name: "a policy rendering what it may not", kinds: []string{"ProvisioningPolicy", "ClusterProvisioningPolicy"}, generation: 4, status: `
observedGeneration: 4
conditions:
- {type: Ready, status: "False", reason: TargetNotAllowed, message: ClusterRole admin, observedGeneration: 4, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Degraded", wantMessage: "TargetNotAllowed"},
		{name: "a condition of an older generation", kinds: []string{"ProvisioningPolicy", "ClusterProvisioningPolicy"}, generation: 5, status: `
observedGeneration: 5
conditions:
- {type: Ready, status: "True", reason: TemplatesRendered, message: ok, observedGeneration: 4, lastTransitionTime: "2026-01-01T00:00:00Z"}`,
			want: "Progressing", wantMessage: "Ready is not updated for generation 5"},
	}
	for _, tt := range tests {
		kinds := tt.kinds
		if len(kinds) == 0 {
			kinds = slices.Sorted(func(yield func(string) bool) {
				for kind := range argocdKinds {
					if !yield(kind) {
						return
					}
				}
			})
		}
		for _, kind := range kinds {
			t.Run(kind+": "+tt.name, func(t *testing.T) {
				obj := map[string]any{
					"apiVersion": superofficev1alpha1.GroupVersion.String(),
					"kind":       kind,
					"metadata":   map[string]any{"name": "sample", "generation": tt.generation},
				}
				if tt.status != "" {
					// The sample must be a status the kind can have.
					if err := yaml.UnmarshalStrict([]byte(tt.status), argocdKinds[kind]); err != nil {
						t.Fatalf("the sample is no %s status: %v", kind, err)
					}
					var status map[string]any
					if err := yaml.Unmarshal([]byte(tt.status), &status); err != nil {
						t.Fatal(err)
					}
					obj["status"] = status
				}
				status, message := argocdHealth(t, script, obj)
				if status != tt.want || !strings.Contains(message, tt.wantMessage) {
					t.Errorf("health %s %q, want %s with a message containing %q", status, message, tt.want, tt.wantMessage)
				}
			})
		}
	}
}

// argocdHealth runs a health script as Argo CD does: obj is the object, decoded from
// JSON into Lua tables, and the script returns a table with status and message.
func argocdHealth(t *testing.T, script string, obj map[string]any) (string, string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("the health script fails: %v", err)
	}
	result, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health script returned %s, want a table", L.Get(-1).Type())
	}
	status, message := result.RawGetString("status"), result.RawGetString("message")
	if _, ok := status.(lua.LString); !ok {
		t.Fatalf("the health script returned status %v", status)
	}
	if !slices.Contains([]string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}, status.String()) {
		t.Fatalf("status %q is none of Argo CD's", status)
	}
	return status.String(), lua.LVAsString(message)
}

// toLua converts decoded JSON (maps, slices, strings, numbers, booleans) to Lua values.
func toLua(state *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		table := state.NewTable()
		for key, value := range v {
			table.RawSetString(key, toLua(state, value))
		}
		return table
	case []any:
		table := state.NewTable()
		for _, value := range v {
			table.Append(toLua(state, value))
		}
		return table
	}
	panic(fmt.Sprintf("toLua: %T", v))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(content)
}

// retryableReasons are the reasons of api/v1alpha1 that are no terminal error: a True
// condition's, or a False one's that the operator retries by itself.
var retryableReasons = []string{
	"Provisioned", "NoPolicyMatched", "Deprovisioned", "HTTPActionSucceeded", "TemplatesRendered",
	"Ready", "Synced", "Registered", "ResyncPending",
	"ProvisioningFailed", "DeprovisioningFailed", "HTTPActionFailed", "ResyncFailed", "RegistrationFailed",
}

// Every reason the API declares is either retried (Progressing) or needs a person
// (Degraded): a new reason must be placed in health.lua's terminal list or here.
func TestArgoCDHealthKnowsEveryReasonOfTheAPI(t *testing.T) {
	script := readFile(t, filepath.Join(argocdDir, "health.lua"))
	file, err := goparser.ParseFile(token.NewFileSet(), filepath.Join(testenv.RepoRoot(), "api", "v1alpha1", "conditions.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if lit, ok := spec.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(name.Name, "Reason") {
				reasons = append(reasons, strings.Trim(lit.Value, `"`))
			}
		}
		return true
	})
	if len(reasons) < 10 {
		t.Fatalf("found only the reasons %v in api/v1alpha1/conditions.go", reasons)
	}
	for _, reason := range reasons {
		want := "Degraded"
		if slices.Contains(retryableReasons, reason) {
			want = "Progressing"
		}
		obj := map[string]any{
			"kind":     "WebhookReceiver",
			"metadata": map[string]any{"name": "sample", "generation": int64(1)},
			"status": map[string]any{"observedGeneration": int64(1), "conditions": []any{map[string]any{
				"type": "Ready", "status": "False", "reason": reason, "message": "m", "observedGeneration": int64(1),
			}}},
		}
		if got, _ := argocdHealth(t, script, obj); got != want {
			t.Errorf("Ready False with reason %s is %s, want %s", reason, got, want)
		}
	}
}
