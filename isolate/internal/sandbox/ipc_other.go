//go:build !unix

package sandbox

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"time"
)

// pipeConn is the host's end of a worker's channel on platforms without socketpair fd
// passing: the worker's stdin and stdout.
type pipeConn struct {
	r *os.File // reads the worker's stdout
	w *os.File // writes the worker's stdin
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *pipeConn) Close() error {
	err := c.r.Close()
	if err2 := c.w.Close(); err == nil {
		err = err2
	}
	return err
}

// SetDeadline is best effort: anonymous pipes may not support deadlines; killing the
// worker closes the pipe and unblocks a pending read anyway.
func (c *pipeConn) SetDeadline(t time.Time) error {
	c.r.SetDeadline(t)
	c.w.SetDeadline(t)
	return nil
}

type hostConn = *pipeConn

// newIPC wires the worker's stdin/stdout as its channel.
func newIPC(cmd *exec.Cmd) (hostConn, func(), error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, nil, err
	}
	cmd.Stdin = inR
	cmd.Stdout = outW
	return &pipeConn{r: outR, w: inW}, func() { inR.Close(); outW.Close() }, nil
}

// workerConn returns stdin/stdout as the channel and points os.Stdout at stderr so that
// stray prints cannot corrupt the protocol.
func workerConn() (io.ReadWriter, error) {
	in, out := os.Stdin, os.Stdout
	if in == nil || out == nil {
		return nil, errors.New("sandbox: no stdin/stdout channel")
	}
	os.Stdout = os.Stderr
	os.Stdin = nil
	return struct {
		io.Reader
		io.Writer
	}{in, out}, nil
}
