package superoffice_test

import (
	"testing"

	"github.com/assocsync/associate-operator/internal/superoffice"
)

func ids(rows []superoffice.AssociateRow) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.AssociateID)
	}
	return out
}

// The hazard the resync guards against (controllers.confirmVanished): SuperOffice's
// listing pages with $skip, so a row deleted before the next page shifts a live one out.
func TestALowerIDDeletedBetweenTwoPagesHidesALiveAssociateFromTheListing(t *testing.T) {
	e := newEnv(t, nil) // pages of 3
	e.so.Seed(1, 8)
	e.so.BeforeListingPage(func(skip int) {
		if skip == 3 {
			e.so.RemoveAssociate(1)
		}
	})
	rows := mustList(t, e.client)
	got := ids(rows)
	want := []int64{1, 2, 3, 5, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("want the listing %v (4 shifted out by the deletion of 1), got %v", want, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("want the listing %v (4 shifted out by the deletion of 1), got %v", want, got)
		}
	}
	if _, err := e.client.GetAssociate(ctx(t), 4); err != nil {
		t.Fatalf("associate 4 is live: want GetAssociate to find it, got %v", err)
	}
}

func TestHiddenAssociatesAreNotListedButStillFound(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 5)
	e.so.HideFromListing(2, 4)
	if got := ids(mustList(t, e.client)); len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 5 {
		t.Fatalf("want [1 3 5] listed, got %v", got)
	}
	if _, err := e.client.GetAssociate(ctx(t), 4); err != nil {
		t.Fatalf("want the hidden associate 4 found by GetAssociate, got %v", err)
	}
	e.so.HideFromListing()
	if got := mustList(t, e.client); len(got) != 5 {
		t.Fatalf("want all 5 listed again, got %d", len(got))
	}
}
