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
	m := startManager(t, kubeconfig)
	m.waitReady(t)
	url := m.url(ns, receiverName)
	waitServed(t, url)

	// Before the kill: associate 1 provisioned, associate 2 created then deleted (a tombstone).
	base := time.Now().Add(-time.Hour)
	provisioned := event{id: "kill-p", kind: "associate.created", associate: 1, at: base}
	if a := post(url, provisioned.body(), ""); a.code != http.StatusOK {
		t.Fatalf("creating associate 1: got %d %v", a.code, a.err)
	}
	eventually(t, 60*time.Second, "ServiceAccount person-1 provisioned before the kill", func() error {
		if !serviceAccountExists(t, ns, "person-1") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
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
			m.kill(t)
		}
		answers[i] = post(url, events[i].body(), "")
	}

	restarted := startManager(t, kubeconfig)
	restarted.waitReady(t)
	url = restarted.url(ns, receiverName)
	waitServed(t, url)
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
	eventually(t, 60*time.Second, "a ServiceAccount for an associate of the stream", func() error {
		if !serviceAccountExists(t, ns, "person-159") {
			return fmt.Errorf("person-159 not yet provisioned")
		}
		return nil
	})
}
