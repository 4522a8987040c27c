package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as the worker: the pool re-executes this test binary.
func TestMain(m *testing.M) {
	if IsWorker() {
		err := ServeEngine(func() (Engine, error) { return Engine{Handle: testHandler, Tidy: testTidy}, nil })
		fmt.Fprintln(os.Stderr, "Serve returned:", err)
		os.Exit(99)
	}
	if os.Getenv(envTestParent) == "1" {
		runTestParent()
	}
	goleak.VerifyTestMain(m)
}

// leftWork is the work between calls the last "leave" or "leaveburn" request left
// (testTidy); leftBurn says it is CPU time, not a sleep.
var (
	leftWork time.Duration
	leftBurn bool
)

// testTidy is the test worker's Engine.Tidy: the work a "leave" request left, a sleep,
// or a "leaveburn" request's, CPU time.
func testTidy() func() {
	d, burn := leftWork, leftBurn
	if d == 0 {
		return nil
	}
	leftWork, leftBurn = 0, false
	if burn {
		return func() { burnCPU(d) }
	}
	return func() { time.Sleep(d) }
}

// burnCPU spins for d of the process's CPU time (of wall time where the CPU clock
// cannot be read).
func burnCPU(d time.Duration) {
	t0 := time.Now()
	c0, err := processCPUTime(os.Getpid())
	for {
		c, err2 := processCPUTime(os.Getpid())
		if err != nil || err2 != nil {
			if time.Since(t0) >= d {
				return
			}
		} else if c-c0 >= d {
			return
		}
	}
}

// testHandler interprets "verb arg" requests.
func testHandler(ctx context.Context, req []byte, call func([]byte) ([]byte, error)) []byte {
	verb, arg, _ := strings.Cut(string(req), " ")
	n, _ := strconv.Atoi(arg)
	switch verb {
	case "echo":
		return []byte(arg)
	case "leave": // n ms of work to do between calls (testTidy); answers the pid
		leftWork = time.Duration(n) * time.Millisecond
		return []byte(strconv.Itoa(workerPID()))
	case "leaveburn": // n ms of CPU time to use between calls (testTidy); answers the pid
		leftWork, leftBurn = time.Duration(n)*time.Millisecond, true
		return []byte(strconv.Itoa(workerPID()))
	case "pid": // as the host sees it
		return []byte(strconv.Itoa(workerPID()))
	case "uid":
		return []byte(strconv.Itoa(os.Getuid()) + " " + strconv.Itoa(os.Geteuid()) + " " + strconv.Itoa(os.Getgid()))
	case "read": // the file arg (through WritablePath when its directory is one of the pool's)
		b, err := os.ReadFile(filepath.Join(WritablePath(filepath.Dir(arg)), filepath.Base(arg)))
		if err != nil {
			return []byte("error: " + err.Error())
		}
		return []byte("read " + strconv.Itoa(len(b)))
	case "write": // the file arg, in one of Config.WritableDirs
		if err := os.WriteFile(filepath.Join(WritablePath(filepath.Dir(arg)), filepath.Base(arg)), []byte("x"), 0o644); err != nil {
			return []byte("error: " + err.Error())
		}
		return []byte("wrote")
	case "threads": // n OS threads, each blocked in a read that never returns
		r, _, err := os.Pipe()
		if err != nil {
			return []byte("error: " + err.Error())
		}
		started := make(chan struct{})
		for range n {
			go func() {
				runtime.LockOSThread()
				started <- struct{}{}
				var b [1]byte
				syscall.Read(int(r.Fd()), b[:])
			}()
			<-started // its thread is its own from here on
		}
		return []byte("threads " + strconv.Itoa(n))
	case "procs": // the processes /proc shows
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return []byte("error: " + err.Error())
		}
		var pids []string
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, e.Name())
			}
		}
		return []byte(strings.Join(pids, ","))
	case "exec": // start the program arg
		if err := exec.Command(arg).Run(); err != nil {
			return []byte("error: " + err.Error())
		}
		return []byte("ran")
	case "fds": // its open descriptors, n=what each is
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return []byte("error: " + err.Error())
		}
		var fds []string
		for _, e := range ents {
			to, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fds = append(fds, e.Name()+"="+to)
		}
		return []byte(strings.Join(fds, ","))
	case "session": // its session and its pid, as it sees them
		sid, _, _ := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
		return []byte(strconv.Itoa(int(sid)) + " " + strconv.Itoa(os.Getpid()))
	case "clonens": // a process in a new user namespace (it exits at once)
		r, _, errno := syscall.RawSyscall(syscall.SYS_CLONE, syscall.CLONE_NEWUSER|uintptr(syscall.SIGCHLD), 0, 0)
		if errno != 0 {
			return []byte("error: " + errno.Error())
		}
		if r == 0 { // the child
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		}
		var ws syscall.WaitStatus
		syscall.Wait4(int(r), &ws, 0, nil)
		return []byte("cloned")
	case "kill": // signal 0 to process n (whether it may signal it)
		if err := syscall.Kill(n, 0); err != nil {
			return []byte("error: " + err.Error())
		}
		return []byte("signalled")
	case "dial": // a TCP connection to arg
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err != nil {
			return []byte("error: " + err.Error())
		}
		c.Close()
		return []byte("connected")
	case "cb": // n callbacks, answers joined by ","
		var out []string
		for i := range n {
			ans, err := call([]byte(strconv.Itoa(i)))
			if err != nil {
				return []byte("error: " + err.Error())
			}
			out = append(out, string(ans))
		}
		return []byte(strings.Join(out, ","))
	case "cbspin": // one callback, then spin forever
		call([]byte("spin"))
		//lint:ignore SA5002 the worker must spin
		for {
		}
	case "spin":
		//lint:ignore SA5002 the worker must spin
		for {
		}
	case "burnpid": // "burn n", then its pid
		testHandler(ctx, []byte("burn "+arg), call)
		return []byte(strconv.Itoa(workerPID()))
	case "burnsleep": // "burn n", then sleep 10n ms
		testHandler(ctx, []byte("burn "+arg), call)
		time.Sleep(10 * time.Duration(n) * time.Millisecond)
		return []byte("slept")
	case "nap": // sleep n ms: a short call, as far as the demoter can tell
		time.Sleep(time.Duration(n) * time.Millisecond)
		return []byte("slept")
	case "nappid": // sleep n ms, then answer the pid
		time.Sleep(time.Duration(n) * time.Millisecond)
		return []byte(strconv.Itoa(workerPID()))
	case "burnnap": // "burn 22" (just past a DemoteAfter of 20 ms), then sleep n ms
		testHandler(ctx, []byte("burn 22"), call)
		time.Sleep(time.Duration(n) * time.Millisecond)
		return []byte("slept")
	case "burn": // n ms of CPU time (of wall time where the CPU clock cannot be read)
		burnCPU(time.Duration(n) * time.Millisecond)
		return []byte("burnt")
	case "alloc": // n MiB, every page touched
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		return []byte("allocated " + strconv.Itoa(len(b)))
	case "exit":
		fmt.Fprintf(os.Stderr, "exiting with %d\n", n)
		os.Exit(n)
	case "panic":
		panic("boom")
	case "big":
		return bytes.Repeat([]byte{'x'}, n)
	}
	return []byte("unknown verb " + verb)
}

const envTestParent = "SANDBOX_TEST_PARENT"

// runTestParent is a pool host in a child process: it prints its workers' pids and its
// cgroup directory, keeps one worker busy, prints "ready" and waits to be killed.
func runTestParent() {
	var mu sync.Mutex
	p, err := NewPool(Config{Workers: 2, testHookSpawn: func(pid int) {
		mu.Lock()
		fmt.Printf("pid %d\n", pid)
		mu.Unlock()
	}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s := p.Stats(); s.Workers != 2 || s.Spares != 1; s = p.Stats() {
		if time.Now().After(deadline) {
			fmt.Println("error: workers did not start")
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
	// One worker spins: it can only die with us through Pdeathsig (the idle ones would
	// also see their channel close).
	go p.Call(context.Background(), []byte("spin"), CallOptions{}, nil)
	for p.Stats().Busy != 1 {
		if time.Now().After(deadline) {
			fmt.Println("error: spin call did not start")
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	if p.cg != nil {
		fmt.Printf("cgroup %s\n", p.cg.dir)
	}
	fmt.Println("ready")
	mu.Unlock()
	select {}
}

func newTestPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func call(t testing.TB, p *Pool, req string) string {
	t.Helper()
	resp, err := p.Call(context.Background(), []byte(req), CallOptions{}, nil)
	if err != nil {
		t.Fatalf("Call(%q): %v", req, err)
	}
	return string(resp)
}

func crashErr(t *testing.T, err error) *CrashError {
	t.Helper()
	var ce *CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CrashError, got %T %v", err, err)
	}
	return ce
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEcho(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2})
	for i := range 100 {
		want := "hello " + strconv.Itoa(i)
		if got := call(t, p, "echo "+want); got != want {
			t.Fatalf("echo: got %q want %q", got, want)
		}
	}
	// Empty and large payloads.
	if got := call(t, p, "echo "); got != "" {
		t.Fatalf("empty echo: %q", got)
	}
	big := strings.Repeat("y", 3<<20)
	if got := call(t, p, "echo "+big); got != big {
		t.Fatalf("3 MiB echo: got %d bytes", len(got))
	}
	// The worker is another process.
	if pid := call(t, p, "pid"); pid == strconv.Itoa(os.Getpid()) {
		t.Fatal("handler ran in the test process")
	}
	waitFor(t, 10*time.Second, "workers and spare", func() bool {
		s := p.Stats()
		return s.Workers == 2 && s.Spares == 1
	})
	s := p.Stats()
	t.Logf("stats: %+v", s)
	if s.Idle != 2 || s.Busy != 0 || s.Spawned != 3 || s.Killed != 0 || s.Crashed != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if !slices.Contains(s.Layers, "process") {
		t.Fatalf("layers %v", s.Layers)
	}
	if runtime.GOOS == "linux" && !slices.Contains(s.Layers, "rlimit-as") && !slices.Contains(s.Layers, cgroupLayer) {
		t.Fatalf("no memory layer on linux: %v", s.Layers)
	}
}

func TestTooLarge(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	_, err := p.Call(context.Background(), make([]byte, MaxFrameSize+1), CallOptions{}, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if s := p.Stats(); s.Killed+s.Crashed != 0 {
		t.Fatalf("a too-large request cost a worker: %+v", s)
	}
}

func TestCallbacksInOrder(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2})
	var seen []string
	resp, err := p.Call(context.Background(), []byte("cb 50"), CallOptions{}, func(msg []byte) ([]byte, error) {
		seen = append(seen, string(msg))
		return []byte("a" + string(msg)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, wantSeen []string
	for i := range 50 {
		wantSeen = append(wantSeen, strconv.Itoa(i))
		want = append(want, "a"+strconv.Itoa(i))
	}
	if !slices.Equal(seen, wantSeen) {
		t.Fatalf("callbacks seen %v", seen)
	}
	if string(resp) != strings.Join(want, ",") {
		t.Fatalf("response %q", resp)
	}

	// A failing callback reaches the handler as a *CallError; the worker survives.
	resp, err = p.Call(context.Background(), []byte("cb 1"), CallOptions{}, func(msg []byte) ([]byte, error) {
		return nil, errors.New("binding unavailable")
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "error: sandbox: host callback failed: binding unavailable"; string(resp) != want {
		t.Fatalf("got %q want %q", resp, want)
	}
	// No onCall at all.
	resp, err = p.Call(context.Background(), []byte("cb 1"), CallOptions{}, nil)
	if err != nil || !strings.Contains(string(resp), "no callback handler") {
		t.Fatalf("nil onCall: %q %v", resp, err)
	}
	if s := p.Stats(); s.Killed+s.Crashed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDeadlineKillsAndPoolRecovers(t *testing.T) {
	for _, spares := range []int{-1, 1} {
		t.Run(fmt.Sprintf("spares=%d", spares), func(t *testing.T) {
			p := newTestPool(t, Config{Workers: 1, Spares: spares})
			start := time.Now()
			_, err := p.Call(context.Background(), []byte("spin"), CallOptions{Deadline: start.Add(200 * time.Millisecond)}, nil)
			el := time.Since(start)
			ce := crashErr(t, err)
			if ce.Reason != "deadline" || ce.MemoryExceeded {
				t.Fatalf("crash error %+v", ce)
			}
			if runtime.GOOS != "windows" && ce.Signal != "SIGKILL" {
				t.Fatalf("signal %q, want SIGKILL", ce.Signal)
			}
			if el < 200*time.Millisecond || el > 5*time.Second {
				t.Fatalf("deadline call took %v", el)
			}
			for i := range 20 {
				if got := call(t, p, "echo "+strconv.Itoa(i)); got != strconv.Itoa(i) {
					t.Fatalf("echo after kill: %q", got)
				}
			}
			if s := p.Stats(); s.Killed != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestPastDeadline(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	_, err := p.Call(context.Background(), []byte("echo x"), CallOptions{Deadline: time.Now().Add(-time.Second)}, nil)
	if ce := crashErr(t, err); ce.Reason != "deadline" {
		t.Fatalf("%+v", ce)
	}
	if s := p.Stats(); s.Killed != 0 {
		t.Fatalf("a past deadline killed a worker: %+v", s)
	}
}

func TestCrash(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	_, err := p.Call(context.Background(), []byte("exit 3"), CallOptions{}, nil)
	ce := crashErr(t, err)
	if ce.Reason != "crash" || ce.ExitCode != 3 || ce.Signal != "" || ce.MemoryExceeded {
		t.Fatalf("crash error %+v", ce)
	}
	if !strings.Contains(ce.Stderr, "exiting with 3") {
		t.Fatalf("stderr %q", ce.Stderr)
	}
	t.Log(ce)

	_, err = p.Call(context.Background(), []byte("panic"), CallOptions{}, nil)
	ce = crashErr(t, err)
	if ce.Reason != "crash" || ce.ExitCode != 2 || !strings.Contains(ce.Stderr, "panic: boom") {
		t.Fatalf("panic crash error %+v", ce)
	}
	if len(ce.Stderr) > outputHead+outputTail+64 {
		t.Fatalf("stderr tail of %d bytes", len(ce.Stderr))
	}
	if got := call(t, p, "echo ok"); got != "ok" {
		t.Fatalf("echo after crash: %q", got)
	}
	if s := p.Stats(); s.Crashed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOversizeFrameIsIPCError(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	_, err := p.Call(context.Background(), []byte("big "+strconv.Itoa(MaxFrameSize+1)), CallOptions{}, nil)
	if ce := crashErr(t, err); ce.Reason != "ipc" {
		t.Fatalf("%+v", ce)
	}
	if got := call(t, p, "echo ok"); got != "ok" {
		t.Fatalf("echo after ipc error: %q", got)
	}
}

func testMemoryBomb(t *testing.T, cfg Config, layer string) {
	cfg.Workers = 1
	cfg.MemoryLimitBytes = 128 << 20
	p := newTestPool(t, cfg)
	// A small allocation fits.
	if got := call(t, p, "alloc 16"); got != "allocated "+strconv.Itoa(16<<20) {
		t.Fatalf("alloc 16: %q", got)
	}
	s := p.Stats()
	if !slices.Contains(s.Layers, layer) {
		t.Skipf("layer %s not active here (layers %v)", layer, s.Layers)
	}
	_, err := p.Call(context.Background(), []byte("alloc 1024"), CallOptions{Deadline: time.Now().Add(60 * time.Second)}, nil)
	ce := crashErr(t, err)
	t.Logf("memory bomb: %v (stderr tail %d bytes)", ce, len(ce.Stderr))
	if !ce.MemoryExceeded || ce.Reason != "memory" {
		t.Fatalf("crash error %+v", ce)
	}
	if got := call(t, p, "echo ok"); got != "ok" {
		t.Fatalf("echo after memory bomb: %q", got)
	}
}

func TestMemoryLimitCgroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("cgroups are linux-only")
	}
	testMemoryBomb(t, Config{}, cgroupLayer)
}

func TestMemoryLimitRlimitAS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RLIMIT_AS is applied on linux only")
	}
	testMemoryBomb(t, Config{CgroupRoot: "-"}, "rlimit-as")
}

// One worker being killed over and over never disturbs calls on the others.
func TestConcurrentCallsWhileKilling(t *testing.T) {
	p := newTestPool(t, Config{Workers: 4})
	const kills = 6
	var stop atomic.Bool
	var wg sync.WaitGroup
	var echoes atomic.Int64
	errs := make(chan error, 16)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				want := fmt.Sprintf("%d-%d", g, i)
				got, err := p.Call(context.Background(), []byte("echo "+want), CallOptions{Deadline: time.Now().Add(30 * time.Second)}, nil)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("echo %s: %q %v", want, got, err)
					return
				}
				echoes.Add(1)
			}
		}()
	}
	for i := range kills {
		var err error
		if i%2 == 0 {
			_, err = p.Call(context.Background(), []byte("spin"), CallOptions{Deadline: time.Now().Add(50 * time.Millisecond)}, nil)
		} else {
			_, err = p.Call(context.Background(), []byte("exit 1"), CallOptions{}, nil)
		}
		if err == nil {
			t.Fatal("killer call succeeded")
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := p.Stats()
	t.Logf("%d echoes during %d kills; stats %+v", echoes.Load(), kills, s)
	if s.Killed+s.Crashed != kills {
		t.Fatalf("stats %+v", s)
	}
}

// A worker that dies while idle is replaced; calls do not fail because of it, even when
// they pick it up before the pool has noticed.
func TestIdleWorkerDeath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses unix signals")
	}
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	for i := range 5 {
		pid, _ := strconv.Atoi(call(t, p, "pid"))
		if err := killProcess(pid); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the worker to exit", func() bool { return processGone(pid) == nil || exitedUnreaped(pid) })
		if got := call(t, p, "echo "+strconv.Itoa(i)); got != strconv.Itoa(i) {
			t.Fatalf("echo: %q", got)
		}
	}
	waitFor(t, 10*time.Second, "crash count", func() bool { return p.Stats().Crashed == 5 })
}

func TestCtxCanceledWhileWaiting(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	entered := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), []byte("cb 1"), CallOptions{}, func([]byte) ([]byte, error) {
			close(entered)
			<-release
			return []byte("x"), nil
		})
		done <- err
	}()
	<-entered // the only worker is now busy
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, []byte("echo y"), CallOptions{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	var ce *CrashError
	if errors.As(err, &ce) {
		t.Fatalf("waiting caller got a CrashError: %v", err)
	}
	if s := p.Stats(); s.Waiting != 0 {
		t.Fatalf("waiter left behind: %+v", s)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("busy call: %v", err)
	}
	if got := call(t, p, "echo z"); got != "z" {
		t.Fatal(got)
	}
	if s := p.Stats(); s.Killed+s.Crashed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCtxCanceledDuringCall(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := p.Call(ctx, []byte("cbspin"), CallOptions{}, func([]byte) ([]byte, error) {
		cancel() // the worker spins after this answer
		return nil, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want Canceled", err)
	}
	if got := call(t, p, "echo ok"); got != "ok" {
		t.Fatal(got)
	}
	if s := p.Stats(); s.Killed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseDuringCall(t *testing.T) {
	p, err := NewPool(Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), []byte("cbspin"), CallOptions{}, func([]byte) ([]byte, error) {
			close(entered)
			return nil, nil
		})
		done <- err
	}()
	<-entered
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight call: %v, want ErrClosed", err)
	}
	if _, err := p.Call(context.Background(), []byte("echo x"), CallOptions{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseLeavesNoChildren(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	var pids []int
	p, err := NewPool(Config{Workers: 3, testHookSpawn: func(pid int) {
		mu.Lock()
		pids = append(pids, pid)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	call(t, p, "echo a")
	if _, err := p.Call(context.Background(), []byte("exit 5"), CallOptions{}, nil); err == nil {
		t.Fatal("exit call succeeded")
	}
	_, _ = p.Call(context.Background(), []byte("spin"), CallOptions{Deadline: time.Now().Add(20 * time.Millisecond)}, nil)
	waitFor(t, 10*time.Second, "refill", func() bool {
		s := p.Stats()
		return s.Workers == 3 && s.Spares == 1
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pids) < 6 {
		t.Fatalf("only %d workers started: %v", len(pids), pids)
	}
	for _, pid := range pids {
		if err := processGone(pid); err != nil {
			t.Errorf("worker %d: %v", pid, err)
		}
	}
	if s := p.Stats(); s.Workers+s.Spares+s.Starting != 0 {
		t.Fatalf("stats after close %+v", s)
	}
}

func TestNewPoolFailures(t *testing.T) {
	_, err := NewPool(Config{Workers: 1, Command: func() *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "missing")) }})
	if err == nil {
		t.Fatal("NewPool with a missing binary succeeded")
	}
	t.Log(err)
	if runtime.GOOS == "windows" {
		return
	}
	// A binary that exits instead of serving.
	_, err = NewPool(Config{Workers: 1, Command: func() *exec.Cmd {
		return exec.Command("/bin/sh", "-c", "echo not a worker >&2; exit 4")
	}})
	if err == nil || !strings.Contains(err.Error(), "not a worker") {
		t.Fatalf("NewPool with a non-worker: %v", err)
	}
}
