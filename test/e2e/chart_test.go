package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	releaseName      = "associate-operator"
	releaseNamespace = "associate-operator-system"
	// A helm built with `go install` assumes Kubernetes v1.20 when no cluster is asked,
	// which the chart's kubeVersion (>=1.28) refuses: render for the version under test.
	renderKubeVersion = "1.37.2"
)

// helmTemplate renders the chart as the release under test with extra helm arguments.
func helmTemplate(t *testing.T, args ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	requireTools(t)
	cmdArgs := append([]string{"template", releaseName, chartDir(),
		"--namespace", releaseNamespace, "--kube-version", renderKubeVersion}, args...)
	cmd := exec.Command(tools.helm, cmdArgs...)
	cmd.Env = append(os.Environ(), helmHomeEnv(t)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return decodeObjects(t, stdout.Bytes()), nil
}

// helmHomeEnv keeps helm's cache, config and data out of the user's home.
func helmHomeEnv(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HELM_DATA_HOME=" + filepath.Join(dir, "data"),
	}
}

func decodeObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objects, err := testenv.Decode(data)
	if err != nil {
		t.Fatalf("helm rendered YAML that does not decode: %v", err)
	}
	return objects
}

// byKind indexes rendered objects as "Kind/name".
func byKind(objects []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	index := map[string]*unstructured.Unstructured{}
	for _, obj := range objects {
		index[obj.GetKind()+"/"+obj.GetName()] = obj
	}
	return index
}

func kinds(objects []*unstructured.Unstructured) []string {
	var out []string
	for _, obj := range objects {
		out = append(out, obj.GetKind())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func managerArgs(t *testing.T, objects []*unstructured.Unstructured) []string {
	t.Helper()
	deployment := byKind(objects)["Deployment/"+releaseName]
	if deployment == nil {
		t.Fatalf("no Deployment %s rendered; got kinds %v", releaseName, kinds(objects))
	}
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1 (manager)", len(containers))
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

// rulesGrantingStar lists every RBAC rule of the rendered Roles and ClusterRoles that
// holds "*" in any field.
func rulesGrantingStar(objects []*unstructured.Unstructured) []string {
	var found []string
	for _, obj := range objects {
		if obj.GetKind() != "Role" && obj.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
		for _, rule := range rules {
			for _, field := range []string{"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"} {
				values, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), field)
				if slices.Contains(values, "*") {
					found = append(found, obj.GetKind()+"/"+obj.GetName()+": "+field)
				}
			}
		}
	}
	return found
}

func TestChartDefaultInstallRendersTheOperatorWithoutHooksOrWildcards(t *testing.T) {
	objects, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("the default values must render: %v", err)
	}
	index := byKind(objects)
	for _, want := range []string{
		"CustomResourceDefinition/associates.superoffice.assocsync.io",
		"CustomResourceDefinition/webhookreceivers.superoffice.assocsync.io",
		"CustomResourceDefinition/provisioningpolicies.superoffice.assocsync.io",
		"CustomResourceDefinition/clusterprovisioningpolicies.superoffice.assocsync.io",
		"ServiceAccount/" + releaseName,
		"ClusterRole/" + releaseName,
		"ClusterRoleBinding/" + releaseName,
		"Role/" + releaseName + "-leader-election",
		"RoleBinding/" + releaseName + "-leader-election",
		"Service/" + releaseName + "-webhook",
		"Service/" + releaseName + "-metrics",
		"Deployment/" + releaseName,
		"PodDisruptionBudget/" + releaseName,
	} {
		if index[want] == nil {
			t.Errorf("default install lacks %s; rendered kinds %v", want, kinds(objects))
		}
	}
	for _, optional := range []string{"Ingress", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Job", "Pod"} {
		if slices.Contains(kinds(objects), optional) {
			t.Errorf("default install renders a %s; optional parts must default to off and no hook Job may run", optional)
		}
	}
	for _, obj := range objects {
		for key := range obj.GetAnnotations() {
			if strings.HasPrefix(key, "helm.sh/hook") {
				t.Errorf("%s/%s carries %s: the default install must run no hooks", obj.GetKind(), obj.GetName(), key)
			}
		}
		if obj.GetKind() == "CustomResourceDefinition" && obj.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep; crds.keep defaults to true", obj.GetName())
		}
	}
	if stars := rulesGrantingStar(objects); len(stars) > 0 {
		t.Errorf("RBAC rules must never hold \"*\", found: %v", stars)
	}

	deployment := index["Deployment/"+releaseName]
	// Decoded YAML numbers are float64.
	replicas, _, _ := unstructured.NestedFieldNoCopy(deployment.Object, "spec", "replicas")
	if fmt.Sprint(replicas) != "2" {
		t.Errorf("Deployment replicas = %v, want 2", replicas)
	}
	sa, _, _ := unstructured.NestedString(deployment.Object, "spec", "template", "spec", "serviceAccountName")
	if sa != releaseName {
		t.Errorf("Deployment serviceAccountName = %q, want the release's ServiceAccount %q", sa, releaseName)
	}
	args := managerArgs(t, objects)
	for _, want := range []string{
		"--leader-elect", "--leader-election-namespace=" + releaseNamespace,
		"--webhook-bind-address=:8082", "--metrics-bind-address=:8080",
		"--health-probe-bind-address=:8081", "--tombstone-ttl=72h",
		"--allowed-role-refs=ClusterRole/view",
		"--namespaced-policy-kinds=ServiceAccount,ConfigMap,RoleBinding.rbac.authorization.k8s.io",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("manager args %v lack %s", args, want)
		}
	}
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	manager := containers[0].(map[string]any)
	for path, want := range map[string]any{
		"securityContext.runAsNonRoot":             true,
		"securityContext.readOnlyRootFilesystem":   true,
		"securityContext.allowPrivilegeEscalation": false,
		"securityContext.seccompProfile.type":      "RuntimeDefault",
		"livenessProbe.httpGet.path":               "/healthz",
		"readinessProbe.httpGet.path":              "/readyz",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(manager, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("manager container %s = %v, want %v", path, got, want)
		}
	}
	drop, _, _ := unstructured.NestedStringSlice(manager, "securityContext", "capabilities", "drop")
	if !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("manager container drops capabilities %v, want [ALL]", drop)
	}
	for _, resource := range []string{"requests", "limits"} {
		if _, ok, _ := unstructured.NestedMap(manager, "resources", resource); !ok {
			t.Errorf("manager container has no resources.%s", resource)
		}
	}
}

func TestChartValuesSchemaRefusesWrongTypesAndUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // a fragment of helm's complaint
	}{
		{"a string for replicaCount", []string{"--set", "replicaCount=two"}, "/replicaCount"},
		{"an unknown top-level key", []string{"--set", "replicas=3"}, "'replicas' not allowed"},
		{"an unknown key under image", []string{"--set", "image.name=x"}, "'name' not allowed"},
		{"an unknown key under metrics.serviceMonitor", []string{"--set", "metrics.serviceMonitor.interval=30s"}, "'interval' not allowed"},
		{"a string for webhook.port", []string{"--set", "webhook.port=http"}, "/webhook/port"},
		{"a negative webhook.maxBodyBytes", []string{"--set", "webhook.maxBodyBytes=-1"}, "/webhook/maxBodyBytes"},
		{"a zero webhook.maxInflightBodyBytes", []string{"--set", "webhook.maxInflightBodyBytes=0"}, "/webhook/maxInflightBodyBytes"},
		{"a body ceiling above the in-flight budget", []string{"--set", "webhook.maxBodyBytes=67108864"}, "above webhook.maxInflightBodyBytes"},
		{"a string for crds.keep", []string{"--set-string", "crds.keep=yes"}, "/crds/keep"},
		{"a tombstoneTTL that is no duration", []string{"--set", "tombstoneTTL=3 days"}, "/tombstoneTTL"},
		{"a misspelt securityContext field", []string{"--set", "securityContext.runAsNonroot=true"}, "'runAsNonroot' not allowed"},
		{"an extra arg that is not a flag", []string{"--set", "extraArgs[0]=debug"}, "/extraArgs/0"},
		{"an extra RBAC rule granting every verb", []string{"--set", "rbac.extraRules[0].apiGroups[0]=", "--set", "rbac.extraRules[0].resources[0]=configmaps", "--set", "rbac.extraRules[0].verbs[0]=*"}, "/rbac/extraRules/0/verbs/0"},
		{"an extra RBAC rule on every resource", []string{"--set", "rbac.extraRules[0].apiGroups[0]=", "--set", "rbac.extraRules[0].resources[0]=*", "--set", "rbac.extraRules[0].verbs[0]=get"}, "/rbac/extraRules/0/resources/0"},
		{"an Ingress without a host", []string{"--set", "ingress.enabled=true"}, "ingress.host is required"},
		{"a duration for an alert that does not exist", []string{"--set", "metrics.prometheusRule.for.AssociateOperatorTypo=5m"}, "'AssociateOperatorTypo' not allowed"},
		{"an alert duration that is no duration", []string{"--set", "metrics.prometheusRule.for.AssociateOperatorDown=5 minutes"}, "/metrics/prometheusRule/for/AssociateOperatorDown"},
		{"disabling an alert that does not exist", []string{"--set", "metrics.prometheusRule.disabled[0]=AssociateOperatorTypo"}, "/metrics/prometheusRule/disabled/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, tt.args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; the chart must refuse %s", tt.args, tt.name)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("helm template %v failed with %q, want a complaint about %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestChartOptionalPartsFollowTheirValues(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantKinds []string
		noKinds   []string
		check     func(t *testing.T, objects []*unstructured.Unstructured)
	}{
		{
			name:    "crds.install=false leaves the CRDs out",
			args:    []string{"--set", "crds.install=false"},
			noKinds: []string{"CustomResourceDefinition"},
		},
		{
			name:      "crds.keep=false lets uninstall delete the CRDs",
			args:      []string{"--set", "crds.keep=false"},
			wantKinds: []string{"CustomResourceDefinition"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				for _, obj := range objects {
					if _, ok := obj.GetAnnotations()["helm.sh/resource-policy"]; ok {
						t.Errorf("%s/%s keeps helm.sh/resource-policy with crds.keep=false", obj.GetKind(), obj.GetName())
					}
				}
			},
		},
		{
			name:    "leaderElection.enabled=false drops the flags and the Role",
			args:    []string{"--set", "leaderElection.enabled=false"},
			noKinds: []string{"Role", "RoleBinding"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				for _, arg := range managerArgs(t, objects) {
					if strings.HasPrefix(arg, "--leader-elect") {
						t.Errorf("manager args still hold %s with leader election off", arg)
					}
				}
			},
		},
		{
			name:    "a single replica has no PodDisruptionBudget that would block drains",
			args:    []string{"--set", "replicaCount=1"},
			noKinds: []string{"PodDisruptionBudget"},
		},
		{
			name: "the Ingress serves /webhooks over TLS with a cert-manager issuer",
			args: []string{"--set", "ingress.enabled=true", "--set", "ingress.host=so.example.com",
				"--set", "ingress.className=nginx", "--set", "ingress.tls.clusterIssuer=letsencrypt"},
			wantKinds: []string{"Ingress"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				ingress := byKind(objects)["Ingress/"+releaseName+"-webhook"]
				if ingress == nil {
					t.Fatalf("no Ingress %s-webhook rendered", releaseName)
				}
				if got := ingress.GetAnnotations()["cert-manager.io/cluster-issuer"]; got != "letsencrypt" {
					t.Errorf("Ingress cert-manager.io/cluster-issuer = %q, want letsencrypt", got)
				}
				hosts, _, _ := unstructured.NestedSlice(ingress.Object, "spec", "tls")
				if len(hosts) != 1 {
					t.Errorf("Ingress has %d TLS entries, want 1 (SuperOffice calls HTTPS only)", len(hosts))
				}
				rules, _, _ := unstructured.NestedSlice(ingress.Object, "spec", "rules")
				paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
				if path, _, _ := unstructured.NestedString(paths[0].(map[string]any), "path"); path != "/webhooks" {
					t.Errorf("Ingress path = %q, want /webhooks", path)
				}
			},
		},
		{
			name:      "metrics.serviceMonitor.enabled adds a ServiceMonitor",
			args:      []string{"--set", "metrics.serviceMonitor.enabled=true"},
			wantKinds: []string{"ServiceMonitor"},
		},
		{
			name:      "metrics.prometheusRule.enabled adds the alerts of config/prometheus, on the release's metrics Service",
			args:      []string{"--set", "metrics.prometheusRule.enabled=true"},
			wantKinds: []string{"PrometheusRule"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				rendered := renderedAlerts(t, objects)
				source := sourceAlerts(t)
				if !slices.Equal(slices.Sorted(maps.Keys(rendered)), slices.Sorted(maps.Keys(source))) {
					t.Errorf("chart renders alerts %v, config/prometheus/rules.yaml holds %v", slices.Sorted(maps.Keys(rendered)), slices.Sorted(maps.Keys(source)))
				}
				release := `job="` + releaseName + `-metrics", namespace="` + releaseNamespace + `"`
				for name, rule := range rendered {
					want := source[name]
					want["expr"] = strings.ReplaceAll(want["expr"].(string), `job="associate-operator-metrics-service", namespace="associate-operator-system"`, release)
					if fmt.Sprint(rule) != fmt.Sprint(want) {
						t.Errorf("alert %s renders as\n%v\nwant config/prometheus's with the release's job and namespace:\n%v", name, rule, want)
					}
				}
				if expr := fmt.Sprint(rendered["AssociateOperatorDown"]["expr"]); !strings.Contains(expr, release) {
					t.Errorf("AssociateOperatorDown reads %s, want up{%s}", expr, release)
				}
			},
		},
		{
			name: "metrics.prometheusRule's labels, alertLabels, for and disabled",
			args: []string{"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.labels.release=kube-prometheus-stack",
				"--set", "metrics.prometheusRule.alertLabels.team=identity", "--set", "metrics.prometheusRule.alertLabels.severity=page",
				"--set", "metrics.prometheusRule.for.AssociateOperatorReceiverNotReady=30m",
				"--set", "metrics.prometheusRule.disabled[0]=AssociateOperatorWebhookUnauthorized", "--set", "leaderElection.enabled=false"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				if rule := byKind(objects)["PrometheusRule/"+releaseName]; rule == nil || rule.GetLabels()["release"] != "kube-prometheus-stack" {
					t.Errorf("no PrometheusRule %s labelled release: kube-prometheus-stack", releaseName)
				}
				rendered := renderedAlerts(t, objects)
				for _, gone := range []string{"AssociateOperatorWebhookUnauthorized", "AssociateOperatorNoLeader"} {
					if _, ok := rendered[gone]; ok {
						t.Errorf("alert %s rendered; want it left out (disabled, or no leader election)", gone)
					}
				}
				if got := rendered["AssociateOperatorReceiverNotReady"]["for"]; got != "30m" {
					t.Errorf("AssociateOperatorReceiverNotReady for = %v, want 30m", got)
				}
				for name, rule := range rendered {
					labels, _ := rule["labels"].(map[string]any)
					if labels["team"] != "identity" || labels["severity"] != sourceAlerts(t)[name]["labels"].(map[string]any)["severity"] {
						t.Errorf("alert %s has labels %v, want team: identity added and its own severity kept", name, labels)
					}
				}
			},
		},
		{
			name:      "grafanaDashboard.enabled adds the dashboard ConfigMap",
			args:      []string{"--set", "grafanaDashboard.enabled=true"},
			wantKinds: []string{"ConfigMap"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				cm := byKind(objects)["ConfigMap/"+releaseName+"-dashboard"]
				if cm == nil || cm.GetLabels()["grafana_dashboard"] != "1" {
					t.Fatalf("no ConfigMap %s-dashboard labelled grafana_dashboard: \"1\"", releaseName)
				}
				dashboard, _, _ := unstructured.NestedString(cm.Object, "data", "associate-operator.json")
				for _, metric := range []string{"associate_operator_webhook_requests_total",
					"associate_operator_webhook_request_duration_seconds_bucket", "associate_operator_actions_total"} {
					if !strings.Contains(dashboard, metric) {
						t.Errorf("dashboard has no panel on %s", metric)
					}
				}
			},
		},
		{
			name: "manager flags come from the values",
			args: []string{"--set", "webhook.port=9443", "--set", "metrics.port=9090", "--set", "tombstoneTTL=24h",
				"--set", "webhook.maxBodyBytes=2097152", "--set", "webhook.maxInflightBodyBytes=8388608",
				"--set", "extraArgs[0]=--zap-log-level=debug"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				args := managerArgs(t, objects)
				for _, want := range []string{"--webhook-bind-address=:9443", "--metrics-bind-address=:9090",
					"--tombstone-ttl=24h", "--max-body-bytes=2097152", "--max-inflight-body-bytes=8388608", "--zap-log-level=debug"} {
					if !slices.Contains(args, want) {
						t.Errorf("manager args %v lack %s", args, want)
					}
				}
			},
		},
		{
			name: "rbac.extraRules extend the ClusterRole",
			args: []string{"--set", "rbac.extraRules[0].apiGroups[0]=", "--set", "rbac.extraRules[0].resources[0]=configmaps",
				"--set", "rbac.extraRules[0].verbs[0]=create"},
			check: func(t *testing.T, objects []*unstructured.Unstructured) {
				role := byKind(objects)["ClusterRole/"+releaseName]
				rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
				last := rules[len(rules)-1].(map[string]any)
				resources, _, _ := unstructured.NestedStringSlice(last, "resources")
				if !slices.Equal(resources, []string{"configmaps"}) {
					t.Errorf("ClusterRole's last rule covers %v, want the extra rule on [configmaps]", resources)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects, err := helmTemplate(t, tt.args...)
			if err != nil {
				t.Fatalf("helm template %v: %v", tt.args, err)
			}
			got := kinds(objects)
			for _, kind := range tt.wantKinds {
				if !slices.Contains(got, kind) {
					t.Errorf("rendered kinds %v lack %s", got, kind)
				}
			}
			for _, kind := range tt.noKinds {
				if slices.Contains(got, kind) {
					t.Errorf("rendered kinds %v hold %s", got, kind)
				}
			}
			if tt.check != nil {
				tt.check(t, objects)
			}
		})
	}
}

// renderedAlerts are the rendered PrometheusRule's rules by alert name.
func renderedAlerts(t *testing.T, objects []*unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	rule := byKind(objects)["PrometheusRule/"+releaseName]
	if rule == nil {
		t.Fatalf("no PrometheusRule %s rendered; got kinds %v", releaseName, kinds(objects))
	}
	return alertsByName(t, rule.Object)
}

// sourceAlerts are the rules of config/prometheus/rules.yaml by alert name.
func sourceAlerts(t *testing.T) map[string]map[string]any {
	t.Helper()
	objects, err := testenv.Decode(must(os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml"))))
	if err != nil || len(objects) != 1 {
		t.Fatalf("config/prometheus/rules.yaml: %d objects, %v", len(objects), err)
	}
	return alertsByName(t, objects[0].Object)
}

func alertsByName(t *testing.T, prometheusRule map[string]any) map[string]map[string]any {
	t.Helper()
	groups, _, _ := unstructured.NestedSlice(prometheusRule, "spec", "groups")
	alerts := map[string]map[string]any{}
	for _, group := range groups {
		rules, _, _ := unstructured.NestedSlice(group.(map[string]any), "rules")
		for _, rule := range rules {
			r := rule.(map[string]any)
			alerts[fmt.Sprint(r["alert"])] = r
		}
	}
	if len(alerts) == 0 {
		t.Fatal("the PrometheusRule holds no alerts")
	}
	return alerts
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// The chart renders the alerts from files/prometheus-rules.yaml, a copy of
// config/prometheus/rules.yaml (`make manifests` copies it): they must not drift.
func TestChartCopyOfTheAlertsIsCurrent(t *testing.T) {
	source := filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml")
	chartCopy := filepath.Join(chartDir(), "files", "prometheus-rules.yaml")
	if !bytes.Equal(must(os.ReadFile(source)), must(os.ReadFile(chartCopy))) {
		t.Errorf("%s differs from %s: run `make manifests`", chartCopy, source)
	}
}

// controllerGen is bin/controller-gen, or CONTROLLER_GEN.
func controllerGen(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CONTROLLER_GEN")
	if path == "" {
		path = filepath.Join(testenv.RepoRoot(), "bin", "controller-gen")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no controller-gen at %s (set CONTROLLER_GEN or run `make controller-gen`): %v", path, err)
	}
	return path
}

// The committed CRDs and ClusterRole, and the chart's copies of them, are what
// controller-gen makes of the code now: generated afresh into a temporary directory, so
// that the test fails on a stale commit even after `make test` regenerated the files.
func TestCommittedManifestsAndTheChartsCopiesAreCurrent(t *testing.T) {
	root := testenv.RepoRoot()
	fresh := t.TempDir()
	cmd := exec.Command(controllerGen(t), "rbac:roleName=manager-role", "crd",
		"paths=./api/...", "paths=./controllers/...", "paths=./internal/...",
		"output:crd:artifacts:config="+filepath.Join(fresh, "crd"), "output:rbac:artifacts:config="+filepath.Join(fresh, "rbac"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	pairs := map[string][]string{
		filepath.Join(fresh, "rbac", "role.yaml"): {filepath.Join(root, "config", "rbac", "role.yaml"), filepath.Join(chartDir(), "files", "manager-role.yaml")},
	}
	generated, err := filepath.Glob(filepath.Join(fresh, "crd", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("controller-gen wrote no CRDs (%v)", err)
	}
	for _, crd := range generated {
		name := filepath.Base(crd)
		pairs[crd] = []string{filepath.Join(root, "config", "crd", "bases", name), filepath.Join(chartDir(), "files", "crds", name)}
	}
	for _, dir := range []string{filepath.Join(root, "config", "crd", "bases"), filepath.Join(chartDir(), "files", "crds")} {
		if copies, _ := filepath.Glob(filepath.Join(dir, "*.yaml")); len(copies) != len(generated) {
			t.Errorf("%s holds %d CRDs, the code makes %d: run `make manifests` and commit", dir, len(copies), len(generated))
		}
	}
	for source, copies := range pairs {
		want, err := os.ReadFile(source)
		if err != nil {
			t.Fatal(err)
		}
		for _, committed := range copies {
			got, err := os.ReadFile(committed)
			if err != nil {
				t.Errorf("%s is missing: run `make manifests` (%v)", committed, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is not what controller-gen makes of the code now: run `make manifests` and commit", committed)
			}
		}
	}
}

// bindRules are the resourceNames the ClusterRole may bind, by resource (clusterroles, roles).
func bindRules(t *testing.T, objects []*unstructured.Unstructured) map[string][]string {
	t.Helper()
	role := byKind(objects)["ClusterRole/"+releaseName]
	if role == nil {
		t.Fatalf("no ClusterRole %s rendered", releaseName)
	}
	bound := map[string][]string{}
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, rule := range rules {
		r := rule.(map[string]any)
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		if !slices.Contains(verbs, "bind") {
			continue
		}
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		names, _, _ := unstructured.NestedStringSlice(r, "resourceNames")
		if len(names) == 0 {
			t.Errorf("a bind rule without resourceNames lets the operator bind any role: %v", r)
		}
		for _, resource := range resources {
			bound[resource] = append(bound[resource], names...)
		}
	}
	return bound
}

// The operator may bind exactly the roles that namespaced policies may reference, and the
// flags carry the same lists as the values.
func TestChartBindsExactlyTheAllowedRoleRefs(t *testing.T) {
	objects, err := helmTemplate(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := bindRules(t, objects); !slices.Equal(got["clusterroles"], []string{"view"}) || len(got["roles"]) > 0 {
		t.Errorf("by default the operator may bind ClusterRole view only, got %v", got)
	}
	objects, err = helmTemplate(t, "--set-json", `provisioning.allowedRoleRefs=["ClusterRole/view","ClusterRole/crm-reader","Role/team-reader"]`,
		"--set-json", `provisioning.namespacedKinds=["ServiceAccount","RoleBinding.rbac.authorization.k8s.io"]`)
	if err != nil {
		t.Fatal(err)
	}
	got := bindRules(t, objects)
	if !slices.Equal(got["clusterroles"], []string{"view", "crm-reader"}) || !slices.Equal(got["roles"], []string{"team-reader"}) {
		t.Errorf("bind resourceNames = %v, want clusterroles [view crm-reader] and roles [team-reader]", got)
	}
	args := managerArgs(t, objects)
	for _, want := range []string{"--allowed-role-refs=ClusterRole/view,ClusterRole/crm-reader,Role/team-reader",
		"--namespaced-policy-kinds=ServiceAccount,RoleBinding.rbac.authorization.k8s.io"} {
		if !slices.Contains(args, want) {
			t.Errorf("manager args %v lack %s", args, want)
		}
	}
	if _, err := helmTemplate(t, "--set-json", `provisioning.allowedRoleRefs=["view"]`); err == nil {
		t.Error("values.schema.json must refuse an allowedRoleRefs entry that is not ClusterRole/<name> or Role/<name>")
	}
}
