package contract

import (
	"fmt"
	"iter"
	"unicode/utf8"
)

// What one call reports is bounded, so that a flood of logs or a huge
// exception never costs the call its result: in a sandbox worker the
// result travels to the node in one frame of at most 64 MiB, and a larger
// frame kills the worker and loses everything. The worst case, a response
// of MaxResponseBytes with full logs and exceptions, is about 40 MiB.
const (
	// MaxLogBytes bounds the bytes of log messages a call keeps. The first
	// message that does not fit is dropped, and so is every later one; one
	// final entry (level "warn") then says how many messages and bytes were
	// dropped.
	MaxLogBytes = 1 << 20
	// MaxLogs bounds the number of log entries a call keeps, in the same way.
	MaxLogs = 10_000
	// MaxLogMessageBytes bounds one log message, marker included: a longer
	// one is cut, with a marker saying how many bytes were cut.
	MaxLogMessageBytes = 256 << 10
	// MaxExceptionFieldBytes bounds the name, the message and the stack of
	// an exception, each, marker included; a longer one is cut with a
	// marker.
	MaxExceptionFieldBytes = 64 << 10
	// MaxExceptions bounds the exceptions a call reports (the one that ended
	// it always among them); one final entry says how many more were dropped.
	MaxExceptions = 32
	// MaxResponseBytes bounds a response, body and headers together; a
	// larger one is a RangeError (outcome exception).
	MaxResponseBytes = 32 << 20
	// MaxFetchHeaderBytes bounds the head of a request a Worker fetches
	// (egress or a Durable Object's fetch): its method and its headers'
	// names and values, each header counted 4 bytes more (": " and its
	// line's end), as Cloudflare takes 128 KB of headers; more rejects
	// with a TypeError (CheckFetchHead).
	MaxFetchHeaderBytes = 128 << 10
)

// CheckFetchHead refuses a fetch whose method and headers (name, value)
// count more than MaxFetchHeaderBytes. The engine checks it before it
// sends a fetch, and the node again as it takes one.
func CheckFetchHead(method string, headers iter.Seq2[string, string]) error {
	size := len(method)
	for name, value := range headers {
		size += len(name) + len(value) + 4
	}
	if size > MaxFetchHeaderBytes {
		return fmt.Errorf("fetch: the request's method and headers are %d bytes, more than %d (128 KiB; the method counts its length, each header its name, its value and 4 bytes)", size, MaxFetchHeaderBytes)
	}
	return nil
}

// MaxErrorBytes bounds Result.Error, which may quote the guest.
const MaxErrorBytes = MaxExceptionFieldBytes

// truncated marks the runtime's own entries among a guest's logs and
// exceptions.
const TruncatedName = "Truncated"

// CutText returns s cut to at most max bytes, marker included, on a
// character boundary, with a marker saying how many bytes were cut; extra
// is added to that number (bytes cut from s before it got here). A text
// cut once is not cut again.
func CutText(s string, limit, extra int) string {
	if len(s) <= limit && extra == 0 {
		return s
	}
	// The marker is sized for the most bytes it could report.
	n := limit - len(cutMarker(len(s)+extra))
	n = min(max(n, 0), len(s))
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + cutMarker(len(s)-n+extra)
}

func cutMarker(n int) string { return fmt.Sprintf("… [%d more bytes cut]", n) }

// LogBook keeps the logs of one call within MaxLogs and MaxLogBytes.
type LogBook struct {
	logs    []Log
	bytes   int
	dropped int // messages dropped
	lost    int // their bytes
}

func (b *LogBook) Add(ts int64, level, msg string) {
	msg = CutText(msg, MaxLogMessageBytes, 0) // console messages come cut
	if b.dropped == 0 && len(b.logs) < MaxLogs && b.bytes+len(msg) <= MaxLogBytes {
		b.bytes += len(msg)
		b.logs = append(b.logs, Log{Timestamp: ts, Level: level, Message: msg})
		return
	}
	b.dropped++
	b.lost += len(msg)
}

// list returns the logs kept, followed by an entry about those dropped.
// The slice is the caller's.
func (b *LogBook) List(now int64) []Log {
	if len(b.logs) == 0 && b.dropped == 0 {
		return []Log{}
	}
	out := make([]Log, len(b.logs), len(b.logs)+1)
	copy(out, b.logs)
	if b.dropped > 0 {
		out = append(out, Log{Timestamp: now, Level: "warn", Message: fmt.Sprintf(
			"warren: %d more log message%s (%d bytes) dropped: a call keeps at most %d messages and %d bytes of logs",
			b.dropped, Plural(b.dropped), b.lost, MaxLogs, MaxLogBytes)})
	}
	return out
}

// Plural is "s" unless n is 1.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// boundException cuts each field of e to MaxExceptionFieldBytes.
func boundException(e Exception) Exception {
	e.Name = CutText(e.Name, MaxExceptionFieldBytes, 0)
	e.Message = CutText(e.Message, MaxExceptionFieldBytes, 0)
	e.Stack = CutText(e.Stack, MaxExceptionFieldBytes, 0)
	return e
}

// ExceptionBook keeps the exceptions of one call within MaxExceptions,
// leaving room for the one that ends the call.
type ExceptionBook struct {
	list    []Exception
	dropped int
}

func (b *ExceptionBook) Add(e Exception) {
	if len(b.list) < MaxExceptions-1 {
		b.list = append(b.list, boundException(e))
		return
	}
	b.dropped++
}

// result returns the exceptions kept, then last (the one that ended the
// call, if any), then an entry about those dropped. The slice is the
// caller's.
func (b *ExceptionBook) Result(last *Exception, now int64) []Exception {
	if len(b.list) == 0 && last == nil && b.dropped == 0 {
		return []Exception{}
	}
	out := make([]Exception, len(b.list), len(b.list)+2)
	copy(out, b.list)
	if last != nil {
		out = append(out, boundException(*last))
	}
	if b.dropped > 0 {
		out = append(out, Exception{Timestamp: now, Name: TruncatedName, Message: fmt.Sprintf(
			"warren: %d more exception%s dropped: a call reports at most %d", b.dropped, Plural(b.dropped), MaxExceptions)})
	}
	return out
}

// BoundResult enforces the bounds on the fields of what res reports,
// whichever path built it.
func BoundResult(res *Result) {
	for i := range res.Exceptions {
		res.Exceptions[i] = boundException(res.Exceptions[i])
	}
	res.Error = CutText(res.Error, MaxErrorBytes, 0)
}
