package sandbox

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestNetworkNamespace: a worker has no network of its own. It cannot reach
// a listener on the host's loopback, while a worker of a HostNetwork pool
// can. Where the kernel refuses namespaces, the pool must say so by leaving
// the layer out.
func TestNetworkNamespace(t *testing.T) {
	dial := "dial " + hostListener(t)

	// Without seccomp, which would refuse the socket before the namespace matters.
	p := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, NoSeccomp: true})
	out := call(t, p, dial)
	if !slices.Contains(p.Stats().Layers, netnsLayer) {
		if out != "connected" {
			t.Errorf("no netns layer, yet the worker could not dial the host: %s", out)
		}
		t.Skipf("the kernel refused a network namespace here (layers %v)", p.Stats().Layers)
	}
	if !strings.HasPrefix(out, "error:") {
		t.Errorf("a worker in its own network namespace reached the host's loopback: %s", out)
	}
	pid := call(t, p, "pid")
	ours, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink("/proc/" + pid + "/ns/net")
	if err != nil || theirs == ours {
		t.Errorf("worker netns %q (%v), ours %q", theirs, err, ours)
	}
	t.Logf("worker dialing the host: %s", out)

	host := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, HostNetwork: true, NoSeccomp: true})
	if out := call(t, host, dial); out != "connected" {
		t.Errorf("a HostNetwork worker could not dial the host: %s", out)
	}
	if slices.Contains(host.Stats().Layers, netnsLayer) {
		t.Errorf("HostNetwork pool reports layers %v", host.Stats().Layers)
	}
}

// hostListener listens on the host's loopback for the test, accepting and
// closing connections, and returns its address.
func hostListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}
