package fake

import (
	"net/http"
	"strconv"
	"time"
)

// Route names a group of endpoints for fault injection and call counting.
type Route string

const (
	RouteState        Route = "state"
	RouteAuthenticate Route = "authenticate"
	RouteJWKS         Route = "jwks"
	RouteAllUsers     Route = "allusers"
	RouteGetAssociate Route = "getassociate"
	RouteWebhooks     Route = "webhooks"
)

// Fault is what the next calls of a route get instead of (or before) the real answer.
type Fault struct {
	// Skip lets this many calls through before the fault applies (e.g. fail the second page).
	Skip int
	// Times is how many calls get the fault (at least 1).
	Times int
	// Status answers with this code in SuperOffice's error shape (0: answer normally after Delay).
	Status int
	// RetryAfter is sent as the Retry-After header when set ("2" or an HTTP date).
	RetryAfter string
	// Location is sent as the Location header when set: with Status 307 or 308 the fault
	// is a redirect, as a hijacked or misconfigured endpoint might answer.
	Location string
	// Delay holds the answer this long first (ended early if the client gives up).
	Delay time.Duration
}

// Fail queues a fault for route; faults queued on one route apply one after the other.
func (s *SuperOffice) Fail(route Route, f Fault) {
	if f.Times < 1 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], &f)
}

// Calls is how many requests route has received (faulted ones included).
func (s *SuperOffice) Calls(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// nextFault counts the call and takes the fault it gets, if any.
func (s *SuperOffice) nextFault(route Route) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[route]++
	queue := s.faults[route]
	if len(queue) == 0 {
		return nil
	}
	f := queue[0]
	if f.Skip > 0 {
		f.Skip--
		return nil
	}
	applied := *f
	if f.Times--; f.Times == 0 {
		s.faults[route] = queue[1:]
	}
	return &applied
}

func (s *SuperOffice) faulty(route Route, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := s.nextFault(route)
		if f == nil {
			h(w, r)
			return
		}
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if f.Status == 0 {
			h(w, r)
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Location != "" {
			w.Header().Set("Location", f.Location)
		}
		writeError(w, f.Status, "InjectedFault", "injected HTTP "+strconv.Itoa(f.Status)+" on "+string(route))
	}
}
