package ingress

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Refusals of senders that have not proven who they are (no such receiver, too large,
// busy, a bad signature, an unreadable body) are logged at most this often, with a burst:
// anyone on the internet can send them, and a log line per request would let them flood
// the logs. The metrics still count every one.
const (
	refusalLogInterval = time.Second
	refusalLogBurst    = 10
)

// logSampler lets through a bounded rate of log lines and counts the ones it drops, so
// that the next line it lets through can say how many were left out.
type logSampler struct {
	now func() time.Time

	mu         sync.Mutex
	limiter    *rate.Limiter
	suppressed int
}

func newLogSampler(now func() time.Time) *logSampler {
	if now == nil {
		now = time.Now
	}
	return &logSampler{now: now, limiter: rate.NewLimiter(rate.Every(refusalLogInterval), refusalLogBurst)}
}

// allow reports whether this line may be logged and how many were dropped before it.
func (s *logSampler) allow() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.limiter.AllowN(s.now(), 1) {
		s.suppressed++
		return false, 0
	}
	dropped := s.suppressed
	s.suppressed = 0
	return true, dropped
}
