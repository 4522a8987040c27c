package webapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

type logLine struct{ level, msg string }

type env struct {
	t    *testing.T
	vm   *goja.Runtime
	api  *API
	logs []logLine
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, vm: goja.New()}
	e.api = Install(e.vm, Options{
		Log:  func(level, msg string) { e.logs = append(e.logs, logLine{level, msg}) },
		Rand: bytes.NewReader(bytes.Repeat([]byte{0xAB}, 1<<20)),
		Now:  fakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond),
	})
	return e
}

// fakeClock advances by step on every reading.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	now := start
	return func() time.Time {
		t := now
		now = now.Add(step)
		return t
	}
}

// settled is String() of p's result, or "rejected: Name: message" (for
// Errors) / "rejected: value"; false while p is pending.
func settled(p *goja.Promise) (string, bool) {
	switch p.State() {
	case goja.PromiseStateFulfilled:
		return p.Result().String(), true
	case goja.PromiseStateRejected:
		r := p.Result()
		if o, ok := r.(*goja.Object); ok {
			if n := o.Get("name"); n != nil && !goja.IsUndefined(n) {
				return "rejected: " + n.String() + ": " + o.Get("message").String(), true
			}
		}
		return "rejected: " + r.String(), true
	}
	return "", false
}

// eval runs body as the body of an async function and returns String() of
// its result, or "rejected: Name: message" (for Errors) / "rejected: value".
func (e *env) eval(body string) string {
	e.t.Helper()
	v, err := e.vm.RunString("(async () => {\n" + body + "\n})()")
	if err != nil {
		e.t.Fatalf("running %q: %v", body, err)
	}
	p, ok := v.Export().(*goja.Promise)
	if !ok {
		e.t.Fatalf("not a promise: %v", v)
	}
	if s, ok := settled(p); ok {
		return s
	}
	e.t.Fatalf("promise still pending for %q", body)
	return ""
}

type jsCase struct {
	name string
	body string
	want string
}

func runCases(t *testing.T, cases []jsCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			got := e.eval(c.body)
			if strings.HasSuffix(c.want, "*") {
				if !strings.HasPrefix(got, strings.TrimSuffix(c.want, "*")) {
					t.Fatalf("got %q, want prefix %q", got, strings.TrimSuffix(c.want, "*"))
				}
				return
			}
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}
