package webapi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// Limits of console formatting, so that logging a huge value stays cheap.
const (
	inspectDepth    = 2
	inspectMaxItems = 100
	inspectMaxKeys  = 200
	// inspectMaxString bounds a string nested in an inspected value.
	inspectMaxString = 10000
	// DefaultMaxMessage is the bytes of one console message kept when
	// Options.MaxMessage is 0.
	DefaultMaxMessage = 1 << 20
	// maxIndent bounds the console.group depth that indents messages, so a
	// million groups cannot turn every newline into megabytes of padding.
	maxIndent = 32
)

type consoleState struct {
	counts map[string]int
	timers map[string]time.Time
	indent int
}

func (a *API) consoleState() *consoleState {
	if a.console == nil {
		a.console = &consoleState{}
	}
	return a.console
}

// message is one console message being built. It keeps at most max bytes
// (and a partial character) and only counts the rest, so a huge argument
// costs a bounded copy and the cut can be reported. Newlines are followed
// by pad (console.group indentation) as they are written.
type message struct {
	b     strings.Builder
	max   int
	pad   string
	total int  // bytes written, kept or not
	short bool // a rendering stopped early: total is a lower bound
}

// newMessage starts a message, indented by the current console.group depth.
func (a *API) newMessage() *message {
	m := &message{max: a.maxMessage}
	if n := min(a.consoleState().indent, maxIndent); n > 0 {
		m.pad = strings.Repeat("  ", n)
		m.put(m.pad)
	}
	return m
}

func (m *message) put(s string) {
	m.total += len(s)
	if room := m.max + utf8.UTFMax - m.b.Len(); room > 0 {
		m.b.WriteString(s[:min(len(s), room)])
	}
}

func (m *message) WriteString(s string) (int, error) {
	n := len(s)
	switch {
	case m.pad == "":
		m.put(s)
	case m.full():
		m.total += len(s) + strings.Count(s, "\n")*len(m.pad)
	default:
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				break
			}
			m.put(s[:i+1])
			m.put(m.pad)
			s = s[i+1:]
		}
		m.put(s)
	}
	return n, nil
}

func (m *message) Write(p []byte) (int, error) { return m.WriteString(string(p)) }

func (m *message) WriteByte(c byte) error {
	_, err := m.WriteString(string([]byte{c}))
	return err
}

// full reports whether the message holds all it will keep: writing more
// only counts.
func (m *message) full() bool { return m.total > m.max }

// String is the message, cut to at most max bytes (on a character
// boundary) with a marker, included in the max, saying how many bytes
// were cut.
func (m *message) String() string {
	s := m.b.String()
	if m.total <= m.max {
		return s
	}
	marker := func(cut int) string {
		if m.short {
			return fmt.Sprintf("… [at least %d more bytes cut]", cut)
		}
		return fmt.Sprintf("… [%d more bytes cut]", cut)
	}
	// The marker is sized for the most bytes it could report.
	n := min(max(m.max-len(marker(m.total)), 0), len(s))
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker(m.total-n)
}

func logMethod(name, level string) member {
	return method(name, 0, func(a *API, call goja.FunctionCall) goja.Value {
		if a.log != nil {
			m := a.newMessage()
			a.format(m, call.Arguments)
			a.emit(level, m)
		}
		return goja.Undefined()
	})
}

func (a *API) emit(level string, m *message) {
	if a.log == nil {
		return
	}
	a.log(level, m.String())
}

// emitString logs a message made of the given parts.
func (a *API) emitString(level string, parts ...string) {
	if a.log == nil {
		return
	}
	m := a.newMessage()
	for _, p := range parts {
		m.WriteString(p)
	}
	a.emit(level, m)
}

func (a *API) label(call goja.FunctionCall) string {
	if v := call.Argument(0); !goja.IsUndefined(v) {
		return a.str(v)
	}
	return "default"
}

var consoleMembers = newMembers(
	logMethod("log", "log"),
	logMethod("info", "info"),
	logMethod("warn", "warn"),
	logMethod("error", "error"),
	logMethod("debug", "debug"),
	logMethod("dir", "log"),
	logMethod("dirxml", "log"),
	method("trace", 0, func(a *API, call goja.FunctionCall) goja.Value {
		if a.log != nil {
			m := a.newMessage()
			m.WriteString("Trace")
			if len(call.Arguments) > 0 {
				m.WriteString(": ")
				a.format(m, call.Arguments)
			}
			for _, f := range a.vm.CaptureCallStack(10, nil) {
				m.WriteString("\n    at ")
				if n := f.FuncName(); n != "" {
					m.WriteString(n + " ")
				}
				m.WriteString("(" + f.Position().String() + ")")
			}
			a.emit("log", m)
		}
		return goja.Undefined()
	}),
	method("assert", 0, func(a *API, call goja.FunctionCall) goja.Value {
		if call.Argument(0).ToBoolean() {
			return goja.Undefined()
		}
		if a.log == nil {
			return goja.Undefined()
		}
		m := a.newMessage()
		m.WriteString("Assertion failed")
		if len(call.Arguments) > 1 {
			m.WriteString(": ")
			a.format(m, call.Arguments[1:])
		}
		a.emit("error", m)
		return goja.Undefined()
	}),
	method("count", 0, func(a *API, call goja.FunctionCall) goja.Value {
		c, l := a.consoleState(), a.label(call)
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[l]++
		a.emitString("info", l, ": ", strconv.Itoa(c.counts[l]))
		return goja.Undefined()
	}),
	method("countReset", 0, func(a *API, call goja.FunctionCall) goja.Value {
		delete(a.consoleState().counts, a.label(call))
		return goja.Undefined()
	}),
	method("time", 0, func(a *API, call goja.FunctionCall) goja.Value {
		c, l := a.consoleState(), a.label(call)
		if c.timers == nil {
			c.timers = map[string]time.Time{}
		}
		c.timers[l] = a.now()
		return goja.Undefined()
	}),
	method("timeLog", 0, func(a *API, call goja.FunctionCall) goja.Value {
		a.timeLog(call, false)
		return goja.Undefined()
	}),
	method("timeEnd", 0, func(a *API, call goja.FunctionCall) goja.Value {
		a.timeLog(call, true)
		return goja.Undefined()
	}),
	method("group", 0, func(a *API, call goja.FunctionCall) goja.Value {
		if len(call.Arguments) > 0 && a.log != nil {
			m := a.newMessage()
			a.format(m, call.Arguments)
			a.emit("log", m)
		}
		a.consoleState().indent++
		return goja.Undefined()
	}),
	method("groupCollapsed", 0, func(a *API, call goja.FunctionCall) goja.Value {
		if len(call.Arguments) > 0 && a.log != nil {
			m := a.newMessage()
			a.format(m, call.Arguments)
			a.emit("log", m)
		}
		a.consoleState().indent++
		return goja.Undefined()
	}),
	method("groupEnd", 0, func(a *API, call goja.FunctionCall) goja.Value {
		if c := a.consoleState(); c.indent > 0 {
			c.indent--
		}
		return goja.Undefined()
	}),
)

func (a *API) timeLog(call goja.FunctionCall, end bool) {
	c, l := a.consoleState(), a.label(call)
	start, ok := c.timers[l]
	if !ok {
		a.emitString("warn", "Timer '", l, "' does not exist")
		return
	}
	if end {
		delete(c.timers, l)
	}
	if a.log == nil {
		return
	}
	ms := float64(a.now().Sub(start).Microseconds()) / 1000
	m := a.newMessage()
	m.WriteString(l + ": " + strconv.FormatFloat(ms, 'f', -1, 64) + "ms")
	if !end && len(call.Arguments) > 1 {
		m.WriteString(" ")
		a.format(m, call.Arguments[1:])
	}
	a.emit("info", m)
}

// format renders console arguments the way Workers (V8/Node) roughly does:
// printf-style directives in a leading string, strings raw, other values
// inspected. It writes into b, which bounds what it keeps.
func (a *API) format(b *message, args []goja.Value) {
	rest := args
	if len(args) > 0 && goja.IsString(args[0]) {
		f := a.str(args[0])
		rest = args[1:]
		for {
			i := strings.IndexByte(f, '%')
			if i < 0 || i == len(f)-1 {
				break
			}
			b.WriteString(f[:i])
			d := f[i+1]
			f = f[i+2:]
			if d == '%' {
				b.WriteByte('%')
				continue
			}
			if strings.IndexByte("sdifjoOc", d) < 0 || len(rest) == 0 {
				b.WriteByte('%')
				b.WriteByte(d)
				continue
			}
			v := rest[0]
			rest = rest[1:]
			switch d {
			case 's':
				if goja.IsString(v) {
					a.writeStr(b, v)
				} else {
					a.inspect(b, v, 1)
				}
			case 'd', 'i':
				if _, ok := v.(*goja.Object); ok {
					b.WriteString("NaN")
				} else if goja.IsBigInt(v) {
					b.WriteString(v.String() + "n")
				} else {
					n := v.ToFloat()
					if d == 'i' {
						n = math.Trunc(n)
					}
					b.WriteString(a.vm.ToValue(n).String())
				}
			case 'f':
				b.WriteString(a.vm.ToValue(v.ToFloat()).String())
			case 'j':
				if s, ok := a.tryStringify(v); ok {
					b.WriteString(s)
				} else {
					b.WriteString("undefined")
				}
			case 'o', 'O':
				a.inspect(b, v, inspectDepth)
			case 'c':
			}
		}
		b.WriteString(f)
	}
	for i, v := range rest {
		if i > 0 || len(rest) < len(args) {
			b.WriteByte(' ')
		}
		if goja.IsString(v) {
			a.writeStr(b, v)
		} else {
			a.inspect(b, v, inspectDepth)
		}
	}
}

// writeStr writes the string v to b. A long one is converted a chunk at a
// time (strChunks), looking at the interrupt between: goja converts a
// string whole, and one of 128 Mi characters took 0.4 s and 512 MiB in
// one console.log, though the message keeps only its start (it counts
// the bytes it cuts).
func (a *API) writeStr(b *message, v goja.Value) {
	s, ok := v.(goja.String)
	if !ok {
		b.WriteString(v.String())
		return
	}
	a.strChunks(s, func(part string) bool {
		b.WriteString(part)
		return true
	})
}

func (a *API) tryStringify(v goja.Value) (s string, ok bool) {
	if ex := a.vm.Try(func() { s, ok = a.jsonStringify(v) }); ex != nil {
		return "[Circular]", true
	}
	return s, ok
}

type inspector struct {
	a    *API
	b    *message
	seen []*goja.Object
}

// inspect renders v into b in the style of Node's util.inspect, to depth
// levels.
func (a *API) inspect(b *message, v goja.Value, depth int) {
	in := &inspector{a: a, b: b}
	in.value(v, depth, false)
}

func quoteJS(s string) string {
	if len(s) > inspectMaxString {
		s = s[:inspectMaxString] + "…"
	}
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	r := strings.NewReplacer("\\", `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, q, `\`+q)
	return q + r.Replace(s) + q
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (in *inspector) value(v goja.Value, depth int, nested bool) {
	b := in.b
	if b.full() {
		b.short = true // what is not rendered is not counted
		return
	}
	switch {
	case v == nil || goja.IsUndefined(v):
		b.WriteString("undefined")
		return
	case goja.IsNull(v):
		b.WriteString("null")
		return
	case goja.IsString(v):
		if !nested {
			in.a.writeStr(b, v)
			return
		}
		// quoteJS keeps the first inspectMaxString bytes: as many code
		// units and one more give them all, and the cut.
		if s, ok := v.(goja.String); ok && s.Length() > inspectMaxString+1 {
			v = s.Substring(0, inspectMaxString+1)
		}
		b.WriteString(quoteJS(v.String()))
		return
	case goja.IsBigInt(v):
		b.WriteString(v.String() + "n")
		return
	case goja.IsNumber(v):
		f := v.ToFloat()
		if f == 0 && math.Signbit(f) {
			b.WriteString("-0")
		} else {
			b.WriteString(v.String())
		}
		return
	}
	if s, ok := v.(*goja.Symbol); ok {
		b.WriteString("Symbol(" + s.String() + ")")
		return
	}
	o, ok := v.(*goja.Object)
	if !ok {
		b.WriteString(v.String())
		return
	}
	for _, s := range in.seen {
		if s == o {
			b.WriteString("[Circular]")
			return
		}
	}
	in.seen = append(in.seen, o)
	defer func() { in.seen = in.seen[:len(in.seen)-1] }()
	in.object(o, depth)
}

// get reads a property without letting a throwing getter escape.
func (in *inspector) get(o *goja.Object, key string) goja.Value {
	v, _ := in.tryGet(o, key)
	return v
}

func (in *inspector) tryGet(o *goja.Object, key string) (v goja.Value, thrown string) {
	if ex := in.a.vm.Try(func() { v = o.Get(key) }); ex != nil {
		var msg string
		if ex := in.a.vm.Try(func() { msg = ex.Value().String() }); ex != nil {
			msg = "exception"
		}
		return goja.Undefined(), msg
	}
	return v, ""
}

func (in *inspector) ctorName(o *goja.Object) string {
	if c, ok := in.get(o, "constructor").(*goja.Object); ok {
		if n := in.get(c, "name"); n != nil && goja.IsString(n) {
			return n.String()
		}
	}
	return ""
}

func (in *inspector) object(o *goja.Object, depth int) {
	a, b := in.a, in.b
	if _, ok := goja.AssertFunction(o); ok {
		name := ""
		if n := in.get(o, "name"); n != nil && goja.IsString(n) {
			name = n.String()
		}
		if name == "" {
			b.WriteString("[Function (anonymous)]")
		} else {
			b.WriteString("[Function: " + name + "]")
		}
		return
	}
	if h, ok := asHost(o); ok {
		in.host(o, h, depth)
		return
	}
	if in.custom(o, depth) {
		return
	}
	if ab, ok := asArrayBuffer(o); ok {
		data := ab.Bytes()
		name := "ArrayBuffer"
		if ab.Shared() {
			name = "SharedArrayBuffer"
		}
		fmt.Fprintf(b, "%s { [Uint8Contents]: <%s>, byteLength: %d }", name, hexPreview(data), len(data))
		return
	}
	if isTypedArray(o) {
		name := in.ctorName(o)
		n := in.get(o, "length").ToInteger()
		fmt.Fprintf(b, "%s(%d) ", name, n)
		in.list(o, n, depth)
		return
	}
	switch o.ClassName() {
	case "Error":
		if s := in.get(o, "stack"); s != nil && goja.IsString(s) && s.String() != "" {
			// As V8 prints it, though err.stack itself is goja's.
			b.WriteString(contract.FormatStack(s.String()))
		} else {
			b.WriteString(in.get(o, "name").String() + ": " + in.get(o, "message").String())
		}
		return
	case "Date":
		var s string
		if ex := a.vm.Try(func() { s = a.callIntrinsic(o, nil, "Date", "prototype", "toISOString").String() }); ex != nil {
			s = "Invalid Date"
		}
		b.WriteString(s)
		return
	case "RegExp":
		b.WriteString(o.String())
		return
	}
	if isMap(o) || isSet(o) {
		in.collection(o, isMap(o), depth)
		return
	}
	if o.ExportType() == promiseType {
		b.WriteString("Promise { ")
		if p, ok := o.Export().(*goja.Promise); ok {
			switch p.State() {
			case goja.PromiseStatePending:
				b.WriteString("<pending>")
			case goja.PromiseStateRejected:
				b.WriteString("<rejected> ")
				in.value(p.Result(), depth-1, true)
			default:
				in.value(p.Result(), depth-1, true)
			}
		}
		b.WriteString(" }")
		return
	}
	switch o.ClassName() {
	case "Array":
		n := in.get(o, "length").ToInteger()
		if depth < 0 {
			b.WriteString("[Array]")
			return
		}
		in.list(o, n, depth)
		return
	}
	name := in.ctorName(o)
	if name == "Object" {
		name = ""
	}
	if depth < 0 {
		if name == "" {
			name = "Object"
		}
		b.WriteString("[" + name + "]")
		return
	}
	if name != "" {
		b.WriteString(name + " ")
	}
	in.props(o, o.Keys(), depth)
}

func (in *inspector) list(o *goja.Object, n int64, depth int) {
	b := in.b
	if n == 0 {
		b.WriteString("[]")
		return
	}
	b.WriteString("[ ")
	for i := int64(0); i < n && i < inspectMaxItems; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		in.value(in.get(o, strconv.FormatInt(i, 10)), depth-1, true)
	}
	if n > inspectMaxItems {
		fmt.Fprintf(b, ", ... %d more item%s", n-inspectMaxItems, plural(n-inspectMaxItems))
	}
	b.WriteString(" ]")
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (in *inspector) props(o *goja.Object, keys []string, depth int) {
	b := in.b
	if len(keys) == 0 {
		b.WriteString("{}")
		return
	}
	b.WriteString("{ ")
	for i, k := range keys {
		if i == inspectMaxKeys {
			fmt.Fprintf(b, ", ... %d more", len(keys)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if isIdentifier(k) {
			b.WriteString(k)
		} else {
			b.WriteString(quoteJS(k))
		}
		b.WriteString(": ")
		if v, thrown := in.tryGet(o, k); thrown != "" {
			b.WriteString("[Thrown: " + thrown + "]")
		} else {
			in.value(v, depth-1, true)
		}
	}
	b.WriteString(" }")
}

func (in *inspector) collection(o *goja.Object, isMap bool, depth int) {
	a, b := in.a, in.b
	kind := "Set"
	if isMap {
		kind = "Map"
	}
	size := in.get(o, "size").ToInteger()
	fmt.Fprintf(b, "%s(%d) ", kind, size)
	if depth < 0 {
		b.WriteString("{...}")
		return
	}
	if size == 0 {
		b.WriteString("{}")
		return
	}
	b.WriteString("{ ")
	n := 0
	ex := a.vm.Try(func() {
		a.forOf(o, func(item goja.Value) bool {
			if n > 0 {
				b.WriteString(", ")
			}
			if n == inspectMaxItems {
				b.WriteString("...")
				return false
			}
			n++
			if isMap {
				if e, ok := item.(*goja.Object); ok {
					in.value(e.Get("0"), depth-1, true)
					b.WriteString(" => ")
					in.value(e.Get("1"), depth-1, true)
				}
			} else {
				in.value(item, depth-1, true)
			}
			return true
		})
	})
	if ex != nil {
		b.WriteString("[Thrown]")
	}
	b.WriteString(" }")
}

// host renders one of our instances by its attributes.
func (in *inspector) host(o *goja.Object, h *hostObject, depth int) {
	b := in.b
	name := in.ctorName(o)
	switch st := h.st.(type) {
	case *headerList:
		list := st.sortAndCombine(in.a)
		fmt.Fprintf(b, "%s(%d) {", name, len(list))
		for i, e := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(" " + quoteJS(e.Name) + " => " + quoteJS(e.Value))
		}
		b.WriteString(" }")
		return
	case *searchParams:
		fmt.Fprintf(b, "%s {", name)
		for i, nv := range st.list {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(" " + quoteJS(nv.name) + " => " + quoteJS(nv.value))
		}
		b.WriteString(" }")
		return
	case *urlState:
		fmt.Fprintf(b, "%s { href: %s }", name, quoteJS(st.u.Href(false)))
		return
	}
	var keys []string
	switch h.st.(type) {
	case *requestState:
		keys = []string{"method", "url", "headers", "redirect", "bodyUsed"}
	case *responseState:
		keys = []string{"status", "statusText", "ok", "headers", "redirected", "type", "url", "bodyUsed"}
	case *blobState:
		keys = []string{"size", "type"}
	case *cryptoKey:
		keys = []string{"type", "extractable", "algorithm", "usages"}
	case *textDecoder:
		keys = []string{"encoding", "fatal", "ignoreBOM"}
	case textEncoder:
		keys = []string{"encoding"}
	}
	keys = append(keys, h.order...)
	if depth < 0 {
		b.WriteString("[" + name + "]")
		return
	}
	if name != "" {
		b.WriteString(name + " ")
	}
	in.props(o, keys, depth)
}

func hexPreview(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i == inspectMaxItems/2 {
			fmt.Fprintf(&s, " ... %d more byte%s", len(b)-i, plural(int64(len(b)-i)))
			break
		}
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}
