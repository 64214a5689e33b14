package testenv

import (
	"testing"
	"time"

	"github.com/onsi/gomega"
)

// PollInterval is how often the suites' polls check again.
const PollInterval = 200 * time.Millisecond

// Eventually polls check until it returns nil, and fails the test with its last error
// once the timeout has passed. It is gomega's Eventually, the one polling idiom of every
// suite, spelled for checks that return an error.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	gomega.NewWithT(t).Eventually(check).WithTimeout(timeout).WithPolling(PollInterval).
		Should(gomega.Succeed(), what)
}
