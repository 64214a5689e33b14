package actionhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// One tenant's endpoint that never answers holds its namespace's slots only: the next
// call of that namespace is turned away (or waits), another namespace's call goes out.
func TestABlockedEndpointHoldsOnlyItsNamespacesSlots(t *testing.T) {
	var inFlight atomic.Int32
	unblock := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer fast.Close()
	client := NewClient(Networks{netip.MustParsePrefix("127.0.0.0/8")})
	limiter := NewLimiter(DefaultPerNamespace, DefaultGlobal)

	var calls sync.WaitGroup
	for range DefaultPerNamespace {
		release, err := limiter.Acquire(t.Context(), "slow-tenant")
		if err != nil {
			t.Fatalf("expected a free slot for slow-tenant, got %v", err)
		}
		calls.Go(func() {
			defer release()
			_, _ = post(t, client, slow.URL)
		})
	}
	testenv.Eventually(t, 10*time.Second, "the slow endpoint holding every call of its namespace", func() error {
		if n := inFlight.Load(); n != DefaultPerNamespace {
			return fmt.Errorf("%d calls in flight, want %d", n, DefaultPerNamespace)
		}
		return nil
	})

	_, err := limiter.TryAcquire("slow-tenant")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Limit != "namespace" || busy.Error() != "namespace slow-tenant already has 4 HTTP actions in flight" {
		t.Fatalf("expected the namespace's fifth call turned away as busy, got %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	waited := make(chan error, 1)
	go func() {
		_, err := limiter.Acquire(ctx, "slow-tenant")
		waited <- err
	}()
	cancel()
	if err := <-waited; !errors.As(err, &busy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("expected a waiting call to give up when its context ends, got %v", err)
	}

	release, err := limiter.Acquire(t.Context(), "other-tenant")
	if err != nil {
		t.Fatalf("expected another namespace to get a slot while slow-tenant's are held, got %v", err)
	}
	code, err := post(t, client, fast.URL)
	release()
	if err != nil || code != http.StatusOK {
		t.Fatalf("expected another namespace's call served, got %d, %v", code, err)
	}

	close(unblock)
	calls.Wait()
	if n := limiter.namespaces(); n != 0 {
		t.Fatalf("expected no namespace kept once its calls are done, %d kept", n)
	}
}

func TestTheGlobalLimitBoundsAllNamespaces(t *testing.T) {
	limiter := NewLimiter(2, 3)
	var releases []func()
	for _, ns := range []string{"a", "a", "b"} {
		release, err := limiter.TryAcquire(ns)
		if err != nil {
			t.Fatalf("expected a slot for %s, got %v", ns, err)
		}
		releases = append(releases, release)
	}
	_, err := limiter.TryAcquire("c")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Limit != "global" {
		t.Fatalf("expected namespace c turned away by the global limit of 3, got %v", err)
	}
	if n := limiter.namespaces(); n != 2 {
		t.Fatalf("expected a refused namespace not to be kept, %d kept", n)
	}

	got := make(chan error, 1)
	go func() {
		release, err := limiter.Acquire(t.Context(), "c")
		if err == nil {
			release()
		}
		got <- err
	}()
	releases[0]()
	releases[0]() // releasing twice gives back one slot only
	if err := <-got; err != nil {
		t.Fatalf("expected the waiting call to get the slot given back, got %v", err)
	}
	if _, err := limiter.TryAcquire("a"); err != nil {
		t.Fatalf("expected a's second slot free again, got %v", err)
	}
	if _, err := limiter.TryAcquire("d"); !errors.As(err, &busy) {
		t.Fatalf("expected the global limit full again (a, a, b), got %v", err)
	}
}
