// Package actionhttp is the HTTP client of policies' HTTP actions: calls that a namespace
// user points at any URL, made from inside the cluster with the manager's network
// identity. The client follows no redirects, uses no proxy, and refuses, on the address it
// actually dials (after DNS), the addresses that reach the manager itself or the node's
// metadata services, unless --allow-action-networks lifts the block for a network. A
// Limiter bounds the calls in flight per namespace and in all.
package actionhttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxTimeout bounds one call whatever its context says (timeoutSeconds is at most 30).
const MaxTimeout = 30 * time.Second

// maxResponseHeaderBytes bounds what a reply's headers may make the manager hold.
const maxResponseHeaderBytes = 64 << 10

// blocked are the networks no action may dial unless allowed: they reach the manager
// itself or the node's and the cloud's metadata services, not another system.
var blocked = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // Linux connects 0.0.0.0 to this host
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, where cloud metadata services answer"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the EC2 metadata service"},
	{netip.MustParsePrefix("100.100.100.200/32"), "the Alibaba Cloud metadata service"},
}

// nat64 is the well-known NAT64 prefix: its addresses carry an IPv4 address that the
// NAT64 gateway dials.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// BlockedError is a call refused because of the address it would dial.
type BlockedError struct {
	Addr netip.Addr
	// Why names the blocked set the address is in.
	Why string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("address %s is not allowed for HTTP actions (%s; --allow-action-networks can allow its network)", e.Addr, e.Why)
}

// guard decides, for each address dialled, whether an action may connect to it.
type guard struct {
	allow Networks
	// own lists the manager's addresses; read at every dial, as interfaces come and go.
	own func() ([]netip.Addr, error)
}

// check refuses a blocked address that no allowed network contains.
func (g *guard) check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	if err := g.blockedAddr(addr); err != nil {
		if g.allow.Contains(addr) {
			return nil
		}
		return err
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		if err := g.check(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return err
		}
	}
	return nil
}

func (g *guard) blockedAddr(addr netip.Addr) error {
	for _, b := range blocked {
		if b.prefix.Contains(addr) {
			return &BlockedError{Addr: addr, Why: b.why}
		}
	}
	own, err := g.own()
	if err != nil {
		// Without the list, no address can be shown not to be the manager's own.
		return &BlockedError{Addr: addr, Why: "the manager's own addresses cannot be listed: " + err.Error()}
	}
	for _, o := range own {
		if o.Unmap().WithZone("") == addr {
			return &BlockedError{Addr: addr, Why: "one of the manager's own addresses"}
		}
	}
	return nil
}

// control is the net.Dialer's Control: it runs after DNS, on the address being dialled.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	addrPort, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("HTTP actions dial IP addresses only, got %q: %w", address, err)
	}
	return g.check(addrPort.Addr())
}

// interfaceAddrs are the addresses of every interface of the manager's host (its Pod).
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ipNet, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(ipNet.IP); ok {
				out = append(out, addr)
			}
		}
	}
	return out, nil
}

// NewClient is the client for HTTP actions; allow is --allow-action-networks.
//
// It follows no redirect: a 3xx comes back as the answer (a 307 would otherwise re-send
// the signed body to wherever the endpoint points), and callers count only 2xx as success.
// It uses no proxy, from the environment or otherwise: a proxy would dial the target
// itself, where the address check cannot see it.
func NewClient(allow Networks) *http.Client {
	return newClient(&guard{allow: allow, own: interfaceAddrs})
}

func newClient(g *guard) *http.Client {
	dialer := &net.Dialer{Timeout: MaxTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.DialContext = dialer.DialContext
	transport.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return &http.Client{
		Transport:     transport,
		Timeout:       MaxTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RedactURL is what status and Events show of an action's URL: scheme and host (with its
// port), nothing of the user info, path or query, which often carry tokens (webhook URLs
// put them in the path).
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not an absolute URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Networks is the value of --allow-action-networks: the networks whose addresses HTTP
// actions may dial although they are in the blocked set. It lifts the block for those
// networks and allows nothing else. It is a flag.Value.
type Networks []netip.Prefix

// ParseNetworks reads comma-separated CIDRs ("127.0.0.0/8,fd00::/8"); empty is none.
func ParseNetworks(value string) (Networks, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var networks Networks
	for _, field := range strings.Split(value, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			return nil, fmt.Errorf("%q has an empty entry", value)
		}
		prefix, err := netip.ParsePrefix(field)
		if err != nil {
			if addr, addrErr := netip.ParseAddr(field); addrErr == nil {
				return nil, fmt.Errorf("%s is an address, not a CIDR (for it alone: %s/%d)", field, addr, addr.BitLen())
			}
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8: %w", field, err)
		}
		networks = append(networks, prefix.Masked())
	}
	return networks, nil
}

// Contains tells whether one of the networks holds addr.
func (n Networks) Contains(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, prefix := range n {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

func (n *Networks) String() string {
	if n == nil {
		return ""
	}
	parts := make([]string, len(*n))
	for i, prefix := range *n {
		parts[i] = prefix.String()
	}
	return strings.Join(parts, ",")
}

// Set parses the flag's value; repeating the flag adds networks.
func (n *Networks) Set(value string) error {
	parsed, err := ParseNetworks(value)
	if err != nil {
		return err
	}
	*n = append(*n, parsed...)
	return nil
}

// IsBlocked tells whether err is (or wraps) a call refused for its address.
func IsBlocked(err error) bool {
	var blocked *BlockedError
	return errors.As(err, &blocked)
}
