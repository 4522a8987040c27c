package replication

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// raftLogger is an hclog.Logger (what raft logs to) that passes raft's
// structured messages on to slog. hclog's own output is off: its sink
// interface sees every message with its key-value pairs, which slog takes
// as they are.
func raftLogger(l *slog.Logger, name string) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   name,
		Level:  hclog.Off,
		Output: io.Discard,
	})
	il.RegisterSink(slogSink{l})
	return il
}

type slogSink struct{ l *slog.Logger }

// routineWarnings are raft warnings that a healthy cluster logs whenever
// a group starts, elects or catches a replica up: with 33 groups per node
// they would drown the rest at warn level.
var routineWarnings = []string{
	"heartbeat timeout reached",
	"rejecting pre-vote request",
	"rejecting vote request",
	"appendEntries rejected, sending older logs",
	"failed to contact",
	"failed to get previous log",
	"no known peers, aborting election",
}

// Accept maps hclog's levels to slog's. A node runs dozens of groups, so
// raft's INFO (state changes, elections, pipelining) goes to debug, as do
// its routine warnings; warren logs what matters (leadership of the meta
// group, placement) itself.
func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case hclog.Trace, hclog.Debug, hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		lv = slog.LevelDebug
	case hclog.Warn:
		lv = slog.LevelWarn
		for _, r := range routineWarnings {
			if strings.HasPrefix(msg, r) {
				lv = slog.LevelDebug
				break
			}
		}
	case hclog.Error:
		lv = slog.LevelError
		// A replica removed from its group never learns that the entry
		// removing it committed, so it cannot snapshot; it is deleted
		// once the leader confirms the removal.
		if msg == "failed to take snapshot" {
			lv = slog.LevelDebug
		}
	default:
		return // hclog.Off
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lv) {
		return
	}
	for i, a := range args {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 { // hclog.Fmt("%+v", x)
			if format, ok := f[0].(string); ok {
				args[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	s.l.Log(ctx, lv, msg, append(args, "logger", name)...)
}
