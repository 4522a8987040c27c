package isolate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encoding of the two hot frames between the node and a sandbox
// worker: the invocation (execRequest) and its Result. JSON cost more CPU
// than the invocation itself; this is a flat sequence of uvarint-prefixed
// fields, in a fixed order, behind a version byte. Host calls (rare) stay
// JSON.

const wireVersion = 1

var errWire = errors.New("isolate: malformed frame")

type wbuf struct{ b []byte }

func (w *wbuf) uint(v uint64)   { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) int(v int64)     { w.b = binary.AppendVarint(w.b, v) }
func (w *wbuf) bytes(p []byte)  { w.uint(uint64(len(p))); w.b = append(w.b, p...) }
func (w *wbuf) str(s string)    { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *wbuf) float(f float64) { w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f)) }
func (w *wbuf) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// strMap writes a map in key order, so equal maps encode equally.
func (w *wbuf) strMap(m map[string]string) {
	w.uint(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		w.str(k)
		w.str(m[k])
	}
}

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail() { r.err = errWire; r.b = nil }

func (r *rbuf) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// n reads a length and checks that that many bytes (or items of at least
// one byte) remain, so a hostile length cannot make us allocate.
func (r *rbuf) n() int {
	v := r.uint()
	if v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *rbuf) bytes() []byte {
	n := r.n()
	if r.err != nil {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) str() string { return string(r.bytes()) }

func (r *rbuf) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *rbuf) bool() bool {
	if len(r.b) < 1 {
		r.fail()
		return false
	}
	v := r.b[0] != 0
	r.b = r.b[1:]
	return v
}

func (r *rbuf) strMap() map[string]string {
	n := r.n()
	if r.err != nil || n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

// encodeExec encodes an invocation for a worker.
func encodeExec(x *execRequest) ([]byte, error) {
	w := &wbuf{b: make([]byte, 0, 256+len(x.Request.Body))}
	w.b = append(w.b, wireVersion)
	w.str(x.Hash)
	w.bool(x.Wasm)
	w.bool(x.Deterministic)
	w.str(x.Request.Method)
	w.str(x.Request.URL)
	w.strMap(x.Request.Headers)
	w.bool(x.Request.Body != nil)
	w.bytes(x.Request.Body)
	w.uint(uint64(len(x.Env)))
	for _, k := range sortedKeys(x.Env) {
		w.str(k)
		w.bytes(x.Env[k])
	}
	var bindings []byte
	if len(x.Bindings) > 0 {
		var err error
		if bindings, err = json.Marshal(x.Bindings); err != nil {
			return nil, fmt.Errorf("isolate: encoding bindings: %w", err)
		}
	}
	w.bytes(bindings)
	w.int(x.Limits.CPUMs)
	w.int(x.Limits.MemoryMB)
	w.int(x.Limits.SubRequests)
	w.int(x.Limits.WallMs)
	w.bool(x.Scheduled != nil)
	if x.Scheduled != nil {
		w.str(x.Scheduled.Cron)
		w.int(x.Scheduled.ScheduledTime)
	}
	return w.b, nil
}

// decodeExec is encodeExec's inverse.
func decodeExec(b []byte) (*execRequest, error) {
	if len(b) == 0 || b[0] != wireVersion {
		return nil, fmt.Errorf("%w: unknown version", errWire)
	}
	r := &rbuf{b: b[1:]}
	x := &execRequest{Request: &Request{}}
	x.Hash = r.str()
	x.Wasm = r.bool()
	x.Deterministic = r.bool()
	x.Request.Method = r.str()
	x.Request.URL = r.str()
	x.Request.Headers = r.strMap()
	hasBody := r.bool()
	body := r.bytes()
	if hasBody {
		x.Request.Body = body
	}
	if n := r.n(); n > 0 && r.err == nil {
		x.Env = make(map[string]json.RawMessage, n)
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			x.Env[k] = json.RawMessage(r.bytes())
		}
	}
	if bindings := r.bytes(); len(bindings) > 0 && r.err == nil {
		if err := json.Unmarshal(bindings, &x.Bindings); err != nil {
			return nil, fmt.Errorf("%w: bindings: %w", errWire, err)
		}
	}
	x.Limits = Limits{CPUMs: r.int(), MemoryMB: r.int(), SubRequests: r.int(), WallMs: r.int()}
	if r.bool() {
		x.Scheduled = &ScheduledEvent{Cron: r.str(), ScheduledTime: r.int()}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(r.b))
	}
	return x, nil
}

// encodeResult encodes a worker's result for the node.
func encodeResult(res *Result) []byte {
	w := &wbuf{b: make([]byte, 0, 256)}
	w.b = append(w.b, wireVersion)
	w.str(string(res.Outcome))
	w.str(res.Error)
	w.bool(res.Response != nil)
	if res.Response != nil {
		w.int(int64(res.Response.Status))
		w.strMap(res.Response.Headers)
		w.bytes(res.Response.Body)
	}
	w.uint(uint64(len(res.Logs)))
	for _, l := range res.Logs {
		w.int(l.Timestamp)
		w.str(l.Level)
		w.str(l.Message)
	}
	w.uint(uint64(len(res.Exceptions)))
	for _, e := range res.Exceptions {
		w.int(e.Timestamp)
		w.str(e.Name)
		w.str(e.Message)
		w.str(e.Stack)
	}
	t := &res.Telemetry
	w.bool(t.ColdStart)
	w.float(t.StartupMs)
	w.float(t.CPUTime)
	w.float(t.WallTime)
	w.int(t.MemoryBytes)
	w.str(t.Node)
	w.uint(uint64(len(t.Hops)))
	for _, h := range t.Hops {
		w.str(h)
	}
	w.str(t.Executor)
	// Optional trailing fields, written only when set, so that a reader
	// from before them still decodes every result that does not use them.
	if res.NoRetry {
		w.bool(true)
	}
	return w.b
}

// decodeResult is encodeResult's inverse.
func decodeResult(b []byte) (*Result, error) {
	if len(b) == 0 || b[0] != wireVersion {
		return nil, fmt.Errorf("%w: unknown version", errWire)
	}
	r := &rbuf{b: b[1:]}
	res := &Result{Outcome: Outcome(r.str()), Error: r.str()}
	if r.bool() {
		res.Response = &Response{Status: int(r.int()), Headers: r.strMap()}
		res.Response.Body = r.bytes()
		if res.Response.Headers == nil {
			res.Response.Headers = map[string]string{}
		}
	}
	n := r.n()
	res.Logs = make([]Log, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		res.Logs = append(res.Logs, Log{Timestamp: r.int(), Level: r.str(), Message: r.str()})
	}
	n = r.n()
	res.Exceptions = make([]Exception, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		res.Exceptions = append(res.Exceptions, Exception{Timestamp: r.int(), Name: r.str(), Message: r.str(), Stack: r.str()})
	}
	t := &res.Telemetry
	t.ColdStart = r.bool()
	t.StartupMs, t.CPUTime, t.WallTime = r.float(), r.float(), r.float()
	t.MemoryBytes = r.int()
	t.Node = r.str()
	if n := r.n(); n > 0 && r.err == nil {
		t.Hops = make([]string, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			t.Hops = append(t.Hops, r.str())
		}
	}
	t.Executor = r.str()
	if len(r.b) > 0 && r.err == nil {
		if res.NoRetry = r.bool(); !res.NoRetry {
			r.fail() // written only when true
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(r.b))
	}
	return res, nil
}

// MarshalBinary encodes the result in warren's compact binary form (what
// sandbox workers and forwarding nodes send); UnmarshalBinary reads it.
// Nodes of different releases exchange it, so a change an older reader
// cannot decode needs a new mesh.ProtoInvokeVersion.
func (r *Result) MarshalBinary() ([]byte, error) { return encodeResult(r), nil }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (r *Result) UnmarshalBinary(b []byte) error {
	res, err := decodeResult(b)
	if err != nil {
		return err
	}
	*r = *res
	return nil
}

// wireObject starts an object event's frame (then the binary form of
// objectRequest); it is never a wireVersion or wirePrepare.
const wireObject byte = 0x4f // 'O'

// encodeObject encodes an object event for a worker.
func encodeObject(r *objectRequest) ([]byte, error) {
	exec, err := encodeExec(&r.execRequest)
	if err != nil {
		return nil, err
	}
	w := &wbuf{b: make([]byte, 0, 128+len(exec)+len(r.Args))}
	w.b = append(w.b, wireObject)
	w.bytes(exec)
	w.str(r.Object.Worker)
	w.str(r.Object.Class)
	w.str(r.Object.ID)
	w.str(r.Object.Name)
	w.uint(r.Epoch)
	w.str(r.Kind)
	w.str(r.Method)
	w.bytes(r.Args)
	w.bool(r.Fresh)
	w.int(int64(r.Idle))
	return w.b, nil
}

// decodeObject is encodeObject's inverse.
func decodeObject(b []byte) (*objectRequest, error) {
	if len(b) == 0 || b[0] != wireObject {
		return nil, fmt.Errorf("%w: not an object event", errWire)
	}
	r := &rbuf{b: b[1:]}
	exec := r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	x, err := decodeExec(exec)
	if err != nil {
		return nil, err
	}
	o := &objectRequest{execRequest: *x}
	o.Object = ObjectRef{Worker: r.str(), Class: r.str(), ID: r.str(), Name: r.str()}
	o.Epoch = r.uint()
	o.Kind = r.str()
	o.Method = r.str()
	if args := r.bytes(); len(args) > 0 {
		o.Args = args
	}
	o.Fresh = r.bool()
	o.Idle = time.Duration(r.int())
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(r.b))
	}
	return o, nil
}

// encodeObjectResult encodes an object event's result for the node.
func encodeObjectResult(res *ObjectResult) []byte {
	w := &wbuf{b: make([]byte, 0, 256)}
	w.b = append(w.b, wireVersion)
	w.bytes(encodeResult(&res.Result))
	w.bool(res.Value != nil)
	w.bytes(res.Value)
	var writes []byte
	if res.Writes != nil {
		writes, _ = json.Marshal(res.Writes) // plain data: never fails
	}
	w.bytes(writes)
	w.bool(res.Thrown != nil)
	if res.Thrown != nil {
		w.str(res.Thrown.Name)
		w.str(res.Thrown.Message)
	}
	w.bool(res.Reset)
	return w.b
}

// decodeObjectResult is encodeObjectResult's inverse.
func decodeObjectResult(b []byte) (*ObjectResult, error) {
	if len(b) == 0 || b[0] != wireVersion {
		return nil, fmt.Errorf("%w: unknown version", errWire)
	}
	r := &rbuf{b: b[1:]}
	inner := r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	base, err := decodeResult(inner)
	if err != nil {
		return nil, err
	}
	res := &ObjectResult{Result: *base}
	hasValue := r.bool()
	if v := r.bytes(); hasValue {
		res.Value = v
	}
	if writes := r.bytes(); len(writes) > 0 && r.err == nil {
		res.Writes = &StorageBatch{}
		if err := json.Unmarshal(writes, res.Writes); err != nil {
			return nil, fmt.Errorf("%w: writes: %w", errWire, err)
		}
	}
	if r.bool() {
		res.Thrown = &ObjectError{Name: r.str(), Message: r.str()}
	}
	res.Reset = r.bool()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(r.b))
	}
	return res, nil
}
