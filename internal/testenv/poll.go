package testenv

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually checks again.
const pollInterval = 200 * time.Millisecond

// Eventually polls check until it returns nil, and fails the test with its last error
// once the timeout has passed (or the test is cancelled).
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test cancelled: %v", what, err)
		case <-time.After(pollInterval):
		}
	}
}
