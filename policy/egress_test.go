package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestEgress(t *testing.T) {
	tests := []struct {
		grants     []string
		host, port string
		addr       string // "" = only CheckHost
		ok         bool
	}{
		{nil, "example.com", "443", "", false},
		{[]string{"example.com"}, "example.com", "443", "93.184.215.14", true},
		{[]string{"example.com"}, "EXAMPLE.com.", "443", "", true},
		{[]string{"example.com"}, "evil.com", "443", "", false},
		{[]string{"example.com:8443"}, "example.com", "443", "", false},
		{[]string{"example.com:8443"}, "example.com", "8443", "", true},
		{[]string{"*.example.com"}, "api.example.com", "443", "", true},
		{[]string{"*.example.com"}, "example.com", "443", "", false},
		{[]string{"*"}, "anything.org", "80", "1.1.1.1", true},
		// A granted name that resolves to a private address is refused.
		{[]string{"example.com"}, "example.com", "80", "10.0.0.1", false},
		{[]string{"*"}, "localhost", "80", "127.0.0.1", false},
		{[]string{"*"}, "meta", "80", "169.254.169.254", false},
		{[]string{"*"}, "x", "80", "::1", false},
		{[]string{"*"}, "x", "80", "100.64.1.1", false},
		// Granted by address.
		{[]string{"127.0.0.1"}, "127.0.0.1", "8080", "127.0.0.1", true},
		{[]string{"127.0.0.1:8080"}, "127.0.0.1", "8080", "127.0.0.1", true},
		{[]string{"127.0.0.1:8080"}, "127.0.0.1", "9090", "", false},
		{[]string{"10.0.0.0/8"}, "10.1.2.3", "80", "10.1.2.3", true},
		{[]string{"10.0.0.0/8", "internal.corp"}, "internal.corp", "80", "10.9.9.9", true},
		{[]string{"::1"}, "::1", "80", "::1", true},
		// Special-purpose IPv4 ranges and cloud metadata.
		{[]string{"*"}, "x", "80", "0.0.0.1", false},
		{[]string{"*"}, "x", "80", "192.0.0.192", false},
		{[]string{"*"}, "x", "80", "198.18.0.1", false},
		{[]string{"*"}, "x", "80", "240.0.0.1", false},
		{[]string{"*"}, "x", "80", "255.255.255.255", false},
		{[]string{"*"}, "x", "80", "168.63.129.16", false},
		{[]string{"*"}, "x", "80", "fd00:ec2::254", false},
		{[]string{"*"}, "x", "80", "fec0::1", false},
		// IPv6 forms that carry an IPv4 address are what it is.
		{[]string{"*"}, "x", "80", "::ffff:127.0.0.1", false},
		{[]string{"*"}, "x", "80", "::127.0.0.1", false},
		{[]string{"*"}, "x", "80", "::169.254.169.254", false},
		{[]string{"*"}, "x", "80", "::ffff:0:127.0.0.1", false},
		{[]string{"*"}, "x", "80", "64:ff9b::127.0.0.1", false},
		{[]string{"*"}, "x", "80", "64:ff9b::10.0.0.5", false},
		{[]string{"*"}, "x", "80", "64:ff9b::169.254.169.254", false},
		{[]string{"*"}, "x", "80", "64:ff9b:1::10.0.0.5", false},
		{[]string{"*"}, "x", "80", "2002:7f00:1::1", false},
		{[]string{"*"}, "x", "80", "2002:a9fe:a9fe::1", false},
		{[]string{"*"}, "x", "80", "2001:0:4136:e378:8000:63bf:80ff:fffe", false}, // Teredo, client 127.0.0.1
		// ... and public when their IPv4 address is: NAT64 is how an IPv6-only
		// network reaches IPv4 sites.
		{[]string{"*"}, "x", "80", "64:ff9b::1.1.1.1", true},
		{[]string{"*"}, "x", "80", "2002:101:101::1", true},
		{[]string{"*"}, "x", "80", "2001:0:4136:e378:8000:63bf:fefe:fefe", true}, // Teredo, client 1.1.1.1
		{[]string{"*"}, "x", "80", "2606:4700::1111", true},
		// Granted by prefix, a translated form is allowed.
		{[]string{"64:ff9b::/96"}, "64:ff9b::a00:5", "80", "64:ff9b::10.0.0.5", true},
	}
	for _, tt := range tests {
		e := Egress{Grants: tt.grants}
		err := e.CheckHost(tt.host, tt.port)
		if err == nil && tt.addr != "" {
			err = e.CheckAddr(tt.host, netip.MustParseAddr(tt.addr), tt.port)
		}
		if (err == nil) != tt.ok {
			t.Errorf("grants %v, %s:%s (%s): err = %v, want ok=%v", tt.grants, tt.host, tt.port, tt.addr, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrDenied) {
			t.Errorf("error %v does not match ErrDenied", err)
		}
	}
}

// The node's own addresses (Egress.Own) are refused unless granted by
// address; a refusal names the host and the kind of address, not the address.
func TestEgressOwnAddresses(t *testing.T) {
	own := netip.MustParseAddr("203.0.113.7")
	e := Egress{Grants: []string{"*"}, Own: func(a netip.Addr) bool { return a == own }}
	err := e.CheckAddr("self.example", own, "80")
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "self.example") || !strings.Contains(err.Error(), "the node itself") || strings.Contains(err.Error(), "203.0.113.7") {
		t.Errorf("an own address: %v", err)
	}
	if err := e.CheckAddr("other.example", netip.MustParseAddr("203.0.113.8"), "80"); err != nil {
		t.Errorf("another public address: %v", err)
	}
	e.Grants = append(e.Grants, "203.0.113.7:80")
	if err := e.CheckAddr("self.example", own, "80"); err != nil {
		t.Errorf("an own address granted by address: %v", err)
	}
	err = Egress{Grants: []string{"*"}}.CheckAddr("db.internal", netip.MustParseAddr("10.1.2.3"), "5432")
	if err == nil || !strings.Contains(err.Error(), "db.internal") || !strings.Contains(err.Error(), "a private address") || strings.Contains(err.Error(), "10.1.2.3") {
		t.Errorf("a private address: %v", err)
	}
}

func TestValidGrant(t *testing.T) {
	for _, g := range []string{"*", "example.com", "EXAMPLE.com", "*.example.com", "api.example.com:8443", "127.0.0.1", "10.0.0.0/8",
		"::1", "[::1]:8080", "fd00::/8", "localhost", "my_host.internal", "example.com."} {
		if err := ValidGrant(g); err != nil {
			t.Errorf("ValidGrant(%q): %v", g, err)
		}
	}
	for _, g := range []string{"", "api.example.com\x00127.0.0.1", "a b", "example.com:0", "example.com:65536", "example.com:http", "example.com:080",
		"*.", "**.example.com", "exa mple.com", "a..b", ".example.com", "http://example.com", strings.Repeat("a", 256)} {
		if err := ValidGrant(g); err == nil {
			t.Errorf("ValidGrant(%q) passed", g)
		}
	}
}
