package contract

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encoding of the two hot frames between the node and a sandbox
// worker: the invocation (ExecRequest) and its Result. JSON cost more CPU
// than the invocation itself; this is a flat sequence of uvarint-prefixed
// fields, in a fixed order, behind a version byte. Host calls (rare) stay
// JSON.

// WireVersion starts the frames of invocations and results.
const WireVersion = 1

// ErrWire is the error of a malformed frame.
var ErrWire = errors.New("isolate: malformed frame")

// WBuf builds a binary frame.
type WBuf struct{ B []byte }

func (w *WBuf) Uint(v uint64)   { w.B = binary.AppendUvarint(w.B, v) }
func (w *WBuf) Int(v int64)     { w.B = binary.AppendVarint(w.B, v) }
func (w *WBuf) Bytes(p []byte)  { w.Uint(uint64(len(p))); w.B = append(w.B, p...) }
func (w *WBuf) Str(s string)    { w.Uint(uint64(len(s))); w.B = append(w.B, s...) }
func (w *WBuf) Float(f float64) { w.B = binary.LittleEndian.AppendUint64(w.B, math.Float64bits(f)) }
func (w *WBuf) Bool(v bool) {
	if v {
		w.B = append(w.B, 1)
	} else {
		w.B = append(w.B, 0)
	}
}

// strMap writes a map in key order, so equal maps encode equally.
func (w *WBuf) StrMap(m map[string]string) {
	w.Uint(uint64(len(m)))
	for _, k := range SortedKeys(m) {
		w.Str(k)
		w.Str(m[k])
	}
}

// RBuf reads a binary frame; the first error sticks in Err.
type RBuf struct {
	B   []byte
	Err error
}

func (r *RBuf) Fail() { r.Err = ErrWire; r.B = nil }

func (r *RBuf) Uint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

func (r *RBuf) Int() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// n reads a length and checks that that many bytes (or items of at least
// one byte) remain, so a hostile length cannot make us allocate.
func (r *RBuf) N() int {
	v := r.Uint()
	if v > uint64(len(r.B)) {
		r.Fail()
		return 0
	}
	return int(v)
}

func (r *RBuf) Bytes() []byte {
	n := r.N()
	if r.Err != nil {
		return nil
	}
	p := r.B[:n:n]
	r.B = r.B[n:]
	return p
}

func (r *RBuf) Str() string { return string(r.Bytes()) }

func (r *RBuf) Float() float64 {
	if len(r.B) < 8 {
		r.Fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.B))
	r.B = r.B[8:]
	return v
}

func (r *RBuf) Bool() bool {
	if len(r.B) < 1 {
		r.Fail()
		return false
	}
	v := r.B[0] != 0
	r.B = r.B[1:]
	return v
}

func (r *RBuf) StrMap() map[string]string {
	n := r.N()
	if r.Err != nil || n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && r.Err == nil; i++ {
		k := r.Str()
		m[k] = r.Str()
	}
	return m
}

// EncodeExec encodes an invocation for a worker.
func EncodeExec(x *ExecRequest) ([]byte, error) {
	w := &WBuf{B: make([]byte, 0, 256+len(x.Request.Body))}
	w.B = append(w.B, WireVersion)
	w.Str(x.Hash)
	w.Bool(x.Wasm)
	w.Bool(x.Python)
	w.Bool(x.Deterministic)
	w.Str(x.Request.Method)
	w.Str(x.Request.URL)
	w.StrMap(x.Request.Headers)
	w.Bool(x.Request.Body != nil)
	w.Bytes(x.Request.Body)
	w.Bool(x.Request.CF != nil)
	if cf := x.Request.CF; cf != nil {
		w.Str(cf.Colo)
		w.Str(cf.HTTPProtocol)
		w.Int(int64(cf.ClientTCPRTT))
		w.Str(cf.TLSVersion)
	}
	w.Uint(uint64(len(x.Env)))
	for _, k := range SortedKeys(x.Env) {
		w.Str(k)
		w.Bytes(x.Env[k])
	}
	var bindings []byte
	if len(x.Bindings) > 0 {
		var err error
		if bindings, err = json.Marshal(x.Bindings); err != nil {
			return nil, fmt.Errorf("isolate: encoding bindings: %w", err)
		}
	}
	w.Bytes(bindings)
	w.Int(x.Limits.CPUMs)
	w.Int(x.Limits.MemoryMB)
	w.Int(x.Limits.SubRequests)
	w.Int(x.Limits.WallMs)
	w.Bool(x.Scheduled != nil)
	if x.Scheduled != nil {
		w.Str(x.Scheduled.Cron)
		w.Int(x.Scheduled.ScheduledTime)
	}
	w.Bool(x.Stream)
	return w.B, nil
}

// DecodeExec is EncodeExec's inverse.
func DecodeExec(b []byte) (*ExecRequest, error) {
	if len(b) == 0 || b[0] != WireVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrWire)
	}
	r := &RBuf{B: b[1:]}
	x := &ExecRequest{Request: &Request{}}
	x.Hash = r.Str()
	x.Wasm = r.Bool()
	x.Python = r.Bool()
	x.Deterministic = r.Bool()
	x.Request.Method = r.Str()
	x.Request.URL = r.Str()
	x.Request.Headers = r.StrMap()
	hasBody := r.Bool()
	body := r.Bytes()
	if hasBody {
		x.Request.Body = body
	}
	if r.Bool() {
		x.Request.CF = &RequestCF{Colo: r.Str(), HTTPProtocol: r.Str(), ClientTCPRTT: int(r.Int()), TLSVersion: r.Str()}
	}
	if n := r.N(); n > 0 && r.Err == nil {
		x.Env = make(map[string]json.RawMessage, n)
		for i := 0; i < n && r.Err == nil; i++ {
			k := r.Str()
			x.Env[k] = json.RawMessage(r.Bytes())
		}
	}
	if bindings := r.Bytes(); len(bindings) > 0 && r.Err == nil {
		if err := json.Unmarshal(bindings, &x.Bindings); err != nil {
			return nil, fmt.Errorf("%w: bindings: %w", ErrWire, err)
		}
	}
	x.Limits = Limits{CPUMs: r.Int(), MemoryMB: r.Int(), SubRequests: r.Int(), WallMs: r.Int()}
	if r.Bool() {
		x.Scheduled = &ScheduledEvent{Cron: r.Str(), ScheduledTime: r.Int()}
	}
	x.Stream = r.Bool()
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrWire, len(r.B))
	}
	return x, nil
}

// EncodeResult encodes a worker's result for the node.
func EncodeResult(res *Result) []byte {
	w := &WBuf{B: make([]byte, 0, 256)}
	w.B = append(w.B, WireVersion)
	w.Str(string(res.Outcome))
	w.Str(res.Error)
	w.Bool(res.Response != nil)
	if res.Response != nil {
		w.Int(int64(res.Response.Status))
		w.StrMap(res.Response.Headers)
		w.Bytes(res.Response.Body)
	}
	w.Uint(uint64(len(res.Logs)))
	for _, l := range res.Logs {
		w.Int(l.Timestamp)
		w.Str(l.Level)
		w.Str(l.Message)
	}
	w.Uint(uint64(len(res.Exceptions)))
	for _, e := range res.Exceptions {
		w.Int(e.Timestamp)
		w.Str(e.Name)
		w.Str(e.Message)
		w.Str(e.Stack)
	}
	t := &res.Telemetry
	w.Bool(t.ColdStart)
	w.Float(t.StartupMs)
	w.Float(t.CPUTime)
	w.Float(t.WallTime)
	w.Int(t.MemoryBytes)
	w.Str(t.Node)
	w.Uint(uint64(len(t.Hops)))
	for _, h := range t.Hops {
		w.Str(h)
	}
	w.Str(t.Executor)
	// Optional trailing fields, written only when set, so that a reader
	// from before them still decodes every result that does not use them.
	// Each is written when one after it is (NoRetry, Streamed, then the
	// Set-Cookie values, two or more).
	streamed := res.Response != nil && res.Response.Streamed
	var cookies []string
	if res.Response != nil && len(res.Response.SetCookie) >= 2 {
		cookies = res.Response.SetCookie
	}
	if res.NoRetry || streamed || cookies != nil {
		w.Bool(res.NoRetry)
	}
	if streamed || cookies != nil {
		w.Bool(streamed)
	}
	if cookies != nil {
		w.Uint(uint64(len(cookies)))
		for _, c := range cookies {
			w.Str(c)
		}
	}
	return w.B
}

// DecodeResult is EncodeResult's inverse.
func DecodeResult(b []byte) (*Result, error) {
	if len(b) == 0 || b[0] != WireVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrWire)
	}
	r := &RBuf{B: b[1:]}
	res := &Result{Outcome: Outcome(r.Str()), Error: r.Str()}
	if r.Bool() {
		res.Response = &Response{Status: int(r.Int()), Headers: r.StrMap()}
		res.Response.Body = r.Bytes()
		if res.Response.Headers == nil {
			res.Response.Headers = map[string]string{}
		}
	}
	n := r.N()
	res.Logs = make([]Log, 0, n)
	for i := 0; i < n && r.Err == nil; i++ {
		res.Logs = append(res.Logs, Log{Timestamp: r.Int(), Level: r.Str(), Message: r.Str()})
	}
	n = r.N()
	res.Exceptions = make([]Exception, 0, n)
	for i := 0; i < n && r.Err == nil; i++ {
		res.Exceptions = append(res.Exceptions, Exception{Timestamp: r.Int(), Name: r.Str(), Message: r.Str(), Stack: r.Str()})
	}
	t := &res.Telemetry
	t.ColdStart = r.Bool()
	t.StartupMs, t.CPUTime, t.WallTime = r.Float(), r.Float(), r.Float()
	t.MemoryBytes = r.Int()
	t.Node = r.Str()
	if n := r.N(); n > 0 && r.Err == nil {
		t.Hops = make([]string, 0, n)
		for i := 0; i < n && r.Err == nil; i++ {
			t.Hops = append(t.Hops, r.Str())
		}
	}
	t.Executor = r.Str()
	if len(r.B) > 0 && r.Err == nil {
		res.NoRetry = r.Bool()
		switch {
		case len(r.B) > 0 && res.Response != nil:
			res.Response.Streamed = r.Bool()
			if len(r.B) == 0 || r.Err != nil {
				if !res.Response.Streamed {
					r.Fail() // written only when true or followed by the cookies
				}
				break
			}
			n := r.N()
			if n < 2 {
				r.Fail() // written only with two or more
			}
			for i := 0; i < n && r.Err == nil; i++ {
				res.Response.SetCookie = append(res.Response.SetCookie, r.Str())
			}
		case !res.NoRetry:
			r.Fail() // written only when true or followed by Streamed
		}
	}
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrWire, len(r.B))
	}
	if !res.Outcome.Known() {
		return nil, fmt.Errorf("%w: an unknown outcome", ErrWire)
	}
	return res, nil
}

// MarshalBinary encodes the result in warren's compact binary form (what
// sandbox workers and forwarding nodes send); UnmarshalBinary reads it.
// Nodes of different releases exchange it, so a change an older reader
// cannot decode needs a new mesh.ProtoInvokeVersion.
func (r *Result) MarshalBinary() ([]byte, error) { return EncodeResult(r), nil }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (r *Result) UnmarshalBinary(b []byte) error {
	res, err := DecodeResult(b)
	if err != nil {
		return err
	}
	*r = *res
	return nil
}

// WireObject starts an object event's frame (then the binary form of
// ObjectRequest); it is never a WireVersion or wirePrepare.
const WireObject byte = 0x4f // 'O'

// EncodeObject encodes an object event for a worker.
func EncodeObject(r *ObjectRequest) ([]byte, error) {
	exec, err := EncodeExec(&r.ExecRequest)
	if err != nil {
		return nil, err
	}
	w := &WBuf{B: make([]byte, 0, 128+len(exec)+len(r.Args))}
	w.B = append(w.B, WireObject)
	w.Bytes(exec)
	w.Str(r.Object.Worker)
	w.Str(r.Object.Class)
	w.Str(r.Object.ID)
	w.Str(r.Object.Name)
	w.Uint(r.Epoch)
	w.Str(r.Kind)
	w.Str(r.Method)
	w.Bytes(r.Args)
	w.Bool(r.Fresh)
	w.Int(int64(r.Idle))
	return w.B, nil
}

// DecodeObject is EncodeObject's inverse.
func DecodeObject(b []byte) (*ObjectRequest, error) {
	if len(b) == 0 || b[0] != WireObject {
		return nil, fmt.Errorf("%w: not an object event", ErrWire)
	}
	r := &RBuf{B: b[1:]}
	exec := r.Bytes()
	if r.Err != nil {
		return nil, r.Err
	}
	x, err := DecodeExec(exec)
	if err != nil {
		return nil, err
	}
	o := &ObjectRequest{ExecRequest: *x}
	o.Object = ObjectRef{Worker: r.Str(), Class: r.Str(), ID: r.Str(), Name: r.Str()}
	o.Epoch = r.Uint()
	o.Kind = r.Str()
	o.Method = r.Str()
	if args := r.Bytes(); len(args) > 0 {
		o.Args = args
	}
	o.Fresh = r.Bool()
	o.Idle = time.Duration(r.Int())
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrWire, len(r.B))
	}
	return o, nil
}

// EncodeObjectResult encodes an object event's result for the node.
func EncodeObjectResult(res *ObjectResult) []byte {
	w := &WBuf{B: make([]byte, 0, 256)}
	w.B = append(w.B, WireVersion)
	w.Bytes(EncodeResult(&res.Result))
	w.Bool(res.Value != nil)
	w.Bytes(res.Value)
	var writes []byte
	if res.Writes != nil {
		d := res.Writes.detach()
		writes, _ = encodeBlobs(d, d.eachBytes) // plain data: never fails
	}
	w.Bytes(writes)
	w.Bool(res.Thrown != nil)
	if res.Thrown != nil {
		w.Str(res.Thrown.Name)
		w.Str(res.Thrown.Message)
	}
	w.Bool(res.Reset)
	return w.B
}

// DecodeObjectResult is EncodeObjectResult's inverse.
func DecodeObjectResult(b []byte) (*ObjectResult, error) {
	if len(b) == 0 || b[0] != WireVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrWire)
	}
	r := &RBuf{B: b[1:]}
	inner := r.Bytes()
	if r.Err != nil {
		return nil, r.Err
	}
	base, err := DecodeResult(inner)
	if err != nil {
		return nil, err
	}
	res := &ObjectResult{Result: *base}
	hasValue := r.Bool()
	if v := r.Bytes(); hasValue {
		res.Value = v
	}
	if writes := r.Bytes(); len(writes) > 0 && r.Err == nil {
		res.Writes = &StorageBatch{}
		if writes[0] != blobTag {
			return nil, fmt.Errorf("%w: writes: not a frame with blobs", ErrWire)
		}
		if err := decodeBlobs(writes[1:], res.Writes, res.Writes.eachBytes); err != nil {
			return nil, fmt.Errorf("%w: writes: %w", ErrWire, err)
		}
	}
	if r.Bool() {
		res.Thrown = &ObjectError{Name: r.Str(), Message: r.Str()}
	}
	res.Reset = r.Bool()
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrWire, len(r.B))
	}
	return res, nil
}
