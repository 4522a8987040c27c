package policy

import (
	"errors"
	"net/netip"
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
