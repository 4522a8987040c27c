package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/hashicorp/serf/coordinate"
)

// metaVersion is the first byte of the gossiped node metadata.
const metaVersion = 1

const (
	metaFlagLeaving  = 1 << 0
	metaFlagDraining = 1 << 1
	// metaFlagRetiring is a later flag: a node of an older version ignores
	// it (it reads only the bits it knows).
	metaFlagRetiring = 1 << 2
)

// nodeMeta is what a node gossips about itself in memberlist's node
// metadata (at most memberlist.MetaMaxSize = 512 bytes).
//
// Wire form: version(1) flags(1) boot(4, big endian) slots(uvarint)
// free(uvarint) load(float32 bits, 4) id(str) api(str) ntags(uvarint)
// {key(str) value(str)}*; str = uvarint length + bytes. Tags are sorted by
// key so the encoding of a given state is stable.
type nodeMeta struct {
	ID      string
	API     string
	Boot    uint32 // random per process: a change means the node restarted
	Leaving bool
	// Draining: it finishes what it runs and takes no new invocations.
	Draining bool
	// Retiring: it is being decommissioned; its replicas move elsewhere.
	Retiring bool
	Slots    int
	Free     int
	Load     float64
	Tags     map[string]string
}

var errMetaShort = errors.New("node metadata truncated")

func (nm nodeMeta) encode() []byte {
	b := make([]byte, 0, 64)
	var flags byte
	if nm.Leaving {
		flags |= metaFlagLeaving
	}
	if nm.Draining {
		flags |= metaFlagDraining
	}
	if nm.Retiring {
		flags |= metaFlagRetiring
	}
	b = append(b, metaVersion, flags)
	b = binary.BigEndian.AppendUint32(b, nm.Boot)
	b = binary.AppendUvarint(b, uint64(max(nm.Slots, 0)))
	b = binary.AppendUvarint(b, uint64(max(nm.Free, 0)))
	load := float32(nm.Load)
	if math.IsNaN(nm.Load) || nm.Load < 0 {
		load = 0
	}
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(load))
	b = appendStr(b, nm.ID)
	b = appendStr(b, nm.API)
	keys := make([]string, 0, len(nm.Tags))
	for k := range nm.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, nm.Tags[k])
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeMeta parses node metadata; it never panics on hostile input.
func decodeMeta(b []byte) (nodeMeta, error) {
	var nm nodeMeta
	if len(b) < 6 {
		return nm, errMetaShort
	}
	if b[0] != metaVersion {
		return nm, fmt.Errorf("node metadata version %d, want %d", b[0], metaVersion)
	}
	nm.Leaving = b[1]&metaFlagLeaving != 0
	nm.Draining = b[1]&metaFlagDraining != 0
	nm.Retiring = b[1]&metaFlagRetiring != 0
	nm.Boot = binary.BigEndian.Uint32(b[2:6])
	r := metaReader{b: b[6:]}
	nm.Slots = r.int()
	nm.Free = r.int()
	nm.Load = float64(math.Float32frombits(r.u32()))
	nm.ID = r.str()
	nm.API = r.str()
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // every tag takes at least 2 bytes
		r.err = errMetaShort
	}
	if r.err == nil && n > 0 {
		nm.Tags = make(map[string]string, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			k := r.str()
			nm.Tags[k] = r.str()
		}
	}
	if r.err != nil {
		return nodeMeta{}, r.err
	}
	if len(r.b) != 0 {
		return nodeMeta{}, fmt.Errorf("node metadata: %d trailing bytes", len(r.b))
	}
	if math.IsNaN(nm.Load) || math.IsInf(nm.Load, 0) || nm.Load < 0 {
		nm.Load = 0
	}
	return nm, nil
}

type metaReader struct {
	b   []byte
	err error
}

func (r *metaReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMetaShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) int() int {
	v := r.uvarint()
	if v > math.MaxInt32 {
		v = math.MaxInt32
	}
	return int(v)
}

func (r *metaReader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = errMetaShort
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *metaReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errMetaShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// coordVersion is the first byte of a Vivaldi coordinate in a ping ack.
const coordVersion = 1

// encodeCoord encodes a coordinate: version(1) dims(1) then dims+3
// float64s (big endian): the vector, error, adjustment, height.
func encodeCoord(c *coordinate.Coordinate) []byte {
	b := make([]byte, 0, 2+8*(len(c.Vec)+3))
	b = append(b, coordVersion, byte(len(c.Vec)))
	for _, f := range c.Vec {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	}
	for _, f := range []float64{c.Error, c.Adjustment, c.Height} {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// decodeCoord parses what encodeCoord wrote; the result is valid (finite
// components) or an error.
func decodeCoord(b []byte) (*coordinate.Coordinate, error) {
	if len(b) < 2 || b[0] != coordVersion {
		return nil, errors.New("coordinate: bad header")
	}
	dims := int(b[1])
	if dims == 0 || len(b) != 2+8*(dims+3) {
		return nil, errors.New("coordinate: bad length")
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b[2+8*i:])) }
	c := &coordinate.Coordinate{Vec: make([]float64, dims)}
	for i := range dims {
		c.Vec[i] = f(i)
	}
	c.Error, c.Adjustment, c.Height = f(dims), f(dims+1), f(dims+2)
	if !c.IsValid() {
		return nil, errors.New("coordinate: not finite")
	}
	return c, nil
}
