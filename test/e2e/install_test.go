package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	// The sample WebhookReceiver default/superoffice and its Secret (config/samples).
	receiverNamespace = "default"
	receiverPath      = "/webhooks/default/superoffice"
	// The documented associate.created payload: Cust1234, associate 141424, person 21.
	createdAssociate = "cust1234-141424"
	createdPerson    = "21"
	// The documented associate.changed (no FieldValues) touches associate 141423 into being;
	// it outlives the round trip that deletes the created one.
	changedAssociate = "cust1234-141423"
	waitTimeout      = 90 * time.Second
)

var crdNames = []string{
	"associates.superoffice.assocsync.io",
	"webhookreceivers.superoffice.assocsync.io",
	"provisioningpolicies.superoffice.assocsync.io",
	"clusterprovisioningpolicies.superoffice.assocsync.io",
}

// The chart installs on a bare control plane, its ServiceAccount's RBAC is enough for the
// manager to mirror and provision the documented deliveries, and uninstalling it keeps
// the CRDs.
func TestHelmInstallRunsTheOperatorAsItsServiceAccount(t *testing.T) {
	requireTools(t)
	if testing.Short() {
		t.Skip("installs the chart and runs the manager: not in -short")
	}
	manager := managerBinary(t)
	c := startCluster(t)

	notes, err := c.helm(t, "install", releaseName, chartDir(), "--namespace", releaseNamespace,
		"--create-namespace", "--wait=false", "--timeout", "2m")
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if !strings.Contains(notes, "/webhooks/<namespace>/<receiver>") {
		t.Errorf("helm install's NOTES do not tell the webhook URL to register in SuperOffice:\n%s", notes)
	}
	checkInstalledObjects(t, c)

	serviceAccount := "system:serviceaccount:" + releaseNamespace + ":" + releaseName
	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"}
	kubeconfig := c.env.UserKubeconfig(t, envtest.User{Name: serviceAccount, Groups: saGroups}, "")
	m := startManager(t, manager, kubeconfig, releaseNamespace)
	m.WaitReady(t, waitTimeout)

	root := testenv.RepoRoot()
	if _, err := c.kubectl(t, "apply",
		"-f", filepath.Join(root, "config", "samples", "superoffice_v1alpha1_webhookreceiver.yaml"),
		"-f", filepath.Join(root, "config", "samples", "superoffice_v1alpha1_provisioningpolicy.yaml")); err != nil {
		t.Fatalf("applying the sample receiver and policy: %v", err)
	}
	secretFile := writeReceiverSecret(t, c)
	sendevent := buildBinary(t, "./cmd/sendevent")
	url := "http://" + m.WebhookAddr + receiverPath

	// The receiver turns Ready once the manager has seen it and its Secret; until then
	// the ingress answers 404 and sendevent fails, so the first delivery is retried.
	// A retried delivery may find its first attempt applied: duplicate is success too.
	for event, results := range map[string][]string{
		"test": {"test"}, "created": {"applied", "duplicate"}, "changed": {"applied", "duplicate"},
	} {
		file := writePayload(t, event)
		testenv.Eventually(t, waitTimeout, "sendevent "+event, func() error {
			out, err := run(t, sendevent, nil, "--url", url, "--secret-file", secretFile, "--event", file)
			if err != nil {
				return err
			}
			if result := replyResult(out); !slices.Contains(results, result) {
				return fmt.Errorf("delivery of %s answered result %q, want one of %v:\n%s", event, result, results, out)
			}
			return nil
		})
	}
	checkRefusals(t, url, secretFile)

	testenv.Eventually(t, waitTimeout, "kubectl get associates lists "+createdAssociate, func() error {
		return checkAssociateColumns(t, c)
	})
	testenv.Eventually(t, waitTimeout, "ServiceAccount person-"+createdPerson+" provisioned", func() error {
		return c.client.Get(t.Context(), client.ObjectKey{Namespace: receiverNamespace, Name: "person-" + createdPerson}, &corev1.ServiceAccount{})
	})
	testenv.Eventually(t, waitTimeout, "RoleBinding person-"+createdPerson+"-view provisioned", func() error {
		return c.client.Get(t.Context(), client.ObjectKey{Namespace: receiverNamespace, Name: "person-" + createdPerson + "-view"}, &rbacv1.RoleBinding{})
	})
	testenv.Eventually(t, waitTimeout, "webhook metrics count the applied deliveries", func() error {
		_, body, err := testenv.HTTPGet(t.Context(), "http://"+m.MetricsAddr+"/metrics")
		if err != nil {
			return err
		}
		families, err := testenv.ParseMetrics(body)
		if err != nil {
			return err
		}
		applied := map[string]string{"receiver": "default/superoffice", "result": "applied"}
		if testenv.SumMetric(families, "associate_operator_webhook_requests_total", applied) < 1 {
			return fmt.Errorf("associate_operator_webhook_requests_total{receiver=\"default/superoffice\",result=\"applied\"} is not counted in /metrics")
		}
		return nil
	})

	// The README's round trip: the documented deletion, pointed at the associate just created.
	out, err := run(t, sendevent, nil, "--url", url, "--secret-file", secretFile, "--event", "deleted",
		"--tenant", "Cust1234", "--primary-key", "141424", "--timestamp", "now")
	if result := replyResult(out); err != nil || result != "applied" {
		t.Errorf("sendevent --event deleted --tenant Cust1234 --primary-key 141424 --timestamp now answered %q (%v), want applied:\n%s", result, err, out)
	}
	testenv.Eventually(t, waitTimeout, "Associate "+createdAssociate+" deleted and ServiceAccount person-"+createdPerson+" deprovisioned", func() error {
		for name, obj := range map[string]client.Object{
			createdAssociate: &superofficev1alpha1.Associate{}, "person-" + createdPerson: &corev1.ServiceAccount{},
		} {
			err := c.client.Get(t.Context(), client.ObjectKey{Namespace: receiverNamespace, Name: name}, obj)
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s is still there (%v)", obj, name, err)
			}
		}
		return nil
	})

	t.Run("the ServiceAccount may do no more than the operator needs", func(t *testing.T) {
		checkRBACBounds(t, c, serviceAccount, saGroups)
	})

	m.Stop(t)
	// The API server's RBAC refusals read `... is forbidden: User "system:serviceaccount:..."`.
	for _, line := range strings.Split(m.Log(), "\n") {
		if strings.Contains(line, "is forbidden: User") {
			t.Errorf("the manager was refused by RBAC running as %s; the chart's rules are not enough:\n%s", serviceAccount, line)
		}
	}

	if _, err := c.helm(t, "uninstall", releaseName, "--namespace", releaseNamespace, "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	checkUninstalled(t, c)
}

// checkInstalledObjects looks at what helm created, as the API server holds it.
func checkInstalledObjects(t *testing.T, c *cluster) {
	t.Helper()
	ctx := t.Context()
	for _, name := range crdNames {
		crd := crdObject()
		if err := c.client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			t.Errorf("CRD %s not installed by the chart: %v", name, err)
			continue
		}
		if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", name)
		}
	}
	namespaced := []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
		&corev1.Service{}, &corev1.Service{}, deploymentObject(), pdbObject()}
	names := []string{releaseName, releaseName + "-leader-election", releaseName + "-leader-election",
		releaseName + "-webhook", releaseName + "-metrics", releaseName, releaseName}
	for i, obj := range namespaced {
		if err := c.client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: names[i]}, obj); err != nil {
			t.Errorf("%T %s/%s not installed: %v", obj, releaseNamespace, names[i], err)
		}
	}
	role := &rbacv1.ClusterRole{}
	if err := c.client.Get(ctx, client.ObjectKey{Name: releaseName}, role); err != nil {
		t.Fatalf("ClusterRole %s not installed: %v", releaseName, err)
	}
	for _, rule := range role.Rules {
		if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
			t.Errorf("ClusterRole %s holds a wildcard rule %v", releaseName, rule)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{}
	if err := c.client.Get(ctx, client.ObjectKey{Name: releaseName}, binding); err != nil {
		t.Fatalf("ClusterRoleBinding %s not installed: %v", releaseName, err)
	}
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: releaseName, Namespace: releaseNamespace}
	if !slices.Contains(binding.Subjects, want) {
		t.Errorf("ClusterRoleBinding %s binds %v, want the release's ServiceAccount %v", releaseName, binding.Subjects, want)
	}
	deployment := deploymentObject()
	_ = c.client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: releaseName}, deployment)
	if sa, _, _ := unstructured.NestedString(deployment.Object, "spec", "template", "spec", "serviceAccountName"); sa != releaseName {
		t.Errorf("Deployment runs as ServiceAccount %q, want %q", sa, releaseName)
	}
}

// replyResult is the `result` of the JSON reply that sendevent prints after the status line.
func replyResult(out string) string {
	_, body, _ := strings.Cut(out, "\n")
	var reply struct {
		Result string `json:"result"`
	}
	_ = json.Unmarshal([]byte(body), &reply)
	return reply.Result
}

// writeReceiverSecret writes the sample receiver's signing secret where sendevent reads it.
func writeReceiverSecret(t *testing.T, c *cluster) string {
	t.Helper()
	secret := &corev1.Secret{}
	if err := c.client.Get(t.Context(), client.ObjectKey{Namespace: receiverNamespace, Name: "superoffice-webhook"}, secret); err != nil {
		t.Fatalf("the sample's Secret: %v", err)
	}
	value := secret.Data["secret"]
	if len(value) == 0 {
		t.Fatalf("Secret %s/superoffice-webhook has no key secret", receiverNamespace)
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, value, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePayload writes one of SuperOffice's documented payloads to a file.
func writePayload(t *testing.T, name string) string {
	t.Helper()
	body, err := samples.Payload(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkRefusals: an unsigned delivery is 401, another tenant's is 403, as the ingress
// answers when running under the chart's identity.
func checkRefusals(t *testing.T, url, secretFile string) {
	t.Helper()
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	created := samples.MustPayload("created")
	if code := post(t, url, created, ""); code != http.StatusUnauthorized {
		t.Errorf("an unsigned delivery answered %d, want 401", code)
	}
	// The documented deletion belongs to tenant Default; the sample receiver takes Cust1234 only.
	deleted := samples.MustPayload("deleted")
	if code := post(t, url, deleted, signature.Sign(secret, deleted)); code != http.StatusForbidden {
		t.Errorf("a delivery for tenant Default answered %d, want 403 (receiver's tenant is Cust1234)", code)
	}
}

func post(t *testing.T, url string, body []byte, sig string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		req.Header.Set("X-SuperOffice-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkAssociateColumns reads `kubectl get associates` as a user would.
func checkAssociateColumns(t *testing.T, c *cluster) error {
	out, err := c.kubectl(t, "get", "associates", "--namespace", receiverNamespace)
	if err != nil {
		return err
	}
	table := parseTable(out)
	for _, row := range table {
		if row["NAME"] != createdAssociate {
			continue
		}
		want := map[string]string{"TENANT": "Cust1234", "ASSOCIATE": "141424", "PERSON": createdPerson, "TYPE": "Employee"}
		for column, value := range want {
			if row[column] != value {
				return fmt.Errorf("column %s of %s = %q, want %q:\n%s", column, createdAssociate, row[column], value, out)
			}
		}
		return nil
	}
	return fmt.Errorf("no row %s:\n%s", createdAssociate, out)
}

// parseTable splits kubectl's table output by the header's column positions, so that
// empty cells stay empty.
func parseTable(out string) []map[string]string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 {
		return nil
	}
	header := lines[0]
	var starts []int
	var names []string
	for i := 0; i < len(header); i++ {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
			end := strings.IndexByte(header[i:], ' ')
			if end < 0 {
				end = len(header) - i
			}
			names = append(names, header[i:i+end])
		}
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, start := range starts {
			end := len(line)
			if i+1 < len(starts) && starts[i+1] < end {
				end = starts[i+1]
			}
			if start < len(line) {
				row[names[i]] = strings.TrimSpace(line[start:end])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// checkRBACBounds asks the API server what the chart's ServiceAccount may do.
func checkRBACBounds(t *testing.T, c *cluster, user string, groups []string) {
	canI := func(args ...string) bool {
		full := append([]string{"auth", "can-i"}, args...)
		full = append(full, "--as", user)
		for _, group := range groups {
			full = append(full, "--as-group", group)
		}
		out, _ := c.kubectl(t, full...) // exit 1 means "no"
		return strings.TrimSpace(out) == "yes"
	}
	mustAllow := [][]string{
		{"create", "leases.coordination.k8s.io", "-n", releaseNamespace},
		{"watch", "associates.superoffice.assocsync.io", "-n", receiverNamespace},
		{"create", "serviceaccounts", "-n", receiverNamespace},
		{"create", "rolebindings.rbac.authorization.k8s.io", "-n", receiverNamespace},
		{"bind", "clusterroles.rbac.authorization.k8s.io/view"},
	}
	for _, args := range mustAllow {
		if !canI(args...) {
			t.Errorf("%s cannot %v, which the operator and the sample policy need", user, args)
		}
	}
	mustDeny := [][]string{
		{"*", "*"},
		{"create", "clusterroles.rbac.authorization.k8s.io"},
		{"escalate", "clusterroles.rbac.authorization.k8s.io"},
		{"create", "clusterrolebindings.rbac.authorization.k8s.io"},
		{"bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin"},
		{"bind", "clusterroles.rbac.authorization.k8s.io/edit"},
		{"impersonate", "users"},
		{"delete", "namespaces"},
		{"create", "pods", "-n", receiverNamespace},
		{"create", "pods/exec", "-n", receiverNamespace},
		{"create", "deployments.apps", "-n", receiverNamespace},
		{"create", "secrets", "-n", receiverNamespace},
		{"delete", "secrets", "-n", "kube-system"},
		{"create", "leases.coordination.k8s.io", "-n", receiverNamespace},
		{"delete", "customresourcedefinitions.apiextensions.k8s.io"},
	}
	for _, args := range mustDeny {
		if canI(args...) {
			t.Errorf("%s can %v: the chart's RBAC is wider than the operator needs", user, args)
		}
	}
}

// checkUninstalled: the release's objects are gone, the CRDs (and so the Associates) stay.
func checkUninstalled(t *testing.T, c *cluster) {
	t.Helper()
	ctx := t.Context()
	for _, name := range crdNames {
		if err := c.client.Get(ctx, client.ObjectKey{Name: name}, crdObject()); err != nil {
			t.Errorf("CRD %s is gone after helm uninstall; crds.keep defaults to true: %v", name, err)
		}
	}
	err := c.client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: releaseName}, deploymentObject())
	if !apierrors.IsNotFound(err) {
		t.Errorf("Deployment %s/%s after helm uninstall: %v, want NotFound", releaseNamespace, releaseName, err)
	}
	err = c.client.Get(ctx, client.ObjectKey{Name: releaseName}, &rbacv1.ClusterRole{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole %s after helm uninstall: %v, want NotFound", releaseName, err)
	}
	if out, err := c.kubectl(t, "get", "associates", "--namespace", receiverNamespace, "-o", "name"); err != nil ||
		!strings.Contains(out, changedAssociate) {
		t.Errorf("Associate %s should survive helm uninstall with the CRDs: %v %s", changedAssociate, err, out)
	}
}

func crdObject() *unstructured.Unstructured {
	return unstructuredOf(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
}

func deploymentObject() *unstructured.Unstructured {
	return unstructuredOf(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
}

func pdbObject() *unstructured.Unstructured {
	return unstructuredOf(schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"})
}

func unstructuredOf(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	return obj
}
