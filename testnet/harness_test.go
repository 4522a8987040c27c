package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/mesh"
)

// testTokens maps a node's API host:port to an admin token of its testnet.
var testTokens sync.Map

// authorize registers an admin token of st for each of its nodes' APIs.
func authorize(t *testing.T, st *State) {
	t.Helper()
	tok, err := st.Token(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		testTokens.Store(strings.TrimPrefix(n.API, "http://"), tok)
	}
}

// tokenFor is the token registered for api ("" none).
func tokenFor(api string) string {
	tok, _ := testTokens.Load(strings.TrimPrefix(api, "http://"))
	s, _ := tok.(string)
	return s
}

// authTransport adds the registered token to a request without one.
type authTransport struct{ inner http.RoundTripper }

func (a *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok := tokenFor(r.URL.Host); tok != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return a.inner.RoundTrip(r)
}

// The test binary doubles as a fake `warren` for the harness tests that do
// not need the real one: with harnessFakeEnv set it runs fakeWarren instead
// of the tests. The fake answers `secret init FILE` and `node ...`: it binds
// --listen (UDP) and --api (TCP), serves /healthz, and /v1/members listing
// as alive itself and every node of DIR/testnet.json whose process runs.
const (
	harnessFakeEnv  = "WARREN_TESTNET_FAKE"
	harnessCrashEnv = "WARREN_TESTNET_FAKE_CRASH"     // node name: exit at once
	harnessBusyEnv  = "WARREN_TESTNET_FAKE_BUSY_ONCE" // node name: "address in use" on its first start
	harnessSleepEnv = "WARREN_TESTNET_SLEEP"          // just block: an unrelated live process
)

func init() {
	switch {
	case os.Getenv(harnessSleepEnv) != "":
		select {}
	case os.Getenv(harnessFakeEnv) != "":
		if err := fakeWarren(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake warren:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func fakeWarren(args []string) error {
	if len(args) == 3 && args[0] == "secret" && args[1] == "init" {
		s, err := mesh.GenerateSecret()
		if err != nil {
			return err
		}
		return mesh.WriteSecret(args[2], s)
	}
	if len(args) == 0 || args[0] != "node" {
		return fmt.Errorf("unexpected command line %q", args)
	}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	name := fs.String("name", "", "")
	data := fs.String("data", "", "")
	listen := fs.String("listen", "", "")
	api := fs.String("api", "", "")
	fs.String("join", "", "")
	fs.String("secret", "", "")
	fs.String("slots", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	fmt.Println("fake node", *name, "starting")
	dir := filepath.Dir(*data)
	switch *name {
	case os.Getenv(harnessCrashEnv):
		return errors.New("boom: this node crashes on purpose")
	case os.Getenv(harnessBusyEnv):
		marker := filepath.Join(dir, *name+".busy")
		if _, err := os.Stat(marker); err != nil {
			os.WriteFile(marker, nil, 0o644)
			return fmt.Errorf("listen udp %s: bind: address already in use", *listen)
		}
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", *api)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"ok":true}`)
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		type m struct{ Name, State string }
		ms := []m{{*name, "alive"}}
		if st, err := Load(dir); err == nil {
			for _, n := range st.Nodes {
				if n.Name == *name {
					continue
				}
				state := "dead"
				if n.Running() {
					state = "alive"
				}
				ms = append(ms, m{n.Name, state})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"members": ms})
	})
	return http.Serve(ln, mux)
}

// fakeOptions are Options running the test binary as a fake warren.
func fakeOptions(t *testing.T, n int) Options {
	t.Helper()
	t.Setenv(harnessFakeEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{Binary: exe, Dir: t.TempDir(), N: n, Timeout: 20 * time.Second}
}

// downAtEnd stops the testnet in dir when the test ends (before its
// temporary directory goes).
func downAtEnd(t *testing.T, dir string) {
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
			return
		}
		if err := Down(dir); err != nil {
			t.Errorf("Down at cleanup: %v", err)
		}
	})
}

func harnessCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPickPorts(t *testing.T) {
	avoid := map[int]bool{}
	udp0, tcp0, err := pickPorts(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(slices.Clone(udp0), tcp0...) {
		avoid[p] = true
	}
	udp, tcp, err := pickPorts(5, avoid)
	if err != nil {
		t.Fatal(err)
	}
	if len(udp) != 5 || len(tcp) != 5 {
		t.Fatalf("got %d UDP and %d TCP ports, want 5 each", len(udp), len(tcp))
	}
	seen := map[int]bool{}
	for _, p := range append(slices.Clone(udp), tcp...) {
		if seen[p] || avoid[p] {
			t.Errorf("port %d picked twice or despite avoid", p)
		}
		seen[p] = true
	}
	// They are free once returned.
	for _, p := range udp {
		c, err := net.ListenPacket("udp", loopback(p))
		if err != nil {
			t.Errorf("UDP port %d not free: %v", p, err)
			continue
		}
		c.Close()
	}
	for _, p := range tcp {
		l, err := net.Listen("tcp", loopback(p))
		if err != nil {
			t.Errorf("TCP port %d not free: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := &State{dir: dir, Secret: filepath.Join(dir, "secret"), Binary: "/bin/warren", Nodes: []NodeInfo{
		{Name: "n1", API: "http://127.0.0.1:7071", Listen: "127.0.0.1:7946", PID: 42, Data: filepath.Join(dir, "n1"),
			Log: filepath.Join(dir, "n1.log"), Args: []string{"node", "--name", "n1"}},
		{Name: "n2", API: "http://127.0.0.1:7072", Listen: "127.0.0.1:7947", Data: filepath.Join(dir, "n2"),
			Args: []string{"node", "--name", "n2"}, Join: []string{"127.0.0.1:7946"}},
	}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", got.Dir(), dir)
	}
	a, _ := json.Marshal(st)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip changed the state:\n%s\n%s", a, b)
	}
	// The documented shape of testnet.json.
	var raw struct {
		Secret *string          `json:"secret"`
		Nodes  []map[string]any `json:"nodes"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if err := json.Unmarshal(data, &raw); err != nil || raw.Secret == nil || len(raw.Nodes) != 2 {
		t.Fatalf("testnet.json = %s (%v)", data, err)
	}
	for _, k := range []string{"name", "api", "listen", "pid", "data"} {
		if _, ok := raw.Nodes[0][k]; !ok {
			t.Errorf("testnet.json node lacks %q: %s", k, data)
		}
	}
	if n, ok := got.Node("n2"); !ok || n.Listen != "127.0.0.1:7947" {
		t.Errorf("Node(n2) = %+v, %v", n, ok)
	}
	if _, ok := got.Node("n3"); ok {
		t.Error("Node(n3) found")
	}

	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of an empty dir: %v, want ErrNotExist", err)
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o644)
	if _, err := Load(dir); err == nil {
		t.Error("Load of a broken testnet.json succeeded")
	}
}

func TestCmdlineIsNode(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/bin/warren", "node", "--name", "n1", "--data", "/d/n1", ""}, true},
		{[]string{"/bin/warren", "node", "--join", "x", "--data=/d/n1"}, true},
		{[]string{"/bin/warren", "node", "--data", "/d/n2"}, false},
		{[]string{"/bin/warren", "run", "--data", "/d/n1"}, false},
		{[]string{""}, false}, // a zombie
	} {
		if got := cmdlineIsNode(c.argv, "/d/n1"); got != c.want {
			t.Errorf("cmdlineIsNode(%q) = %v, want %v", c.argv, got, c.want)
		}
	}
}

func TestInside(t *testing.T) {
	d := filepath.Join(string(filepath.Separator)+"t", "net")
	for p, want := range map[string]bool{
		filepath.Join(d, "n1"):         true,
		filepath.Join(d, "n1", "x"):    true,
		d:                              false,
		filepath.Join(d, ".."):         false,
		filepath.Join(d, "..", "net2"): false,
		filepath.Join(d+"2", "n1"):     false,
	} {
		if got := inside(d, p); got != want {
			t.Errorf("inside(%q, %q) = %v, want %v", d, p, got, want)
		}
	}
}

// TestStalePids: pids of processes that are gone, or that belong to
// unrelated processes, count as stopped and are never signalled.
func TestStalePids(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command(exe, "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st := &State{dir: dir, Secret: filepath.Join(dir, "secret"), Nodes: []NodeInfo{
		{Name: "n1", PID: dead.Process.Pid, Data: filepath.Join(dir, "n1")},
		{Name: "n2", PID: 0, Data: filepath.Join(dir, "n2")},
	}}
	var other *exec.Cmd
	var otherExited <-chan struct{}
	if hasProcFS() {
		// A live process that is not this node: only /proc can tell.
		other = exec.Command(exe, "-test.run=^$")
		other.Env = append(os.Environ(), harnessSleepEnv+"=1")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		otherExited = reap(other)
		t.Cleanup(func() { other.Process.Kill(); <-otherExited })
		st.Nodes = append(st.Nodes, NodeInfo{Name: "n3", PID: other.Process.Pid, Data: filepath.Join(dir, "n3")})
		st.Nodes = append(st.Nodes, NodeInfo{Name: "n4", PID: os.Getpid(), Data: filepath.Join(dir, "n4")})
	}
	for _, n := range st.Nodes {
		if n.Running() {
			t.Errorf("%s (pid %d) counts as running", n.Name, n.PID)
		}
	}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	sts, err := Status(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Live || s.Healthy {
			t.Errorf("Status: %s live=%v healthy=%v", s.Name, s.Live, s.Healthy)
		}
	}
	if err := Stop(dir, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := Stop(dir, "n9"); err == nil {
		t.Error("Stop of an unknown node succeeded")
	}
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range got.Nodes {
		if n.PID != 0 {
			t.Errorf("after Down %s has pid %d", n.Name, n.PID)
		}
	}
	if other != nil {
		select {
		case <-otherExited:
			t.Error("Down killed an unrelated process whose pid was in testnet.json")
		default:
		}
	}
}

// TestHarnessFake runs Up, Stop, Start, Status and Down against the fake
// warren: the harness logic without the real binary.
func TestHarnessFake(t *testing.T) {
	o := fakeOptions(t, 3)
	downAtEnd(t, o.Dir)
	t0 := time.Now()
	st, err := Up(harnessCtx(t, time.Minute), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up of 3 fake nodes: %v", time.Since(t0))
	if len(st.Nodes) != 3 || st.Nodes[2].Name != "n3" {
		t.Fatalf("nodes: %+v", st.Nodes)
	}
	if !slices.Equal(st.Nodes[2].Join, []string{st.Nodes[0].Listen, st.Nodes[1].Listen}) {
		t.Errorf("n3 joined %q", st.Nodes[2].Join)
	}
	for _, n := range st.Nodes {
		if !n.Running() {
			t.Errorf("%s (pid %d) not running after Up", n.Name, n.PID)
		}
	}
	if fi, err := os.Stat(st.Secret); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("secret %s: %v %v", st.Secret, fi.Mode(), err)
	}

	if _, err := Up(harnessCtx(t, time.Minute), o); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Up on a running testnet: %v", err)
	}

	if err := Stop(o.Dir, "n2"); err != nil {
		t.Fatal(err)
	}
	st2, _ := Load(o.Dir)
	if n, _ := st2.Node("n2"); n.PID != 0 || n.Running() || n.Listen != st.Nodes[1].Listen {
		t.Errorf("after Stop n2 = %+v", n)
	}
	if err := WaitConverged(harnessCtx(t, 10*time.Second), st2, 2); err != nil {
		t.Fatal(err)
	}

	if err := Start(harnessCtx(t, 20*time.Second), o.Dir, "n2"); err != nil {
		t.Fatal(err)
	}
	st3, _ := Load(o.Dir)
	n2, _ := st3.Node("n2")
	if !n2.Running() || n2.PID == st.Nodes[1].PID || !slices.Equal(n2.Join, []string{st.Nodes[0].Listen, st.Nodes[2].Listen}) {
		t.Errorf("after Start n2 = %+v", n2)
	}
	if err := Start(harnessCtx(t, 20*time.Second), o.Dir, "n2"); err == nil {
		t.Error("Start of a running node succeeded")
	}
	sts, err := Status(harnessCtx(t, 10*time.Second), o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if !s.Live || !s.Healthy || len(s.Alive) != 3 {
			t.Errorf("Status %s: %+v", s.Name, s)
		}
	}

	pids := []NodeInfo{st3.Nodes[0], st3.Nodes[1], st3.Nodes[2]}
	if err := Down(o.Dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range pids {
		if n.Running() {
			t.Errorf("%s (pid %d) still runs after Down", n.Name, n.PID)
		}
	}
	// A testnet that is down is stale: Up starts afresh over it.
	o.N = 2
	st4, err := Up(harnessCtx(t, time.Minute), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(st4.Nodes) != 2 {
		t.Errorf("Up over a stale testnet: %d nodes", len(st4.Nodes))
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "n3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old n3 data dir survived a fresh Up: %v", err)
	}
}

func TestHarnessFakeCrash(t *testing.T) {
	o := fakeOptions(t, 3)
	t.Setenv(harnessCrashEnv, "n2")
	downAtEnd(t, o.Dir)
	_, err := Up(harnessCtx(t, time.Minute), o)
	if err == nil || !strings.Contains(err.Error(), "boom: this node crashes on purpose") || !strings.Contains(err.Error(), "n2") {
		t.Fatalf("Up with a crashing node: %v", err)
	}
	t.Logf("Up error: %v", err)
	st, err := Load(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.PID != 0 {
			t.Errorf("%s left with pid %d", n.Name, n.PID)
		}
	}
	if st.Nodes[0].PID == 0 && !strings.Contains(readFile(t, st.Nodes[0].Log), "fake node n1 starting") {
		t.Error("n1 never started")
	}
}

func TestHarnessFakePortTaken(t *testing.T) {
	o := fakeOptions(t, 2)
	t.Setenv(harnessBusyEnv, "n2")
	downAtEnd(t, o.Dir)
	st, err := Up(harnessCtx(t, time.Minute), o)
	if err != nil {
		t.Fatal(err)
	}
	if log := readFile(t, st.Nodes[1].Log); strings.Count(log, "--- warren testnet") != 2 {
		t.Errorf("n2 was not retried once:\n%s", log)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// buildWarren builds ./cmd/warren, once per test binary (TestMain removes
// it): each build links for seconds, and these tests only run it.
func buildWarren(t *testing.T) string {
	t.Helper()
	if _, err := gotool.Path(); err != nil {
		t.Skip("no go tool to build cmd/warren")
	}
	warrenBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "warren-testnet-bin")
		if err != nil {
			warrenBuild.err = err
			return
		}
		warrenBuild.dir = dir
		out := filepath.Join(dir, "warren")
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		t0 := time.Now()
		if warrenBuild.err = gotool.BuildWarren(out); warrenBuild.err == nil {
			warrenBuild.bin = out
			t.Logf("built %s in %v", out, time.Since(t0).Round(time.Millisecond))
		}
	})
	if warrenBuild.err != nil {
		t.Fatal(warrenBuild.err)
	}
	return warrenBuild.bin
}

var warrenBuild struct {
	once     sync.Once
	dir, bin string
	err      error
}

// TestHarnessMultiProcess: three real `warren node` processes; one is
// killed and the others keep serving and see it die; it comes back on its
// data and ports; Down leaves no process behind.
func TestHarnessMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the multi-process testnet (builds cmd/warren, runs 3 node processes)")
	}
	bin := buildWarren(t) // before the lock: others' heavy tests run meanwhile
	Exclusive(t)
	dir := t.TempDir()
	downAtEnd(t, dir)

	t0 := time.Now()
	st, err := Up(harnessCtx(t, 2*time.Minute), Options{Binary: bin, Dir: dir, N: 3, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, st)
	t.Logf("Up of 3 nodes, converged: %v", time.Since(t0).Round(time.Millisecond))

	// testnet.json as documented.
	var raw struct {
		Secret string `json:"secret"`
		Nodes  []struct {
			Name, API, Listen, Data string
			PID                     int
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, StateFile))), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Secret == "" || len(raw.Nodes) != 3 {
		t.Fatalf("testnet.json: %+v", raw)
	}
	if _, err := os.Stat(raw.Secret); err != nil {
		t.Errorf("secret: %v", err)
	}
	for i, n := range raw.Nodes {
		if n.Name != fmt.Sprintf("n%d", i+1) || n.PID == 0 || n.API == "" || n.Listen == "" || n.Data == "" {
			t.Errorf("testnet.json node %d: %+v", i, n)
		}
	}

	victim, others := st.Nodes[2], st.Nodes[:2]
	t1 := time.Now()
	if err := Stop(dir, victim.Name); err != nil {
		t.Fatal(err)
	}
	if victim.Running() {
		t.Fatalf("%s still runs after Stop", victim.Name)
	}
	// The others keep serving and notice the death.
	ctx := harnessCtx(t, 10*time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for noticed := map[string]bool{}; len(noticed) < len(others); {
		for _, n := range others {
			if !healthy(ctx, n.API) {
				t.Fatalf("%s stopped answering /healthz after %s died", n.Name, victim.Name)
			}
			all, alive, err := Members(ctx, n.API, tokenFor(n.API))
			if err != nil {
				t.Fatalf("%s /v1/members: %v", n.Name, err)
			}
			for _, m := range others {
				if !slices.Contains(alive, m.Name) {
					t.Fatalf("%s does not list %s alive: %s", n.Name, m.Name, strings.Join(all, " "))
				}
			}
			if !slices.Contains(alive, victim.Name) && !noticed[n.Name] {
				noticed[n.Name] = true
				t.Logf("%s sees %s not alive after %v: %s", n.Name, victim.Name, time.Since(t1).Round(time.Millisecond), strings.Join(all, " "))
			}
		}
		if len(noticed) == len(others) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("within 10s, not every survivor saw %s die (%v)", victim.Name, noticed)
		case <-tick.C:
		}
	}
	for _, n := range others {
		if !healthy(ctx, n.API) {
			t.Errorf("%s not healthy", n.Name)
		}
		// And they still run code.
		body := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { fetch() { return new Response('still here') } }"}}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.API+"/v1/run", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s /v1/run after %s died: %v", n.Name, victim.Name, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), `"outcome":"ok"`) || !strings.Contains(string(out), "still here") {
			t.Errorf("%s /v1/run after %s died: %d %s", n.Name, victim.Name, resp.StatusCode, out)
		}
	}

	t2 := time.Now()
	if err := Start(harnessCtx(t, time.Minute), dir, victim.Name); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start of %s until converged: %v", victim.Name, time.Since(t2).Round(time.Millisecond))
	st2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitConverged(harnessCtx(t, 10*time.Second), st2, 3); err != nil {
		t.Fatal(err)
	}

	t3 := time.Now()
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("Down: %v", time.Since(t3).Round(time.Millisecond))
	for _, n := range st2.Nodes {
		if n.Running() {
			t.Errorf("%s (pid %d) survived Down", n.Name, n.PID)
		}
	}
}

// runBody is a POST /v1/run body whose Worker sleeps ms, then answers.
func runBody(ms int) string {
	return fmt.Sprintf(`{"code":{"mainModule":"m.js","modules":{"m.js":"export default { async fetch() { await new Promise(r => setTimeout(r, %d)); return new Response('slept') } }"}}}`, ms)
}

// postRun posts body to api's /v1/run and returns the response body.
func postRun(ctx context.Context, api, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/run", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// health reads one field of api's /healthz.
func health(ctx context.Context, api, field string) float64 {
	b, err := get(ctx, api+"/healthz", "")
	if err != nil {
		return -1
	}
	var h map[string]any
	if json.Unmarshal(b, &h) != nil {
		return -1
	}
	v, _ := h[field].(float64)
	return v
}

// TestHarnessPause: a node stopped with SIGSTOP (a wedged host) while it
// runs a call forwarded to it. The caller does not hang: the call ends with
// internalError naming the paused node once the mesh declares it dead. The
// others keep serving, and after SIGCONT the node rejoins and serves again.
func TestHarnessPause(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the multi-process testnet")
	}
	if pauseSignal == nil {
		t.Skip("no SIGSTOP on this platform")
	}
	bin := buildWarren(t) // before the lock: others' heavy tests run meanwhile
	Exclusive(t)
	dir := t.TempDir()
	downAtEnd(t, dir)
	st, err := Up(harnessCtx(t, 2*time.Minute), Options{Binary: bin, Dir: dir, N: 3, NodeArgs: []string{"--slots", "1"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, st)
	n1, n2, n3 := st.Nodes[0], st.Nodes[1], st.Nodes[2]
	ctx := harnessCtx(t, time.Minute)
	poll := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: not within the test's minute", what)
			case <-tick.C:
			}
		}
	}
	// Occupy n1 and n2, so that n1 forwards the next call to n3.
	hold, release := context.WithCancel(ctx)
	defer release()
	for _, n := range []NodeInfo{n1, n2} {
		go postRun(hold, n.API, runBody(20000))
		poll(n.Name+" busy", func() bool { return health(ctx, n.API, "running") == 1 })
	}
	type answer struct {
		body string
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		b, err := postRun(ctx, n1.API, runBody(20000))
		inflight <- answer{b, err}
	}()
	poll("the call running on n3", func() bool { return health(ctx, n3.API, "running") == 1 })
	// n1 must have heard that n3 started it: a peer paused before it says
	// so may be given up on and the call tried elsewhere (here, shed), as
	// the forwarding protocol allows for a call without effects.
	poll("n1 knowing n3 started it", func() bool { return health(ctx, n1.API, "runningOnPeers") == 1 })
	if err := Pause(dir, n3.Name); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	if sts, err := Status(ctx, dir); err != nil || !sts[2].Paused {
		t.Errorf("status after pause: %+v %v", sts, err)
	}
	select {
	case a := <-inflight:
		if a.err != nil || !strings.Contains(a.body, `"outcome":"internalError"`) || !strings.Contains(a.body, `"hops":["n1","n3"]`) {
			t.Errorf("the call on the paused node: %v %s", a.err, a.body)
		}
		t.Logf("the call on the paused node ended after %v: %.200s", time.Since(paused).Round(time.Millisecond), a.body)
	case <-time.After(15 * time.Second):
		t.Fatal("the call on the paused node still hangs after 15 s")
	}
	// The others serve once their slots are free again.
	release()
	for _, n := range []NodeInfo{n1, n2} {
		poll(n.Name+" free", func() bool { return health(ctx, n.API, "free") == 1 })
		if b, err := postRun(ctx, n.API, runBody(0)); err != nil || !strings.Contains(b, `"outcome":"ok"`) {
			t.Errorf("%s while %s is paused: %v %s", n.Name, n3.Name, err, b)
		}
	}
	if err := Resume(dir, n3.Name); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if err := WaitConverged(ctx, st, 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rejoined %v after SIGCONT", n3.Name, time.Since(resumed).Round(time.Millisecond))
	if b, err := postRun(ctx, n3.API, runBody(0)); err != nil || !strings.Contains(b, `"outcome":"ok"`) {
		t.Errorf("%s after resume: %v %s", n3.Name, err, b)
	}
}
