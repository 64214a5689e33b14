package controllers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

// The subtests of TestWebhookReceiverSync that prove a resync never deletes a live user:
// every Associate a listing no longer holds is confirmed gone with GetAssociate first.

// expectPresent fails for every id whose Associate is gone.
func (s *syncSuite) expectPresent(t *testing.T, ns string, tn *tenant, why string, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		if _, ok := s.associate(t, ns, tn.Tenant(), id); !ok {
			t.Errorf("associate %d still exists in SuperOffice, its Associate must not be deleted (%s)", id, why)
		}
	}
}

func (s *syncSuite) expectAbsent(t *testing.T, ns string, tn *tenant, why string, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		if _, ok := s.associate(t, ns, tn.Tenant(), id); ok {
			t.Errorf("associate %d is gone from SuperOffice, its Associate should have been deleted (%s)", id, why)
		}
	}
}

func (s *syncSuite) deletionBetweenPagesDeletesNobodyAlive(t *testing.T) {
	ns := s.namespace(t, "resync-shifted-page")
	tn := s.tenant(t)
	tn.Seed(1, 9)
	key := s.receiver(t, ns, tn, nil) // maxDeletePercent 100: only the confirmation protects
	s.waitResyncs(t, key, 1)

	tn.RemoveAssociate(9) // really gone
	// Associate 1 is deleted after the first page (1, 2, 3) was read: the next page,
	// $skip=3 of 2..8, starts at 5, and the live associate 4 is never listed.
	tn.BeforeListingPage(func(skip int) {
		if skip == syncTestPageSize {
			tn.RemoveAssociate(1)
		}
	})
	status := s.requestResync(t, key)
	tn.BeforeListingPage(nil)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
		Listed: 7, Deleted: 1, Unchanged: 8})
	s.expectPresent(t, ns, tn, "shifted out of a page by a deletion between two pages", 4)
	s.expectAbsent(t, ns, tn, "GetAssociate answered that it does not exist", 9)
	if c := syncedMessage(status); !strings.Contains(c, "1 not listed but still in SuperOffice") {
		t.Errorf("Synced message: want it to say that 1 unlisted associate was kept, got %q", c)
	}

	// The next listing is whole again: 1, deleted meanwhile, goes; 4 stays.
	status = s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
		Listed: 7, Deleted: 1, Unchanged: 7})
	s.expectPresent(t, ns, tn, "listed again", 2, 3, 4, 5, 6, 7, 8)
	s.expectAbsent(t, ns, tn, "deleted between two pages of the previous listing", 1)
}

func (s *syncSuite) repeatedShortListingsDeleteNobodyAlive(t *testing.T) {
	ns := s.namespace(t, "resync-short-listings")
	tn := s.tenant(t)
	tn.Seed(1, 10)
	key := s.receiver(t, ns, tn, func(r *superofficev1alpha1.WebhookReceiver) { r.Spec.API.MaxDeletePercent = nil }) // the default 10
	s.waitResyncs(t, key, 1)

	// Every listing leaves out one live associate, within maxDeletePercent: pass after
	// pass, nobody is deleted.
	for pass, hidden := range []int64{4, 9, 4} {
		tn.HideFromListing(hidden)
		status := s.requestResync(t, key)
		expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
			Listed: 9, Unchanged: 10})
		s.expectPresent(t, ns, tn, fmt.Sprintf("associate %d left out of short listing number %d", hidden, pass+1), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	}

	// The per-pass guard still counts what the listing lacks: two of ten is above 10 %.
	tn.HideFromListing(4)
	tn.RemoveAssociate(7)
	status := s.requestResync(t, key)
	if status.LastResync.Result != superofficev1alpha1.ResyncMassDeletionRefused {
		t.Fatalf("2 of 10 not listed with maxDeletePercent 10: want MassDeletionRefused, got %+v", *status.LastResync)
	}
	s.expectPresent(t, ns, tn, "a refused pass deletes nothing", 4, 7)

	// Whole again: only the one that is really gone is deleted.
	tn.HideFromListing()
	status = s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
		Listed: 9, Deleted: 1, Unchanged: 9})
	s.expectAbsent(t, ns, tn, "GetAssociate answered that it does not exist", 7)
}

func (s *syncSuite) unconfirmedVanishedAreKept(t *testing.T) {
	ns := s.namespace(t, "resync-unconfirmed")
	tn := s.tenant(t)
	tn.Seed(1, 6)
	key := s.receiver(t, ns, tn, nil)
	s.waitResyncs(t, key, 1)
	tn.RemoveAssociate(2)
	tn.RemoveAssociate(5)

	// GetAssociate fails for the first of the two: that one is kept and the pass fails,
	// the other, confirmed gone, is deleted.
	tn.Fail(fake.RouteGetAssociate, fake.Fault{Status: http.StatusInternalServerError})
	status := s.requestResync(t, key)
	if status.LastResync.Result != superofficev1alpha1.ResyncFailed || syncedReason(status) != "False/"+superofficev1alpha1.ReasonResyncFailed {
		t.Fatalf("GetAssociate failing for a vanished associate: want lastResync Failed and Synced False/%s, got %+v and %s",
			superofficev1alpha1.ReasonResyncFailed, *status.LastResync, syncedReason(status))
	}
	if msg := syncedMessage(status); !strings.Contains(msg, "HTTP 500") {
		t.Errorf("Synced message: want GetAssociate's HTTP 500 quoted, got %q", msg)
	}
	if status.LastResync.Deleted != 1 {
		t.Errorf("want the one confirmed deletion made, got lastResync %+v", *status.LastResync)
	}
	_, kept2 := s.associate(t, ns, tn.Tenant(), 2)
	_, kept5 := s.associate(t, ns, tn.Tenant(), 5)
	if kept2 == kept5 {
		t.Fatalf("want exactly one of associates 2 and 5 kept (the one GetAssociate failed for), got 2 kept %v, 5 kept %v", kept2, kept5)
	}

	status = s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
		Listed: 4, Deleted: 1, Unchanged: 4})
	s.expectAbsent(t, ns, tn, "confirmed gone at the next resync", 2, 5)
}

func syncedMessage(status superofficev1alpha1.WebhookReceiverStatus) string {
	if c := meta.FindStatusCondition(status.Conditions, superofficev1alpha1.ConditionSynced); c != nil {
		return c.Message
	}
	return ""
}
