package fault

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestManagerKilledMidStreamLosesNoAcknowledgedDelivery: SIGKILL in the middle of a stream;
// after a restart every delivery answered 200 is stored, the others succeed when resent,
// and the tombstone and the provisioned ServiceAccount written before the kill survive.
func TestManagerKilledMidStreamLosesNoAcknowledgedDelivery(t *testing.T) {
	ns := setupReceiver(t)
	setupPolicy(t, ns)
	kubeconfig := adminKubeconfig(t, "")
	m, url := startServing(t, kubeconfig, ns)

	// Before the kill: associate 1 provisioned, associate 2 created then deleted (a tombstone).
	base := time.Now().Add(-time.Hour)
	provisioned := event{id: "kill-p", kind: "associate.created", associate: 1, at: base}
	if a := post(url, provisioned.body(), ""); a.code != http.StatusOK {
		t.Fatalf("creating associate 1: got %d %v", a.code, a.err)
	}
	waitServiceAccount(t, "ServiceAccount person-1 provisioned before the kill", ns, "person-1")
	for _, e := range []event{
		{id: "kill-c2", kind: "associate.created", associate: 2, at: base},
		{id: "kill-d2", kind: "associate.deleted", associate: 2, at: base.Add(2 * time.Minute)},
	} {
		if a := post(url, e.body(), ""); a.code != http.StatusOK {
			t.Fatalf("%s: got %d %v", e.id, a.code, a.err)
		}
	}

	// A bounded stream, killed after a third of it was sent.
	const n = 60
	events := make([]event, n)
	answers := make([]answer, n)
	for i := range n {
		events[i] = event{id: fmt.Sprintf("kill-%d", i), kind: "associate.created", associate: int64(100 + i), at: base.Add(time.Duration(i) * time.Second)}
	}
	for i := range n {
		if i == n/3 {
			m.Kill(t)
		}
		answers[i] = post(url, events[i].body(), "")
	}

	_, url = startServing(t, kubeconfig, ns)
	checkAcknowledgedPresentAndResendRest(t, ns, url, events, answers)

	late := event{id: "kill-late", kind: "associate.created", associate: 2, at: base.Add(time.Minute)}
	if a := post(url, late.body(), ""); a.code != http.StatusOK || a.result != "stale" {
		t.Errorf("a create older than the delete sent before the kill: want 200 stale (the tombstone survived), got %d %q %v", a.code, a.result, a.err)
	}
	if associateExists(t, ns, late.name()) {
		t.Errorf("Associate %s came back after its deletion", late.name())
	}
	if !serviceAccountExists(t, ns, "person-1") {
		t.Errorf("ServiceAccount person-1 provisioned before the kill is gone after the restart")
	}
	waitServiceAccount(t, "a ServiceAccount for an associate of the stream", ns, "person-159")
}
