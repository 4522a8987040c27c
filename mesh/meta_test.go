package mesh

import (
	"math"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"
)

func TestMetaRoundTrip(t *testing.T) {
	cases := []nodeMeta{
		{},
		{ID: "abc", API: "10.0.0.1:7070", Boot: 0xdeadbeef, Leaving: true, Slots: 16, Free: 3, Load: 0.8125,
			Tags: map[string]string{"zone": "eu-1", "gpu": "", "": "empty key"}},
		{ID: "x", Slots: math.MaxInt32, Free: math.MaxInt32, Load: 2},
		{ID: "d", Draining: true, Slots: 4},
		{ID: "r", Retiring: true, Draining: true, Leaving: true},
	}
	for _, in := range cases {
		got, err := decodeMeta(in.encode())
		if err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
		if len(in.Tags) == 0 {
			in.Tags = nil
		}
		if !reflect.DeepEqual(got, in) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
		}
	}
	// Out-of-range numbers are clamped, never wrapped.
	got, err := decodeMeta(nodeMeta{Slots: -5, Free: -1, Load: math.NaN()}.encode())
	if err != nil || got.Slots != 0 || got.Free != 0 || got.Load != 0 {
		t.Fatalf("clamping: %+v %v", got, err)
	}
	// The encoding is stable (tags sorted), so unchanged state is not
	// re-gossiped.
	a := nodeMeta{Tags: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}}
	first := string(a.encode())
	for range 20 {
		if string(a.encode()) != first {
			t.Fatal("unstable encoding")
		}
	}
}

func TestMetaRejectsGarbage(t *testing.T) {
	good := nodeMeta{ID: "abc", API: "x", Tags: map[string]string{"k": "v"}}.encode()
	for i := range len(good) {
		if _, err := decodeMeta(good[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	if _, err := decodeMeta(append(good, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	bad := append([]byte(nil), good...)
	bad[0] = 99
	if _, err := decodeMeta(bad); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestStartRejectsOversizeMeta(t *testing.T) {
	_, err := Start(t.Context(), Config{
		Name: "big", ID: "big", Secret: testSecret(), Bind: "127.0.0.1:0", Logger: testLogger(),
		Tags: map[string]string{"blob": strings.Repeat("x", memberlist.MetaMaxSize)},
	})
	if err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("oversize tags: %v", err)
	}
}

func TestCoordRoundTrip(t *testing.T) {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0], c.Vec[7], c.Error, c.Adjustment, c.Height = 0.001, -0.5, 1.5, 0.0001, 0.00002
	got, err := decodeCoord(encodeCoord(c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	c.Vec[3] = math.Inf(1)
	if _, err := decodeCoord(encodeCoord(c)); err == nil {
		t.Fatal("infinite component accepted")
	}
	for _, b := range [][]byte{nil, {1}, {2, 8}, {1, 0}, {1, 8, 0}} {
		if _, err := decodeCoord(b); err == nil {
			t.Fatalf("%v accepted", b)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(nodeMeta{ID: "abc", API: "x", Tags: map[string]string{"k": "v"}}.encode())
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		nm, err := decodeMeta(b)
		if err != nil {
			return
		}
		if nm.Slots < 0 || nm.Free < 0 || nm.Load < 0 || math.IsNaN(nm.Load) || math.IsInf(nm.Load, 0) {
			t.Fatalf("out of range: %+v", nm)
		}
		again, err := decodeMeta(nm.encode())
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if again.ID != nm.ID || again.API != nm.API || len(again.Tags) != len(nm.Tags) || again.Free != nm.Free {
			t.Fatalf("re-encoding differs: %+v vs %+v", again, nm)
		}
	})
}

func FuzzDecodeCoord(f *testing.F) {
	f.Add(encodeCoord(coordinate.NewCoordinate(coordinate.DefaultConfig())))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCoord(b)
		if err != nil {
			return
		}
		if !c.IsValid() {
			t.Fatal("invalid coordinate accepted")
		}
	})
}

func TestAdvertiseAddr(t *testing.T) {
	a, err := advertiseAddr("", &net.UDPAddr{IP: net.IPv4zero, Port: 7946})
	if err != nil || a.IP.IsUnspecified() || a.Port != 7946 {
		t.Fatalf("unspecified bind: %v %v", a, err)
	}
	a, err = advertiseAddr("", &net.UDPAddr{IP: net.ParseIP("127.0.0.2"), Port: 1})
	if err != nil || a.String() != "127.0.0.2:1" {
		t.Fatalf("bound address: %v %v", a, err)
	}
	a, err = advertiseAddr("[::ffff:10.1.2.3]:9", &net.UDPAddr{IP: net.IPv4zero, Port: 7946})
	if err != nil || a.String() != "10.1.2.3:9" {
		t.Fatalf("explicit: %v %v", a, err)
	}
	if _, err := advertiseAddr("nonsense", nil); err == nil {
		t.Fatal("bad advertise address accepted")
	}
}
