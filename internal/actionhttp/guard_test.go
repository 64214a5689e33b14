package actionhttp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestTheBlockedAddresses(t *testing.T) {
	own := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.244.1.7"), netip.MustParseAddr("fd12:3456::7")}, nil
	}
	g := &guard{own: own}
	for addr, why := range map[string]string{
		"0.0.0.0": "unspecified", "0.1.2.3": "unspecified", "::": "unspecified",
		"127.0.0.1": "loopback", "127.255.255.254": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"169.254.169.254": "link-local", "169.254.0.1": "link-local", "::ffff:169.254.169.254": "link-local",
		"fe80::1": "link-local", "fe80::1%eth0": "link-local",
		"fd00:ec2::254": "EC2 metadata", "100.100.100.200": "Alibaba Cloud metadata",
		"64:ff9b::a9fe:a9fe": "link-local", // NAT64 of 169.254.169.254
		"10.244.1.7":         "own addresses", "fd12:3456::7": "own addresses", "::ffff:10.244.1.7": "own addresses",
	} {
		err := g.check(netip.MustParseAddr(addr))
		var blocked *BlockedError
		if !errors.As(err, &blocked) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("expected %s to be refused as %s, got %v", addr, why, err)
		}
	}
	// Private and shared networks are other systems: the contract does not block them.
	for _, addr := range []string{"93.184.216.34", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1",
		"100.100.100.201", "2001:db8::1", "fd00:ec2::253", "64:ff9b::5db8:d822"} {
		if err := g.check(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("expected %s to be allowed, got %v", addr, err)
		}
	}
}

func TestAllowedNetworksLiftTheBlockForThemselvesOnly(t *testing.T) {
	g := &guard{allow: Networks{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.244.1.7/32")},
		own: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.244.1.7")}, nil }}
	for _, addr := range []string{"127.0.0.1", "::ffff:127.0.0.2", "10.244.1.7"} {
		if err := g.check(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("expected the allowed %s to be dialled, got %v", addr, err)
		}
	}
	for _, addr := range []string{"::1", "169.254.169.254", "0.0.0.0"} {
		if err := g.check(netip.MustParseAddr(addr)); err == nil {
			t.Errorf("expected %s still refused, outside the allowed networks", addr)
		}
	}
}

// Without the list of its own addresses the manager cannot tell: it refuses.
func TestAnUnknownOwnAddressListRefuses(t *testing.T) {
	g := &guard{own: func() ([]netip.Addr, error) { return nil, errors.New("netlink: permission denied") }}
	if err := g.check(netip.MustParseAddr("93.184.216.34")); err == nil || !strings.Contains(err.Error(), "cannot be listed") {
		t.Fatalf("expected a refusal naming the missing list, got %v", err)
	}
}

func TestParseNetworks(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"", ""},
		{"127.0.0.0/8", "127.0.0.0/8"},
		{" 10.0.0.0/8 , fd00::/8 ", "10.0.0.0/8,fd00::/8"},
		{"127.0.0.1/8", "127.0.0.0/8"}, // masked
		{"169.254.169.254/32,::1/128", "169.254.169.254/32,::1/128"},
	} {
		got, err := ParseNetworks(tt.value)
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseNetworks(%q): expected %q, got %q, %v", tt.value, tt.want, got.String(), err)
		}
	}
	for value, wantErr := range map[string]string{
		"127.0.0.1":     "127.0.0.1 is an address, not a CIDR (for it alone: 127.0.0.1/32)",
		"::1":           "for it alone: ::1/128",
		"300.0.0.0/8":   `"300.0.0.0/8" is not a CIDR`,
		"10.0.0.0/33":   `"10.0.0.0/33" is not a CIDR`,
		"10.0.0.0/8,,":  `"10.0.0.0/8,," has an empty entry`,
		"example.com/8": `"example.com/8" is not a CIDR`,
	} {
		if _, err := ParseNetworks(value); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseNetworks(%q): expected an error containing %q, got %v", value, wantErr, err)
		}
	}
}

func TestNetworksIsAFlagValue(t *testing.T) {
	var n Networks
	if err := n.Set("127.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if err := n.Set("fd00::/8"); err != nil {
		t.Fatal(err)
	}
	if n.String() != "127.0.0.0/8,fd00::/8" {
		t.Fatalf("expected a repeated flag to add networks, got %q", n.String())
	}
	if err := n.Set("nonsense"); err == nil {
		t.Fatal("expected an invalid value to be refused")
	}
}

func TestRedactURLKeepsSchemeAndHostOnly(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com"},
		{"https://user:password@api.example.com:8443/v1?token=s3cret", "https://api.example.com:8443"},
		{" http://[::1]:8080/x#frag ", "http://[::1]:8080"},
		{"example.com/path", "(not an absolute URL)"},
		{"://bad", "(not an absolute URL)"},
	} {
		if got := RedactURL(tt.raw); got != tt.want {
			t.Errorf("RedactURL(%q): expected %q, got %q", tt.raw, tt.want, got)
		}
	}
}
