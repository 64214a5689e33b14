package ingress

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
)

// BenchmarkVerifyAndDecode is the handler's work on a delivery between reading the body
// and calling the mirror: verify the signature, decode the documented associate.created
// payload, check the tenant and build the Observation with the Associate's name.
// make bench (hack/bench.sh) runs it by this name.
func BenchmarkVerifyAndDecode(b *testing.B) {
	body := samples.MustPayload("created")
	secrets := [][]byte{[]byte(testSecret)}
	sig := signature.Sign(secrets[0], body)
	rcv := &readyReceiver{
		receiver: &superofficev1alpha1.WebhookReceiver{
			ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so"},
			Spec:       superofficev1alpha1.WebhookReceiverSpec{Tenant: "Cust1234"},
		},
		secrets: secrets,
	}
	key := types.NamespacedName{Namespace: "acc", Name: "so"}

	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !signature.Verify(body, sig, rcv.secrets) {
			b.Fatal("the documented payload signed with the receiver's key did not verify")
		}
		ev, err := decodeEvent(body)
		if err != nil {
			b.Fatalf("decoding the documented associate.created payload: %v", err)
		}
		if want := rcv.receiver.Spec.Tenant; want != "" && ev.ContextIdentifier != "" && !strings.EqualFold(want, ev.ContextIdentifier) {
			b.Fatalf("ContextIdentifier %q, want the receiver's tenant %q", ev.ContextIdentifier, want)
		}
		if ev.isTest() || !ev.applicable() {
			b.Fatalf("event %q was not taken as an applicable associate event", ev.Event)
		}
		obs := rcv.observation(key, ev)
		if _, err := superofficev1alpha1.AssociateName(obs.Tenant, obs.AssociateID); err != nil {
			b.Fatalf("naming the Associate: %v", err)
		}
	}
}
