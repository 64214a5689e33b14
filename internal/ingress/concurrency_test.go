package ingress_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// deliverAll sends every body with workers goroutines, each to a URL that pick chooses,
// retrying 503 (as SuperOffice does) up to retries times. It returns the last code of each.
func deliverAll(t *testing.T, bodies [][]byte, workers, retries int, pick func(i int) string) []int {
	t.Helper()
	codes := make([]int, len(bodies))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				for attempt := 0; attempt <= retries; attempt++ {
					code, _, err := tryDeliver(pick(i), bodies[i], secret)
					if err != nil {
						code = 0
					}
					codes[i] = code
					if code != http.StatusServiceUnavailable && code != 0 {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	return codes
}

func TestTwoReplicasReceivingTheSameShuffledDuplicatedStreamEndInTimestampOrder(t *testing.T) {
	replicas := []*replica{startReplica(t, restConfig, time.Hour), startReplica(t, restConfig, time.Hour)}
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	for _, r := range replicas {
		waitReceiverServed(t, r.url+path(ns, "so"), secret)
	}

	// Per associate, three events a second apart; the pattern decides how it ends:
	// deleted at the end, changed twice, or deleted and then changed again.
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	patterns := [][]string{
		{mirror.EventCreated, mirror.EventChanged, mirror.EventDeleted},
		{mirror.EventCreated, mirror.EventChanged, mirror.EventChanged},
		{mirror.EventCreated, mirror.EventDeleted, mirror.EventChanged},
	}
	const associates = 50
	type expectation struct {
		present bool
		last    event
	}
	want := map[int64]expectation{}
	var stream []event
	for a := int64(1); a <= associates; a++ {
		pattern := patterns[a%3]
		for step, kind := range pattern {
			e := event{ID: newEventID(fmt.Sprintf("a%d", a), step), Event: kind, Associate: a, Tenant: "Cust1234",
				At: t0.Add(time.Duration(step) * time.Second)}
			if kind != mirror.EventDeleted {
				e.Fields = map[string]any{"person_id": a*100 + int64(step), "group_idx": step, "type": 0}
			}
			stream = append(stream, e, e) // every delivery twice
		}
		last := stream[len(stream)-1]
		want[a] = expectation{present: last.Event != mirror.EventDeleted, last: last}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	bodies := make([][]byte, len(stream))
	for i, e := range stream {
		bodies[i] = e.body()
	}
	codes := deliverAll(t, bodies, 8, 3, func(i int) string { return replicas[i%2].url + path(ns, "so") })
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("delivery %d (%s of associate %d): want 200, got %d", i, stream[i].Event, stream[i].Associate, code)
		}
	}

	for a, exp := range want {
		got := getAssociate(t, ns, fmt.Sprintf("cust1234-%d", a))
		switch {
		case !exp.present && got != nil:
			t.Errorf("associate %d: its last event is a deletion, but it exists (last event %s)", a,
				got.Annotations[superofficev1alpha1.AnnotationLastEventID])
		case exp.present && got == nil:
			t.Errorf("associate %d: its last event is %s, but it does not exist", a, exp.last.ID)
		case exp.present:
			wantPerson := exp.last.Fields["person_id"].(int64)
			if got.Spec.PersonID != wantPerson || got.Annotations[superofficev1alpha1.AnnotationLastEventID] != exp.last.ID {
				t.Errorf("associate %d: want person %d from event %s, got person %d from event %s", a, wantPerson, exp.last.ID,
					got.Spec.PersonID, got.Annotations[superofficev1alpha1.AnnotationLastEventID])
			}
		}
	}
}

func TestAPIServerOutageMidStreamLosesNoAcknowledgedDelivery(t *testing.T) {
	apiServer, err := url.Parse(restConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartTCPProxy(t, apiServer.Host)
	proxied := rest.CopyConfig(restConfig)
	proxied.Host = "https://" + proxy.Addr()
	r := startReplica(t, proxied, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	receiverURL := r.url + path(ns, "so")
	waitReceiverServed(t, receiverURL, secret)

	const associates = 60
	t0 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	bodies := make([][]byte, associates)
	for i := range bodies {
		a := int64(i + 1)
		bodies[i] = event{ID: newEventID("out", i), Event: mirror.EventCreated, Associate: a, Tenant: "Cust1234",
			At: t0, Fields: map[string]any{"person_id": a}}.body()
	}

	// Cut the API server off after the 15th answer and restore it after the 35th.
	var answered atomic.Int64
	var once15, once35 sync.Once
	codes := deliverAll(t, bodies, 4, 0, func(i int) string {
		switch answered.Add(1) {
		case 16:
			once15.Do(proxy.Cut)
		case 36:
			once35.Do(func() {
				if err := proxy.Restore(); err != nil {
					t.Error(err)
				}
			})
		}
		return receiverURL
	})
	acknowledged, refused := 0, 0
	for i, code := range codes {
		a := getAssociate(t, ns, fmt.Sprintf("cust1234-%d", i+1))
		switch code {
		case http.StatusOK:
			acknowledged++
			if a == nil {
				t.Errorf("associate %d was answered 200 but is not in the API server", i+1)
			}
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Errorf("associate %d: want 200 or 503, got %d", i+1, code)
		}
	}
	if refused == 0 {
		t.Fatalf("the outage refused no delivery (%d acknowledged): the test did not cut the API server off", acknowledged)
	}
	t.Logf("during the stream: %d acknowledged, %d refused with 503", acknowledged, refused)

	// SuperOffice retries what was not acknowledged: in the end every associate is stored once.
	eventually(t, 60*time.Second, "every retried delivery to be acknowledged", func() error {
		for i, code := range codes {
			if code == http.StatusOK {
				continue
			}
			got, result, err := tryDeliver(receiverURL, bodies[i], secret)
			if err != nil || got != http.StatusOK {
				return fmt.Errorf("associate %d: got %d %v", i+1, got, err)
			}
			if result != "applied" && result != "duplicate" {
				return fmt.Errorf("associate %d: want applied or duplicate, got %q", i+1, result)
			}
			codes[i] = got
		}
		return nil
	})
	for i := range codes {
		if a := getAssociate(t, ns, fmt.Sprintf("cust1234-%d", i+1)); a == nil || a.Spec.PersonID != int64(i+1) {
			t.Errorf("associate %d: want it stored with person %d after the retries, got %+v", i+1, i+1, a)
		}
	}
}
