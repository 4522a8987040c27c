package testnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Pause stops the node called name with SIGSTOP, as a wedged or swapped-out
// host would be: its sockets stay open but it answers nothing. Peers see it
// die; Resume lets it go on. Where /proc shows process states, it returns
// once the process is stopped. Not available on Windows.
func Pause(dir, name string) error {
	return signalRunning(dir, name, pauseSignal, "pause", true)
}

// Resume continues a paused node (SIGCONT); it rejoins the mesh by itself.
func Resume(dir, name string) error {
	return signalRunning(dir, name, resumeSignal, "resume", false)
}

// signalRunning sends sig to the node called name and, where /proc shows
// process states, waits until the process is (or is no longer) stopped.
func signalRunning(dir, name string, sig os.Signal, what string, stopped bool) error {
	if sig == nil {
		return fmt.Errorf("testnet: %s is not supported on this platform", what)
	}
	_, n, err := loadNode(dir, name)
	if err != nil {
		return err
	}
	if !n.Running() {
		return fmt.Errorf("testnet: cannot %s %s: it is not running", what, name)
	}
	p, err := os.FindProcess(n.PID)
	if err != nil {
		return fmt.Errorf("testnet: %s %s: %w", what, name, err)
	}
	defer p.Release()
	if err := p.Signal(sig); err != nil {
		return fmt.Errorf("testnet: %s %s (pid %d): %w", what, name, n.PID, err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(n.PID) + "/stat"); err != nil {
		return nil // no process states to watch here
	}
	// The signal is delivered asynchronously.
	deadline := time.Now().Add(killWait)
	for n.Paused() != stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: %s %s (pid %d): its state did not change within %v", what, name, n.PID, killWait)
		}
		time.Sleep(pollEvery / 10)
	}
	return nil
}

// Paused reports whether n's process is stopped by a signal (Linux: its
// state in /proc is T); false where that cannot be told.
func (n NodeInfo) Paused() bool {
	if n.PID <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(n.PID) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the command may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'T'
}
