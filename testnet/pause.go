package testnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Pause stops the node called name with SIGSTOP, as a wedged or swapped-out
// host would be: its sockets stay open but it answers nothing. Peers see it
// die; Resume lets it go on. Not available on Windows.
func Pause(dir, name string) error {
	return signalRunning(dir, name, pauseSignal, "pause")
}

// Resume continues a paused node (SIGCONT); it rejoins the mesh by itself.
func Resume(dir, name string) error {
	return signalRunning(dir, name, resumeSignal, "resume")
}

func signalRunning(dir, name string, sig os.Signal, what string) error {
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
