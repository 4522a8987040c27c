package sandbox

import (
	"bytes"
	"strconv"
	"strings"
)

const (
	outputHead = 1 << 10 // first bytes kept: where Go prints "fatal error:" / "panic:"
	outputTail = 3 << 10 // last bytes kept
)

// oomMarkers are what the Go runtime prints when the address space or the memory runs out
// (e.g. "fatal error: runtime: out of memory", "cannot allocate memory", errno=12 when a
// thread cannot be created).
var oomMarkers = [][]byte{
	[]byte("out of memory"),
	[]byte("cannot allocate memory"),
	[]byte("errno=12"),
	[]byte("address space collisions"), // -race builds whose heap cannot grow
}

const markerCarry = 32 // > longest marker

// output keeps a bounded picture of a worker's stdout+stderr: the head, the tail and
// whether an out-of-memory marker went by. Written by one goroutine; read after it is done.
type output struct {
	head  []byte
	tail  []byte // ring-free: compacted when it grows past 2*outputTail
	total int64
	carry []byte
	oom   bool
}

func (o *output) write(p []byte) {
	o.total += int64(len(p))
	if !o.oom {
		scan := append(o.carry, p...)
		for _, m := range oomMarkers {
			if bytes.Contains(scan, m) {
				o.oom = true
			}
		}
		if len(scan) > markerCarry {
			scan = scan[len(scan)-markerCarry:]
		}
		o.carry = append(o.carry[:0], scan...)
	}
	if room := outputHead - len(o.head); room > 0 {
		n := min(room, len(p))
		o.head = append(o.head, p[:n]...)
		p = p[n:]
	}
	o.tail = append(o.tail, p...)
	if len(o.tail) > 2*outputTail {
		o.tail = append(o.tail[:0], o.tail[len(o.tail)-outputTail:]...)
	}
}

// String returns the head and the tail, with a marker for what was left out between them
// (at most outputHead+outputTail bytes plus the marker).
func (o *output) String() string {
	tail := o.tail
	if len(tail) > outputTail {
		tail = tail[len(tail)-outputTail:]
	}
	skipped := o.total - int64(len(o.head)) - int64(len(tail))
	if skipped <= 0 {
		return string(o.head) + string(tail)
	}
	return string(o.head) + "\n… [" + strconv.FormatInt(skipped, 10) + " bytes skipped] …\n" + string(tail)
}

// summary picks the most telling line of a worker's output: the first Go "fatal error:" or
// "panic:" line, else the last line.
func summary(s string) string {
	line := ""
	for _, prefix := range []string{"fatal error:", "panic:"} {
		if i := strings.Index(s, prefix); i >= 0 && (i == 0 || s[i-1] == '\n') {
			line = s[i:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			break
		}
	}
	if line == "" {
		s = strings.TrimRight(s, "\r\n\t ")
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		line = s
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return line
}
