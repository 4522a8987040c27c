package contract

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// plainResult is Result without its MarshalJSON: encoding/json's own
// encoding, the reference AppendJSON must match.
type plainResult Result

func referenceJSON(t *testing.T, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plainResult)(r)); err != nil {
		t.Fatalf("reference encoding: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// randText mixes ASCII, control characters, quotes, multi-byte runes,
// U+2028/9, invalid UTF-8 and, with html, the characters encoding/json
// escapes by default.
func randText(rng *rand.Rand, html bool) string {
	pieces := []string{"a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "é", "日本", "😀",
		"\u2028", "\u2029", "\xff", "\xe6\x97", "\xed\xa0\x80", "/", "hello world"}
	if html {
		pieces = append(pieces, "<", ">", "&", "<script>")
	}
	var sb strings.Builder
	for range rng.IntN(12) {
		sb.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return sb.String()
}

func randFloat(rng *rand.Rand) float64 {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.Round(rng.Float64()*100000) / 1000
	case 2:
		return rng.Float64() * 1e-7
	case 3:
		return rng.Float64() * 1e25
	case 4:
		return -rng.Float64() * 1000
	default:
		return math.Float64frombits(rng.Uint64() &^ (0x7ff << 52)) // finite, often tiny
	}
}

func randResult(rng *rand.Rand, html bool) *Result {
	r := &Result{Outcome: Outcome(randText(rng, html))}
	if rng.IntN(4) > 0 {
		resp := &Response{Status: rng.IntN(600) - 50, Streamed: rng.IntN(4) == 0}
		switch rng.IntN(3) {
		case 0:
		case 1:
			resp.Headers = map[string]string{}
		default:
			resp.Headers = map[string]string{}
			for range rng.IntN(20) {
				resp.Headers[randText(rng, html)] = randText(rng, html)
			}
		}
		if rng.IntN(4) == 0 {
			for range 2 + rng.IntN(3) {
				resp.SetCookie = append(resp.SetCookie, randText(rng, html))
			}
		}
		switch rng.IntN(4) {
		case 0:
		case 1:
			resp.Body = []byte{}
		case 2:
			resp.Body = []byte(randText(rng, html))
		default:
			resp.Body = make([]byte, rng.IntN(64))
			for i := range resp.Body {
				resp.Body[i] = byte(rng.IntN(256))
				if !html && strings.IndexByte("<>&", resp.Body[i]) >= 0 {
					resp.Body[i] = 'x'
				}
			}
		}
		r.Response = resp
	}
	if rng.IntN(3) > 0 {
		r.Logs = []Log{}
		for range rng.IntN(4) {
			r.Logs = append(r.Logs, Log{Timestamp: rng.Int64() - math.MaxInt64/2, Level: randText(rng, html), Message: randText(rng, html)})
		}
	}
	if rng.IntN(3) > 0 {
		r.Exceptions = []Exception{}
		for range rng.IntN(4) {
			r.Exceptions = append(r.Exceptions, Exception{Timestamp: rng.Int64(), Name: randText(rng, html), Message: randText(rng, html), Stack: randText(rng, html)})
		}
	}
	t := &r.Telemetry
	t.Node = randText(rng, html)
	switch rng.IntN(3) {
	case 0:
	case 1:
		t.Hops = []string{}
	default:
		for range 1 + rng.IntN(3) {
			t.Hops = append(t.Hops, randText(rng, html))
		}
	}
	t.ColdStart = rng.IntN(2) == 0
	t.StartupMs, t.CPUTime, t.WallTime = randFloat(rng), randFloat(rng), randFloat(rng)
	t.MemoryBytes = rng.Int64N(1<<40) - 1<<20
	t.Executor = randText(rng, html)
	r.Error = randText(rng, html)
	r.NoRetry = rng.IntN(2) == 0
	return r
}

// TestResultAppendJSON compares AppendJSON with encoding/json on random
// results: byte for byte where no HTML character is in a string (the
// reference escapes those inside the response, which it encodes with
// json.Marshal), and as decoded values always; json.Marshal of a Result
// (MarshalJSON) gives the same values too.
func TestResultAppendJSON(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	for i := range 5000 {
		html := i%2 == 1
		r := randResult(rng, html)
		got, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatalf("AppendJSON: %v", err)
		}
		want := referenceJSON(t, r)
		if !html && !bytes.Equal(got, want) {
			t.Fatalf("result %d:\n got %s\nwant %s", i, got, want)
		}
		var gv, wv any
		if err := json.Unmarshal(got, &gv); err != nil {
			t.Fatalf("result %d: AppendJSON wrote invalid JSON: %v\n%s", i, err, got)
		}
		if err := json.Unmarshal(want, &wv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gv, wv) {
			t.Fatalf("result %d: values differ:\n got %s\nwant %s", i, got, want)
		}
		m, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var mv any
		if err := json.Unmarshal(m, &mv); err != nil || !reflect.DeepEqual(mv, wv) {
			t.Fatalf("result %d: json.Marshal differs (%v):\n got %s\nwant %s", i, err, m, want)
		}
	}
}

func TestResultAppendJSONRefusesNaN(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := &Result{Outcome: OutcomeOK, Telemetry: Telemetry{CPUTime: f}}
		if _, err := r.AppendJSON(nil); err == nil {
			t.Errorf("AppendJSON took %v", f)
		}
		if _, err := json.Marshal((*plainResult)(r)); err == nil {
			t.Errorf("encoding/json took %v: the test's premise is wrong", f)
		}
	}
}

func BenchmarkResultAppendJSON(b *testing.B) {
	r := &Result{
		Outcome:    OutcomeOK,
		Response:   &Response{Status: 200, Headers: map[string]string{"content-type": "text/plain;charset=UTF-8"}, Body: []byte("hi")},
		Logs:       []Log{},
		Exceptions: []Exception{},
		Telemetry:  Telemetry{Node: "vm-bc73", Hops: []string{"vm-bc73"}, StartupMs: 0.023, CPUTime: 0.172, WallTime: 0.344, Executor: "sandbox"},
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = r.AppendJSON(buf[:0])
	}
}
