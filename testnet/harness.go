package testnet

// The multi-process harness behind `warren testnet`: real `warren node`
// processes on loopback, started detached so they outlive the command that
// started them, described by DIR/testnet.json so that later commands (down,
// stop, start, status) and tests can find them again.
//
// Layout of a testnet directory:
//
//	DIR/testnet.json   the State: secret path, binary, and every node
//	DIR/secret         the mesh secret (`warren secret init`, mode 0600)
//	DIR/<name>/        a node's --data directory (identity, state)
//	DIR/<name>.log     a node's stdout and stderr, appended across restarts
//
// A node whose pid is 0 is stopped. A pid is trusted only while it still
// names a process of this testnet (on Linux, /proc/PID/cmdline must show
// `--data DIR/<name>`), so a stale testnet.json whose processes died, or
// whose pids were reused by unrelated processes, is handled: those nodes
// count as stopped and are never signalled.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
)

// StateFile is the name of the state file inside a testnet directory.
const StateFile = "testnet.json"

const (
	defaultTimeout = 30 * time.Second
	// pollEvery is the pause between two polls of a condition.
	pollEvery = 50 * time.Millisecond
	// termGrace is how long Down waits after SIGTERM before SIGKILL.
	termGrace = 5 * time.Second
	// killWait bounds the wait for a SIGKILLed process to be gone.
	killWait = 5 * time.Second
	// portAttempts bounds restarts of a node whose port was taken between
	// picking it and the node binding it.
	portAttempts = 4
	logTailLines = 25
)

// Options configure Up.
type Options struct {
	// Binary is the warren executable to run (default: os.Executable()).
	Binary string
	// Dir is the state directory (created if missing).
	Dir string
	// N is the number of nodes, named n1..nN.
	N int
	// NodeArgs are extra flags appended to every node's command line.
	NodeArgs []string
	// Timeout bounds starting the nodes and waiting until every node sees
	// all N alive (default 30s).
	Timeout time.Duration
}

// NodeInfo describes one node of a testnet.
type NodeInfo struct {
	Name string `json:"name"`
	// API is the base URL of the node's HTTP API, e.g. "http://127.0.0.1:40123".
	API string `json:"api"`
	// Listen is the node's UDP address (QUIC and gossip), "127.0.0.1:PORT".
	Listen string `json:"listen"`
	// PID is the node's process id, 0 when it is stopped.
	PID int `json:"pid"`
	// Data is the node's --data directory.
	Data string `json:"data"`
	// Log is the file receiving the node's stdout and stderr.
	Log string `json:"log"`
	// Args is the node's command line after the binary, without --join:
	// every start adds `--join` with the UDP addresses of the nodes running
	// at that moment (none for the first node of Up).
	Args []string `json:"args"`
	// Join is the --join list of the node's last start.
	Join []string `json:"join,omitempty"`
}

// State is the content of DIR/testnet.json.
type State struct {
	// Secret is the path of the mesh secret file.
	Secret string `json:"secret"`
	// Binary is the warren executable the nodes run.
	Binary string     `json:"binary"`
	Nodes  []NodeInfo `json:"nodes"`

	dir string
}

// Dir returns the testnet directory the state was loaded from or created in.
func (st *State) Dir() string { return st.dir }

// Node returns the node called name.
func (st *State) Node(name string) (*NodeInfo, bool) {
	for i := range st.Nodes {
		if st.Nodes[i].Name == name {
			return &st.Nodes[i], true
		}
	}
	return nil, false
}

func (st *State) names() []string {
	var s []string
	for _, n := range st.Nodes {
		s = append(s, n.Name)
	}
	return s
}

// Load reads DIR/testnet.json. It does not check the processes; see
// [NodeInfo.Running].
func Load(dir string) (*State, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, StateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("testnet: no testnet in %s (no %s): %w", dir, StateFile, err)
		}
		return nil, fmt.Errorf("testnet: %w", err)
	}
	st := &State{dir: abs}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", filepath.Join(abs, StateFile), err)
	}
	return st, nil
}

// save writes the state atomically.
func (st *State) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(st.dir, "."+StateFile+".*")
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("testnet: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(st.dir, StateFile)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

// Up starts a fresh testnet of o.N nodes in o.Dir: a new secret, free
// loopback ports, nodes n1..nN started one after the other (each joining
// the ones already serving), then waits until every node lists N alive
// members. A stale testnet.json in o.Dir (no process running) is replaced
// and the data directories and logs it names are removed; a running
// testnet is an error. DIR/<name>/ of each new node is emptied. On failure Up kills what it started, keeps
// testnet.json (all pids 0) and the logs for inspection, and returns an
// error with the tail of the failing node's log.
func Up(ctx context.Context, o Options) (*State, error) {
	if o.N < 1 {
		return nil, fmt.Errorf("testnet: N must be at least 1, not %d", o.N)
	}
	if o.Dir == "" {
		return nil, errors.New("testnet: Options.Dir is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("testnet: finding the warren binary: %w", err)
		}
		o.Binary = exe
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if err := clearStale(dir); err != nil {
		return nil, err
	}

	st := &State{dir: dir, Binary: bin, Secret: filepath.Join(dir, "secret")}
	if err := os.Remove(st.Secret); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if out, err := exec.CommandContext(ctx, bin, "secret", "init", st.Secret).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testnet: %s secret init %s: %v\n%s", bin, st.Secret, err, bytes.TrimSpace(out))
	}

	udp, tcp, err := pickPorts(o.N, nil)
	if err != nil {
		return nil, err
	}
	for i := range o.N {
		name := "n" + strconv.Itoa(i+1)
		n := NodeInfo{
			Name:   name,
			Data:   filepath.Join(dir, name),
			Log:    filepath.Join(dir, name+".log"),
			Listen: loopback(udp[i]),
			API:    "http://" + loopback(tcp[i]),
		}
		n.Args = nodeArgs(st, &n, o.NodeArgs)
		os.Remove(n.Log)
		if err := os.RemoveAll(n.Data); err != nil { // fresh: no identity or state from before
			return nil, fmt.Errorf("testnet: %w", err)
		}
		if err := os.MkdirAll(n.Data, 0o755); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		st.Nodes = append(st.Nodes, n)
	}
	if err := st.save(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	fail := func(err error) (*State, error) {
		killAll(st)
		st.save()
		return nil, err
	}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		var join []string
		for _, m := range st.Nodes[:i] {
			join = append(join, m.Listen)
		}
		for attempt := 1; ; attempt++ {
			err := startNode(ctx, st, n, join)
			if err == nil {
				break
			}
			if !errors.Is(err, errPortInUse) || attempt == portAttempts {
				return fail(err)
			}
			// Someone took a port between picking and binding: new ports.
			udp, tcp, perr := pickPorts(1, st.usedPorts())
			if perr != nil {
				return fail(perr)
			}
			n.Listen, n.API = loopback(udp[0]), "http://"+loopback(tcp[0])
			n.Args = nodeArgs(st, n, o.NodeArgs)
		}
		if err := st.save(); err != nil {
			return fail(err)
		}
	}
	if err := WaitConverged(ctx, st, o.N); err != nil {
		return fail(fmt.Errorf("testnet: nodes did not all see each other within %v: %w", o.Timeout, err))
	}
	return st, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// nodeArgs is the command line of n without --join.
func nodeArgs(st *State, n *NodeInfo, extra []string) []string {
	args := []string{"node",
		"--name", n.Name,
		"--data", n.Data,
		"--listen", n.Listen,
		"--api", strings.TrimPrefix(n.API, "http://"),
		"--secret", st.Secret,
	}
	return append(args, extra...)
}

// usedPorts lists the ports the state's nodes use.
func (st *State) usedPorts() map[int]bool {
	used := map[int]bool{}
	for _, n := range st.Nodes {
		for _, a := range []string{n.Listen, strings.TrimPrefix(n.API, "http://")} {
			if _, p, err := net.SplitHostPort(a); err == nil {
				if port, err := strconv.Atoi(p); err == nil {
					used[port] = true
				}
			}
		}
	}
	return used
}

// clearStale refuses a directory whose testnet still runs, and otherwise
// removes what a previous testnet there left: its data directories and
// logs (only those inside dir) and its state file.
func clearStale(dir string) error {
	old, err := Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w (remove it to start afresh)", err)
	}
	for _, n := range old.Nodes {
		if n.Running() {
			return fmt.Errorf("testnet: a testnet is already running in %s (%s is pid %d); run `warren testnet down --dir %s` first", dir, n.Name, n.PID, dir)
		}
	}
	for _, n := range old.Nodes {
		for _, p := range []string{n.Data, n.Log} {
			if p != "" && inside(dir, p) {
				if err := os.RemoveAll(p); err != nil {
					return fmt.Errorf("testnet: removing the previous testnet: %w", err)
				}
			}
		}
	}
	return os.Remove(filepath.Join(dir, StateFile))
}

// inside reports whether p is strictly inside dir.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// pickPorts finds n free loopback UDP ports and n free loopback TCP ports,
// none in avoid and all distinct: it binds port 0 and keeps every socket
// open until all are picked (so the kernel cannot hand out one twice), then
// closes them. A port can still be taken before the node binds it; Up
// retries a node that fails with "address already in use".
func pickPorts(n int, avoid map[int]bool) (udp, tcp []int, err error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	taken := map[int]bool{}
	for p := range avoid {
		taken[p] = true
	}
	for _, network := range []string{"udp", "tcp"} {
		for got := 0; got < n; {
			var port int
			var c io.Closer
			for try := 0; ; try++ {
				if try == 100 {
					return nil, nil, fmt.Errorf("testnet: no free %s port on 127.0.0.1", network)
				}
				if network == "udp" {
					pc, err := net.ListenPacket("udp", "127.0.0.1:0")
					if err != nil {
						return nil, nil, fmt.Errorf("testnet: picking a UDP port: %w", err)
					}
					c, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
				} else {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						return nil, nil, fmt.Errorf("testnet: picking a TCP port: %w", err)
					}
					c, port = ln, ln.Addr().(*net.TCPAddr).Port
				}
				held = append(held, c)
				if !taken[port] {
					break
				}
			}
			taken[port] = true
			if network == "udp" {
				udp = append(udp, port)
			} else {
				tcp = append(tcp, port)
			}
			got++
		}
	}
	return udp, tcp, nil
}

var errPortInUse = errors.New("address already in use")

// startNode starts n (which must be stopped) joining join, records its pid
// in n, and waits until it answers /healthz. If the process exits first,
// the error carries its log tail (and wraps errPortInUse when the log says
// its address was taken).
func startNode(ctx context.Context, st *State, n *NodeInfo, join []string) error {
	args := append([]string{}, n.Args...)
	if len(join) > 0 {
		// Right after the subcommand, so that a --join in the user's
		// NodeArgs (which come last) still wins.
		args = append([]string{args[0], "--join", strings.Join(join, ",")}, args[1:]...)
	}
	if err := os.MkdirAll(n.Data, 0o755); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	lf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	fmt.Fprintf(lf, "--- warren testnet %s: %s %s\n", time.Now().Format(time.RFC3339), st.Binary, strings.Join(args, " "))
	cmd := exec.Command(st.Binary, args...)
	cmd.Stdout, cmd.Stderr = lf, lf // the child writes to the file itself
	detach(cmd)
	err = cmd.Start()
	lf.Close()
	if err != nil {
		return fmt.Errorf("testnet: starting %s: %w", n.Name, err)
	}
	n.PID, n.Join = cmd.Process.Pid, join
	exited := reap(cmd)

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if healthy(ctx, n.API) {
			return nil
		}
		select {
		case <-exited:
			n.PID = 0
			tail := logTail(n.Log)
			err := fmt.Errorf("testnet: %s exited before serving (%v); %s", n.Name, cmd.ProcessState, tail)
			if strings.Contains(tail, "address already in use") || strings.Contains(tail, "Only one usage of each socket address") {
				err = fmt.Errorf("%w: %w", errPortInUse, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("testnet: %s did not answer %s/healthz: %w; %s", n.Name, n.API, ctx.Err(), logTail(n.Log))
		case <-tick.C:
		}
	}
}

// reap waits for cmd in the background (no zombie stays behind while this
// process lives) and returns a channel closed when it has exited.
func reap(cmd *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return done
}

// detach puts the child in a session (Unix) or process group (Windows) of
// its own, so that a terminal's Ctrl-C or hangup aimed at the command that
// started it does not reach it. The fields differ per platform, hence
// reflection rather than a file per platform.
func detach(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{}
	v := reflect.ValueOf(attr).Elem()
	if f := v.FieldByName("Setsid"); f.IsValid() && f.Kind() == reflect.Bool {
		f.SetBool(true)
	} else if f := v.FieldByName("CreationFlags"); f.IsValid() && f.Kind() == reflect.Uint32 {
		const createNewProcessGroup = 0x00000200
		f.SetUint(f.Uint() | createNewProcessGroup)
	}
	cmd.SysProcAttr = attr
}

// Running reports whether n's process is alive and is this node's (a pid
// reused by another process does not count).
func (n NodeInfo) Running() bool {
	if n.PID <= 0 {
		return false
	}
	if hasProcFS() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(n.PID) + "/cmdline")
		if err != nil {
			return false // gone
		}
		// A zombie's cmdline is empty, so it does not match either.
		return cmdlineIsNode(strings.Split(string(b), "\x00"), n.Data)
	}
	p, err := os.FindProcess(n.PID)
	if err != nil {
		return false
	}
	defer p.Release()
	if runtime.GOOS == "windows" {
		return true // FindProcess opened it: best effort
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// cmdlineIsNode reports whether argv is a `warren node` with --data data.
func cmdlineIsNode(argv []string, data string) bool {
	isNode := false
	for i, a := range argv {
		switch {
		case a == "node":
			isNode = true
		case a == "--data" && i+1 < len(argv) && argv[i+1] == data:
			return isNode
		case a == "--data="+data:
			return isNode
		}
	}
	return false
}

var hasProcFS = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/cmdline")
	return err == nil
})

// signalNode sends sig to n's process if it is still this node's. On Windows,
// where only Kill exists, any signal kills.
func signalNode(n NodeInfo, sig os.Signal) {
	if !n.Running() {
		return
	}
	p, err := os.FindProcess(n.PID)
	if err != nil {
		return
	}
	defer p.Release()
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) && sig != os.Kill {
		p.Kill()
	}
}

// waitGone polls until none of nodes is running or the wait ends; it
// returns those still running.
func waitGone(nodes []NodeInfo, wait time.Duration) []NodeInfo {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(pollEvery / 5)
	defer tick.Stop()
	for {
		var left []NodeInfo
		for _, n := range nodes {
			if n.Running() {
				left = append(left, n)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		<-tick.C
	}
}

// killAll SIGKILLs every running node of st and marks all stopped.
func killAll(st *State) {
	var nodes []NodeInfo
	for i := range st.Nodes {
		if st.Nodes[i].Running() {
			signalNode(st.Nodes[i], os.Kill)
			nodes = append(nodes, st.Nodes[i])
		}
		st.Nodes[i].PID = 0
	}
	waitGone(nodes, killWait)
}

// Down stops every node of the testnet in dir: SIGTERM, up to 5 s for them
// to exit, then SIGKILL. It removes nothing: testnet.json stays with every
// pid set to 0 (so `status` still lists the nodes and `start NAME` can bring
// one back on its data), as do the secret, data directories and logs. A
// stale testnet.json is fine: nodes already gone are just marked stopped.
func Down(dir string) error {
	st, err := Load(dir)
	if err != nil {
		return err
	}
	var running []NodeInfo
	for _, n := range st.Nodes {
		if n.Running() {
			signalNode(n, syscall.SIGTERM)
			if resumeSignal != nil && n.Paused() {
				signalNode(n, resumeSignal) // so that it sees the SIGTERM
			}
			running = append(running, n)
		}
	}
	left := waitGone(running, termGrace)
	for _, n := range left {
		signalNode(n, os.Kill)
	}
	left = waitGone(left, killWait)
	for i := range st.Nodes {
		st.Nodes[i].PID = 0
	}
	for _, n := range left {
		st.nodePtr(n.Name).PID = n.PID
	}
	if err := st.save(); err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("testnet: %s (pid %d) survived SIGKILL", left[0].Name, left[0].PID)
	}
	return nil
}

func (st *State) nodePtr(name string) *NodeInfo {
	n, _ := st.Node(name)
	return n
}

// loadNode loads the testnet in dir and finds the node called name in it.
func loadNode(dir, name string) (*State, *NodeInfo, error) {
	st, err := Load(dir)
	if err != nil {
		return nil, nil, err
	}
	n, ok := st.Node(name)
	if !ok {
		return nil, nil, fmt.Errorf("testnet: no node %q in %s (nodes: %s)", name, dir, strings.Join(st.names(), ", "))
	}
	return st, n, nil
}

// Stop kills (SIGKILL) the node called name and waits until it is gone. It
// stays in testnet.json, with pid 0, its ports and its data. Stopping a
// stopped node is not an error.
func Stop(dir, name string) error {
	st, n, err := loadNode(dir, name)
	if err != nil {
		return err
	}
	if n.Running() {
		signalNode(*n, os.Kill)
		if left := waitGone([]NodeInfo{*n}, killWait); len(left) > 0 {
			return fmt.Errorf("testnet: %s (pid %d) survived SIGKILL for %v", name, n.PID, killWait)
		}
	}
	n.PID = 0
	return st.save()
}

// Start restarts the stopped node called name on its data directory and
// ports, with its recorded arguments and --join set to the nodes running
// now, then waits until it answers /healthz and every running node
// (itself included) lists all running nodes alive. Without a deadline in
// ctx it waits at most 30 s. Starting a running node is an error.
func Start(ctx context.Context, dir, name string) error {
	st, n, err := loadNode(dir, name)
	if err != nil {
		return err
	}
	if n.Running() {
		return fmt.Errorf("testnet: %s is already running (pid %d)", name, n.PID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	var join []string
	want := 1
	for _, m := range st.Nodes {
		if m.Name != name && m.Running() {
			join = append(join, m.Listen)
			want++
		}
	}
	if err := startNode(ctx, st, n, join); err != nil {
		return err
	}
	if err := st.save(); err != nil {
		return err
	}
	if err := WaitConverged(ctx, st, want); err != nil {
		return fmt.Errorf("testnet: %s started but the mesh did not converge: %w", name, err)
	}
	return nil
}

// member is the part of a /v1/members entry the harness reads.
type member struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

var httpClient = &http.Client{
	Timeout: 2 * time.Second,
	// No proxy (loopback), no idle connections left behind to nodes that
	// may be killed at any moment.
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

func get(ctx context.Context, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

func healthy(ctx context.Context, api string) bool {
	_, err := get(ctx, api+"/healthz", "")
	return err == nil
}

// Members returns the members the node at api lists (GET /v1/members),
// asked with token (Token).
func Members(ctx context.Context, api, token string) (all, alive []string, err error) {
	b, err := get(ctx, api+"/v1/members", token)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Members []member `json:"members"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("GET %s/v1/members: %w", api, err)
	}
	for _, m := range r.Members {
		all = append(all, m.Name+"("+m.State+")")
		if strings.EqualFold(m.State, "alive") {
			alive = append(alive, m.Name)
		}
	}
	return all, alive, nil
}

// WaitConverged polls /v1/members of every running node of st (pid not 0)
// until each lists exactly want members alive. It fails at once, with its
// log tail, if a node that should run has exited. Without a deadline in
// ctx it waits at most 30 s.
func WaitConverged(ctx context.Context, st *State, want int) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	token, err := st.Token(time.Hour)
	if err != nil {
		return err
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var lagging *NodeInfo
		var why string
		for i := range st.Nodes {
			n := &st.Nodes[i]
			if n.PID == 0 {
				continue
			}
			if !n.Running() {
				return fmt.Errorf("%s (pid %d) has exited; %s", n.Name, n.PID, logTail(n.Log))
			}
			all, alive, err := Members(ctx, n.API, token)
			switch {
			case err != nil:
				lagging, why = n, err.Error()
			case len(alive) != want:
				lagging, why = n, fmt.Sprintf("%s lists %d alive, want %d: %s", n.Name, len(alive), want, strings.Join(all, " "))
			default:
				continue
			}
			break
		}
		if lagging == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w; %s", why, ctx.Err(), logTail(lagging.Log))
		case <-tick.C:
		}
	}
}

// logTail returns the last lines of a node's log, introduced as such.
func logTail(path string) string {
	if path == "" {
		return "no log"
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("no log (%v)", err)
	}
	defer f.Close()
	const max = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("last lines of %s:\n\t%s", path, strings.Join(lines, "\n\t"))
}

// NodeStatus is what Status reports of one node.
type NodeStatus struct {
	NodeInfo
	// Live: the process is alive.
	Live bool
	// Paused: the process is stopped (Pause); it is not probed.
	Paused bool
	// Healthy: it answered /healthz.
	Healthy bool
	// Alive lists the members it sees alive (nil if it did not answer).
	Alive []string
}

// Status loads the testnet in dir and probes each node's process, /healthz
// and /v1/members.
func Status(ctx context.Context, dir string) ([]NodeStatus, error) {
	st, err := Load(dir)
	if err != nil {
		return nil, err
	}
	// Without a readable secret, the nodes are probed without a token:
	// /v1/members then refuses, and Alive stays nil.
	token, _ := st.Token(time.Minute)
	out := make([]NodeStatus, len(st.Nodes))
	var wg sync.WaitGroup
	for i, n := range st.Nodes {
		out[i].NodeInfo = n
		wg.Go(func() {
			s := &out[i]
			s.Live = n.Running()
			if s.Paused = s.Live && n.Paused(); !s.Live || s.Paused {
				return
			}
			s.Healthy = healthy(ctx, n.API)
			if _, alive, err := Members(ctx, n.API, token); err == nil {
				s.Alive = alive
			}
		})
	}
	wg.Wait()
	return out, nil
}

// Token mints an admin token of the testnet's mesh, valid for ttl, for
// calls to its nodes' APIs.
func (st *State) Token(ttl time.Duration) (string, error) {
	s, err := mesh.LoadSecret(st.Secret)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	now := time.Now()
	return policy.SignToken(s.DeriveKey(policy.TokenKeyPurpose), &policy.Token{
		Name: "testnet", IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(), Grants: policy.Grants{Admin: true},
	})
}
