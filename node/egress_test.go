package node

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// An egress error tells the guest what failed, never the host's resolver
// or local addresses.
func TestEgressErrorsLeakNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	e := NewEgress(policy.Egress{Grants: []string{"*.invalid", "127.0.0.1"}})
	resolvers := []string{":53"}
	for _, tc := range []struct{ url, want string }{
		{"http://no-such-host.invalid/", "lookup no-such-host.invalid: "},
		{"http://" + closed + "/", "dial tcp " + closed + ": connection refused"},
	} {
		_, err := e.Fetch(context.Background(), &isolate.Request{Method: "GET", URL: tc.url})
		if err == nil {
			t.Fatalf("%s: no error", tc.url)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: %q, want it to start with %q", tc.url, msg, tc.want)
		}
		for _, r := range resolvers {
			if strings.Contains(msg, r) {
				t.Errorf("%s: %q names a resolver", tc.url, msg)
			}
		}
	}
}
