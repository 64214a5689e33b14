package ingress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/testenv"
)

type fakeEnricher struct {
	fields *mirror.Fields
	err    error
	calls  int
}

func (f *fakeEnricher) Enrich(context.Context, *superofficev1alpha1.WebhookReceiver, int64) (*mirror.Fields, error) {
	f.calls++
	return f.fields, f.err
}

const changedWithoutFieldValues = `{"EventId":"e-1","Timestamp":"2024-05-01T10:00:00.0000000Z","Changes":["group_idx"],
"Event":"associate.changed","PrimaryKey":7,"Entity":"associate","ContextIdentifier":"Cust1234","ChangedByAssociateId":5}`

func TestAChangedEventWithoutFieldValuesIsEnrichedOnlyWithSpecAPIAndNeverRefusedForIt(t *testing.T) {
	person := int64(70)
	for _, tc := range []struct {
		name       string
		api        bool
		enricher   *fakeEnricher
		wantCalls  int
		wantFields bool
	}{
		{"with spec.api the record is fetched", true, &fakeEnricher{fields: &mirror.Fields{PersonID: &person}}, 1, true},
		{"a SuperOffice error applies the touch", true, &fakeEnricher{err: errors.New("HTTP 503")}, 1, false},
		{"without spec.api nothing is fetched", false, &fakeEnricher{fields: &mirror.Fields{PersonID: &person}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receiver := &superofficev1alpha1.WebhookReceiver{
				ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so"},
				Spec: superofficev1alpha1.WebhookReceiverSpec{
					SecretRef: superofficev1alpha1.SecretKeysReference{Name: "so-secret"}, Tenant: "Cust1234",
				},
			}
			if tc.api {
				receiver.Spec.API = &superofficev1alpha1.SuperOfficeAPI{CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: "creds"}}
			}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so-secret"}, Data: map[string][]byte{"secret": []byte(testSecret)}}
			reader := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(receiver, secret).Build()
			app := &fakeApplier{result: mirror.Applied}
			h := newMux(&handler{reader: reader, mirror: app, log: logr.Discard(), enricher: tc.enricher})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, signedRequest("/webhooks/acc/so", []byte(changedWithoutFieldValues), testSecret))
			if rec.Code != http.StatusOK || len(app.got) != 1 {
				t.Fatalf("want 200 and one apply, got %d and %d applies: %s", rec.Code, len(app.got), rec.Body)
			}
			if tc.enricher.calls != tc.wantCalls {
				t.Errorf("want %d record fetches, got %d", tc.wantCalls, tc.enricher.calls)
			}
			if got := app.got[0].Fields != nil; got != tc.wantFields {
				t.Errorf("want fields applied: %v, got %+v", tc.wantFields, app.got[0].Fields)
			}
		})
	}
}
