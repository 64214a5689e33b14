package fault

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// TestAPIServerOutageLosesNoAcknowledgedDelivery: the manager reaches the API server
// through a loopback proxy that the test cuts and restores during a bounded stream.
// Deliveries answered 200 are stored; the others were answered 503 with Retry-After and
// succeed when resent.
func TestAPIServerOutageLosesNoAcknowledgedDelivery(t *testing.T) {
	ns := setupReceiver(t)
	host, err := url.Parse(restConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartTCPProxy(t, host.Host)
	_, target := startServing(t, adminKubeconfig(t, proxy.Addr()), ns)

	const n = 30
	base := time.Now().Add(-time.Hour)
	events := make([]event, n)
	answers := make([]answer, n)
	for i := range n {
		events[i] = event{id: fmt.Sprintf("outage-%d", i), kind: "associate.created", associate: int64(200 + i), at: base}
	}
	for i := range n {
		switch i {
		case n / 3:
			proxy.Cut()
		case 2 * n / 3:
			if err := proxy.Restore(); err != nil {
				t.Fatal(err)
			}
		}
		answers[i] = post(target, events[i].body(), "")
	}
	refused := 0
	for i, a := range answers {
		switch {
		case a.code == http.StatusOK:
		case a.code == http.StatusServiceUnavailable && a.retryAfter != "":
			refused++
		default:
			t.Errorf("delivery %d during the outage: want 200, or 503 with Retry-After; got %d (Retry-After %q) %v", i, a.code, a.retryAfter, a.err)
		}
	}
	if refused == 0 {
		t.Errorf("no delivery was refused while the API server was unreachable: the outage did not bite")
	}
	checkAcknowledgedPresentAndResendRest(t, ns, target, events, answers)
}
