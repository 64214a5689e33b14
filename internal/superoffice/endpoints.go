package superoffice

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// errEndpointNotAllowed is wrapped by every refusal of an address: the system-user token,
// the application token and tickets go only to https endpoints (plain http only on a
// loopback host, for tests and the fake) that the configuration or SuperOffice named.
var errEndpointNotAllowed = errors.New("endpoint not allowed")

// errRedirect is what a SuperOffice call answers when the server redirects: a 307 or 308
// would re-send the signed system token, the SO-AppToken or the ticket to another address.
var errRedirect = errors.New("redirects are not followed")

// IsEndpointNotAllowed reports whether err refuses an endpoint (a plain-http URL on a host
// that is not loopback, or a looked-up Api outside the environment's domain).
func IsEndpointNotAllowed(err error) bool { return errors.Is(err, errEndpointNotAllowed) }

// CheckEndpoint is nil when raw is an absolute https URL, or http on a loopback host,
// without user info; what names the field in the error (environmentURL, url, targetURL).
func CheckEndpoint(what, raw string) error {
	_, err := checkEndpoint(what, raw)
	return err
}

func checkEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: expected an absolute https URL, got one that does not parse: %w", what, errEndpointNotAllowed)
	}
	switch {
	case u.User != nil:
		// Redacted hides the password; the user name alone is not quoted either.
		return nil, fmt.Errorf("%s: expected no user info in the URL, got %s://…@%s: %w", what, u.Scheme, u.Host, errEndpointNotAllowed)
	case u.Scheme == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%s: expected an absolute https URL, got %q: %w", what, truncate(raw, 100), errEndpointNotAllowed)
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return u, nil
	default:
		return nil, fmt.Errorf("%s: expected https (plain http only on a loopback host), got %s://%s: %w", what, u.Scheme, u.Host, errEndpointNotAllowed)
	}
}

// isLoopbackHost: localhost, 127.0.0.0/8 or ::1; names are not resolved.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkLookedUpAPI accepts the tenant state's Api only where the environment could have
// sent us anyway: https on the environment's parent domain (sod.superoffice.com answers
// Api on sod2.superoffice.com: any *.superoffice.com), or, for a loopback environment
// (tests, the fake), a loopback host. Without it, whoever answers the lookup could send
// the ticket and SO-AppToken of every later call anywhere.
func checkLookedUpAPI(env *url.URL, api string) error {
	const what = "the looked-up Api"
	u, err := checkEndpoint(what, api)
	if err != nil {
		return err
	}
	host := canonicalHost(u.Hostname())
	if isLoopbackHost(env.Hostname()) {
		if !isLoopbackHost(host) {
			return fmt.Errorf("%s: expected a loopback host beside the loopback environment %s, got %s: %w", what, env.Host, u.Host, errEndpointNotAllowed)
		}
		return nil
	}
	domain := parentDomain(canonicalHost(env.Hostname()))
	if u.Scheme != "https" || (host != domain && !strings.HasSuffix(host, "."+domain)) {
		return fmt.Errorf("%s: expected https on %s or a subdomain of it (the environment %s's domain), got %s://%s; set spec.api.url to use another address: %w",
			what, domain, env.Host, u.Scheme, u.Host, errEndpointNotAllowed)
	}
	return nil
}

func canonicalHost(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// parentDomain drops the first label of a host name with three labels or more
// (online.superoffice.com -> superoffice.com); a shorter name or an IP address is its own domain.
func parentDomain(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	labels := strings.Split(host, ".")
	if len(labels) < 3 {
		return host
	}
	return strings.Join(labels[1:], ".")
}

// refuseRedirects is the CheckRedirect of every SuperOffice call.
func refuseRedirects(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("SuperOffice answered with a redirect to %s://%s: %w", req.URL.Scheme, req.URL.Host, errRedirect)
}

// noRedirects is c, or a copy of it, that follows no redirect.
func noRedirects(c *http.Client) *http.Client {
	copied := *c
	copied.CheckRedirect = refuseRedirects
	return &copied
}
