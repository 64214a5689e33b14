package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	receiverName = "so"
	tenant       = "Cust1234"
	secretValue  = "fault-s3cret"
)

// setupReceiver creates a namespace with a receiver "so" for tenant Cust1234 and its Secret.
func setupReceiver(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fault-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "so-secret"},
		StringData: map[string]string{"secret": secretValue}}
	receiver := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: receiverName},
		Spec: superofficev1alpha1.WebhookReceiverSpec{
			SecretRef: superofficev1alpha1.SecretKeysReference{Name: secret.Name, Keys: []string{"secret"}},
			Tenant:    tenant,
		},
	}
	for _, obj := range []client.Object{secret, receiver} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	return ns.Name
}

// setupPolicy gives every Employee of ns a ServiceAccount person-<personId>.
func setupPolicy(t *testing.T, ns string) {
	t.Helper()
	policy := &superofficev1alpha1.ProvisioningPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "person-accounts"},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{
			Types: []superofficev1alpha1.AssociateType{"Employee"},
			Resources: []superofficev1alpha1.ResourceTemplate{{Template: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: person-{{ .PersonID }}
  namespace: {{ .Namespace }}
`}},
		}},
	}
	if err := k8s.Create(context.Background(), policy); err != nil {
		t.Fatal(err)
	}
}

// event is an associate event of tenant Cust1234 for associate id with person id.
type event struct {
	id        string
	kind      string // associate.created, associate.changed or associate.deleted
	associate int64
	at        time.Time
}

func (e event) body() []byte {
	payload := map[string]any{
		"EventId": e.id, "Timestamp": e.at.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"Event": e.kind, "Entity": "associate", "PrimaryKey": e.associate,
		"ContextIdentifier": tenant, "ChangedByAssociateId": 316,
	}
	if e.kind != "associate.deleted" {
		payload["FieldValues"] = map[string]any{"deleted": 0, "type": 0, "person_id": e.associate, "group_idx": 1}
	}
	body, _ := json.Marshal(payload)
	return body
}

func (e event) name() string {
	name, _ := superofficev1alpha1.AssociateName(tenant, e.associate)
	return name
}

// answer is what a delivery got: an HTTP code and result, or a transport error.
type answer struct {
	code       int
	result     string
	retryAfter string
	err        error
}

// post sends body signed with sig (Sign's when sig is empty).
func post(url string, body []byte, sig string) answer {
	if sig == "" {
		sig = signature.Sign([]byte(secretValue), body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-SuperOffice-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	var reply struct{ Result string }
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	return answer{code: resp.StatusCode, result: reply.Result, retryAfter: resp.Header.Get("Retry-After")}
}

// waitServed waits until the manager's cache has the receiver: the test event gets 200.
func waitServed(t *testing.T, url string) {
	t.Helper()
	body := []byte(`{"EventId":"00000000-0000-0000-0000-000000000000","Timestamp":"2026-11-26T12:00:00Z","Event":"test","Entity":"test","PrimaryKey":0}`)
	testenv.Eventually(t, 60*time.Second, "the receiver to accept the test event at "+url, func() error {
		if a := post(url, body, ""); a.err != nil || a.code != http.StatusOK {
			return fmt.Errorf("got %d %v", a.code, a.err)
		}
		return nil
	})
}

// associateExists reads an Associate live from the API server.
func associateExists(t *testing.T, ns, name string) bool {
	t.Helper()
	return existsLive(t, ns, name, &superofficev1alpha1.Associate{})
}

// serviceAccountExists reads a ServiceAccount live from the API server.
func serviceAccountExists(t *testing.T, ns, name string) bool {
	t.Helper()
	return existsLive(t, ns, name, &corev1.ServiceAccount{})
}

// waitServiceAccount waits until ServiceAccount ns/name is provisioned; what names the
// wait in the failure.
func waitServiceAccount(t *testing.T, what, ns, name string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, what, func() error {
		if !serviceAccountExists(t, ns, name) {
			return fmt.Errorf("ServiceAccount %s/%s not provisioned yet", ns, name)
		}
		return nil
	})
}

// existsLive reads obj ns/name from the API server, not a cache: false when NotFound.
func existsLive(t *testing.T, ns, name string, obj client.Object) bool {
	t.Helper()
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	return err == nil
}

// checkAcknowledgedPresentAndResendRest: every event answered 200 is stored; the others
// (refused or cut off) are sent again until they are answered 200 and are then stored.
func checkAcknowledgedPresentAndResendRest(t *testing.T, ns, url string, events []event, answers []answer) {
	t.Helper()
	for i, e := range events {
		if answers[i].code == http.StatusOK {
			if !associateExists(t, ns, e.name()) {
				t.Errorf("delivery %s was answered 200 but Associate %s is not in the API server", e.id, e.name())
			}
			continue
		}
		testenv.Eventually(t, 60*time.Second, "resending "+e.id, func() error {
			if a := post(url, e.body(), ""); a.err != nil || a.code != http.StatusOK {
				return fmt.Errorf("got %d %v", a.code, a.err)
			}
			return nil
		})
		if !associateExists(t, ns, e.name()) {
			t.Errorf("delivery %s was answered 200 when resent but Associate %s is not in the API server", e.id, e.name())
		}
	}
}
