package superoffice

import "time"

// SetSleepForTest replaces the wait between retried attempts, so tests see the waits
// without spending them.
func (c *Client) SetSleepForTest(sleep func(time.Duration)) {
	c.sleep = func(_ <-chan struct{}, d time.Duration) bool { sleep(d); return true }
}

// CheckLookedUpAPIForTest applies the rule for a looked-up Api to environment env.
func CheckLookedUpAPIForTest(env, api string) error {
	envURL, err := checkEndpoint("environmentURL", env)
	if err != nil {
		return err
	}
	return checkLookedUpAPI(envURL, api)
}
