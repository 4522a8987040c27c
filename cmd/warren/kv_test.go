package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/warrenmesh/warren/node"
)

// fakeGroups reports fixed groups.
type fakeGroups []node.GroupInfo

func (f fakeGroups) Groups(context.Context) ([]node.GroupInfo, error) { return f, nil }

// testSecret is the mesh secret of the nodes a test starts, which the
// commands it runs mint their tokens from ($WARREN_SECRET).
func testSecret(t *testing.T) string {
	t.Helper()
	if s, ok := testSecrets.Load(t); ok {
		return s.(string)
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := node.InitSecret(path); err != nil {
		t.Fatal(err)
	}
	testSecrets.Store(t, path)
	t.Cleanup(func() { testSecrets.Delete(t) })
	t.Setenv("WARREN_SECRET", path)
	t.Setenv("WARREN_TOKEN", "")
	return path
}

// testSecrets holds each running test's secret path.
var testSecrets sync.Map

// kvTestNode starts a node in this process whose KV store is a local one,
// and returns its API URL. Its secret is the test's (testSecret).
func kvTestNode(t *testing.T, withStore bool) string {
	t.Helper()
	dir := t.TempDir()
	cfg := node.Config{
		SecretPath: testSecret(t),
		Name:       "cli", Data: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		Executor: "inprocess", Slots: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.NoReplication = !withStore
	if withStore {
		kv, err := node.OpenLocalKV(filepath.Join(dir, "kv"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() }) // after the node's Close, registered below
		cfg.KV = kv
		cfg.Groups = fakeGroups{
			{ID: "meta", Leader: "cli", Term: 2, CommitIndex: 10, Wanted: 3, Degraded: true,
				Replicas: []node.ReplicaInfo{{Node: "cli", Voter: true, Leader: true, Applied: 10}}},
			{ID: "g1", Term: 5, CommitIndex: 7, Wanted: 3, Unavailable: true,
				Replicas: []node.ReplicaInfo{{Node: "a", Voter: true, Applied: 7}, {Node: "b", Voter: true, Applied: 4, Lag: 3}, {Node: "c", Unreachable: true}}},
		}
	}
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n.APIURL()
}

// TestKVCommands drives warren kv and warren groups against a node.
func TestKVCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url := kvTestNode(t, true)
	file := filepath.Join(t.TempDir(), "value.bin")
	if err := os.WriteFile(file, []byte("from a file\x00\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, errHas string
	}{
		{[]string{"kv", "put", "--node", url, "ns", "greeting", "hello", "--metadata", `{"by":"cli"}`, "--ttl", "3600"}, 0, "", ""},
		{[]string{"kv", "put", "--node", url, "ns", "dir/file", "--file", file}, 0, "", ""},
		{[]string{"kv", "get", "--node", url, "ns", "greeting"}, 0, "hello", ""},
		{[]string{"kv", "get", "--node", url, "--metadata", "--consistency", "eventual", "ns", "greeting"}, 0, "hello", `{"by":"cli"}`},
		{[]string{"kv", "get", "--node", url, "ns", "dir/file"}, 0, "from a file\x00\xff", ""},
		{[]string{"kv", "list", "--node", url, "ns"}, 0, "dir/file\ngreeting\n", ""},
		{[]string{"kv", "list", "--node", url, "--limit", "1", "ns"}, 0, "dir/file\n", "more keys: --cursor "},
		{[]string{"kv", "list", "--node", url, "--prefix", "g", "--consistency", "eventual", "ns"}, 0, "greeting\n", ""},
		{[]string{"kv", "delete", "--node", url, "ns", "dir/file"}, 0, "", ""},
		{[]string{"kv", "get", "--node", url, "ns", "dir/file"}, 1, "", "not_found"},
		{[]string{"kv", "put", "--node", url, "ns", "k", "v", "--ttl", "10"}, 1, "", "expirationTtl"},
		{[]string{"kv", "put", "--node", url, "ns", strings.Repeat("k", 600), "v"}, 1, "", "key length limit of 512"},
		// Usage errors.
		{[]string{"kv"}, 2, "", "needs a subcommand"},
		{[]string{"kv", "get", "ns"}, 2, "", "NAMESPACE KEY"},
		{[]string{"kv", "put", "ns", "k"}, 2, "", "a VALUE"},
		{[]string{"kv", "put", "ns", "k", "v", "--file", file}, 2, "", "one of them"},
		{[]string{"kv", "put", "ns", "k", "v", "--metadata", "{nope"}, 2, "", "not JSON"},
		{[]string{"kv", "get", "--consistency", "weak", "ns", "k"}, 2, "", "--consistency"},
		{[]string{"kv", "list", "n/s"}, 2, "", "namespace"},
		{[]string{"kv", "list"}, 2, "", "exactly one NAMESPACE"},
		{[]string{"groups", "extra"}, 2, "", "takes no arguments"},
	} {
		out, errOut, code := warren(t, tc.args...)
		if code != tc.code || (tc.stdout != "" || code == 0) && out != tc.stdout || !strings.Contains(errOut, tc.errHas) {
			t.Errorf("warren %s: exit %d, stdout %q, stderr %q; want %d, %q, %q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stdout, tc.errHas)
		}
	}
	// Standard input, and --json.
	cmd := []string{"kv", "put", "--node", url, "ns", "piped", "-"}
	if _, errOut, code := warrenStdin(t, "from stdin", cmd...); code != 0 {
		t.Fatalf("put from stdin: %d %s", code, errOut)
	}
	out, errOut, code := warren(t, "kv", "get", "--node", url, "--json", "ns", "piped")
	var v struct {
		Value string `json:"value"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Value != "from stdin" {
		t.Errorf("get --json: %d %q %s", code, out, errOut)
	}
	out, _, code = warren(t, "kv", "list", "--node", url, "--json", "ns")
	var page struct {
		Keys []struct {
			Name     string              `json:"name"`
			Metadata struct{ By string } `json:"metadata"`
		} `json:"keys"`
		ListComplete bool `json:"list_complete"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Keys) != 2 || page.Keys[0].Metadata.By != "cli" || !page.ListComplete {
		t.Errorf("list --json: %d %s", code, out)
	}

	out, errOut, code = warren(t, "groups", "--node", url)
	for _, want := range []string{"GROUP", "meta", "cli", "cli* (lag 0)", "degraded", "g1", "b (lag 3)", "c (learner, unreachable)", "unavailable"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("groups: %d, %q lacks %q (%s)", code, out, want, errOut)
		}
	}
	out, _, code = warren(t, "groups", "--node", url, "--json")
	var gs []node.GroupInfo
	if code != 0 || json.Unmarshal([]byte(out), &gs) != nil || len(gs) != 2 || gs[1].Replicas[1].Lag != 3 {
		t.Errorf("groups --json: %d %s", code, out)
	}

	// A node without a store says so.
	bare := kvTestNode(t, false)
	if _, errOut, code := warren(t, "kv", "get", "--node", bare, "ns", "k"); code != 1 || !strings.Contains(errOut, "no KV store") {
		t.Errorf("kv get on a node without a store: %d %s", code, errOut)
	}
	if _, errOut, code := warren(t, "groups", "--node", bare); code != 1 || !strings.Contains(errOut, "no replicated KV store") {
		t.Errorf("groups on a node without a store: %d %s", code, errOut)
	}
	if _, errOut, code := warren(t, "decommission", "--node", bare); code != 1 || !strings.Contains(errOut, "holds no replicas, and may be stopped") {
		t.Errorf("decommission of a node without a store: %d %s", code, errOut)
	}
}

// warrenStdin is warren with stdin as its standard input.
func warrenStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := warrenCmd(t, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runWarren(t, cmd)
}
