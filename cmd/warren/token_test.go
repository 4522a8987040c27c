package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/node"
)

// TestTokenCommands: token create prints tokens whose grants the node
// enforces, and the client commands call with --token, $WARREN_TOKEN, or a
// token minted from --secret or $WARREN_SECRET.
func TestTokenCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url := kvTestNode(t, true)
	secret := testSecret(t)
	if _, errOut, code := warren(t, "kv", "put", "--node", url, "ns", "k", "v"); code != 0 {
		t.Fatalf("kv put with $WARREN_SECRET: %d %s", code, errOut)
	}
	create := func(args ...string) string {
		t.Helper()
		out, errOut, code := warren(t, append([]string{"token", "create", "--secret", secret}, args...)...)
		if code != 0 || !strings.HasPrefix(out, "warren1.") {
			t.Fatalf("token create %v: %d %q %s", args, code, out, errOut)
		}
		return strings.TrimSpace(out)
	}
	reader := create("--kv", "ns:r", "--name", "reader", "--ttl", "1h")
	plain := create()
	small := create("--cpu-ms", "5")
	other := filepath.Join(t.TempDir(), "other")
	if err := node.InitSecret(other); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		env    map[string]string // set for this case
		args   []string
		code   int
		out    string
		errHas string
	}{
		{"read with an r token", nil, []string{"kv", "get", "--node", url, "--token", reader, "ns", "k"}, 0, "v", ""},
		{"write with an r token", nil, []string{"kv", "put", "--node", url, "--token", reader, "ns", "k", "w"}, 1, "", "(denied)"},
		{"read without a grant", nil, []string{"kv", "get", "--node", url, "--token", plain, "ns", "k"}, 1, "", "no access to KV namespace ns"},
		{"members with any token", nil, []string{"members", "--node", url, "--token", plain}, 0, "cli", ""},
		{"$WARREN_TOKEN", map[string]string{"WARREN_TOKEN": reader}, []string{"kv", "get", "--node", url, "ns", "k"}, 0, "v", ""},
		{"--token wins over $WARREN_SECRET", nil, []string{"kv", "put", "--node", url, "--token", reader, "ns", "k", "w"}, 1, "", "only reading"},
		{"--secret mints", map[string]string{"WARREN_SECRET": ""}, []string{"groups", "--node", url, "--secret", secret}, 0, "meta", ""},
		{"another mesh's secret", map[string]string{"WARREN_SECRET": ""}, []string{"members", "--node", url, "--secret", other}, 1, "", "signature"},
		{"no token at all", map[string]string{"WARREN_SECRET": ""}, []string{"members", "--node", url}, 1, "", "unauthorized"},
		{"a ceiling in a run", nil, []string{"run", "--node", url, "--token", small, "--cpu-ms", "50", "examples/hello.ts"}, 1, "", "limits.cpuMs 50 exceeds the token's ceiling of 5"},
		{"run within the grants", nil, []string{"run", "--node", url, "--token", plain, "examples/hello.ts"}, 0, "", ""},
		{"create without a secret", map[string]string{"WARREN_SECRET": ""}, []string{"token", "create"}, 2, "", "--secret"},
		{"create with a bad --kv", nil, []string{"token", "create", "--kv", "ns:w"}, 2, "", "want namespace:r or namespace:rw"},
		{"create with a bad --ttl", nil, []string{"token", "create", "--ttl", "-1h"}, 2, "", "--ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, errOut, code := warren(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.errHas) {
				t.Errorf("%v: %d %q %q, want %d %q %q", tc.args, code, out, errOut, tc.code, tc.out, tc.errHas)
			}
		})
	}

	// Revocation: the node refuses the token at once; the list shows it.
	if out, errOut, code := warren(t, "token", "revoke", "--node", url, reader); code != 0 || !strings.HasPrefix(out, "revoked ") || !strings.Contains(out, `("reader")`) {
		t.Fatalf("token revoke: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := warren(t, "kv", "get", "--node", url, "--token", reader, "ns", "k"); code != 1 || !strings.Contains(errOut, "token revoked") {
		t.Errorf("a revoked token: %d %s", code, errOut)
	}
	if _, errOut, code := warren(t, "kv", "get", "--node", url, "--token", plain, "ns", "k"); code != 1 || !strings.Contains(errOut, "no access") {
		t.Errorf("another token after the revocation: %d %s", code, errOut)
	}
	if out, errOut, code := warren(t, "token", "revoked", "--node", url); code != 0 || !strings.Contains(out, `("reader")`) || !strings.Contains(out, `by "cli`) {
		t.Errorf("token revoked: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := warren(t, "token", "revoke", "--node", url); code != 2 || !strings.Contains(errOut, "--id") {
		t.Errorf("token revoke without a token: %d %s", code, errOut)
	}
	if _, errOut, code := warren(t, "token", "revoke", "--node", url, "--token", plain, "--id", "abc"); code != 1 || !strings.Contains(errOut, "admin") {
		t.Errorf("token revoke by a non-admin: %d %s", code, errOut)
	}
}
