package superoffice

import "time"

// SetSleepForTest replaces the wait between retried attempts, so tests see the waits
// without spending them.
func (c *Client) SetSleepForTest(sleep func(time.Duration)) {
	c.sleep = func(_ <-chan struct{}, d time.Duration) bool { sleep(d); return true }
}
