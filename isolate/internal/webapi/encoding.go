package webapi

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dop251/goja"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/transform"
)

// utf8Decoder is the Encoding Standard's UTF-8 decoder. Unlike Go's
// conversions it replaces each maximal ill-formed subpart with one U+FFFD,
// and it keeps state across chunks for streaming.
type utf8Decoder struct {
	cp           rune
	needed, seen int
	lower, upper byte
}

func (d *utf8Decoder) reset() { *d = utf8Decoder{} }

// decode appends the decoding of in to out. With fatal it stops at the
// first error and reports false.
func (d *utf8Decoder) decode(out []byte, in []byte, flush, fatal bool) ([]byte, bool) {
	if d.lower == 0 {
		d.lower, d.upper = 0x80, 0xBF
	}
	if d.needed == 0 && utf8.Valid(in) {
		return append(out, in...), true
	}
	for i := 0; i < len(in); i++ {
		b := in[i]
		if d.needed == 0 {
			switch {
			case b < 0x80:
				out = append(out, b)
			case b >= 0xC2 && b <= 0xDF:
				d.needed, d.cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					d.lower = 0xA0
				} else if b == 0xED {
					d.upper = 0x9F
				}
				d.needed, d.cp = 2, rune(b&0xF)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					d.lower = 0x90
				} else if b == 0xF4 {
					d.upper = 0x8F
				}
				d.needed, d.cp = 3, rune(b&0x7)
			default:
				if fatal {
					return out, false
				}
				out = utf8.AppendRune(out, utf8.RuneError)
			}
			continue
		}
		if b < d.lower || b > d.upper {
			d.cp, d.needed, d.seen, d.lower, d.upper = 0, 0, 0, 0x80, 0xBF
			if fatal {
				return out, false
			}
			out = utf8.AppendRune(out, utf8.RuneError)
			i-- // process b again
			continue
		}
		d.lower, d.upper = 0x80, 0xBF
		d.cp = d.cp<<6 | rune(b&0x3F)
		d.seen++
		if d.seen == d.needed {
			out = utf8.AppendRune(out, d.cp)
			d.cp, d.needed, d.seen = 0, 0, 0
		}
	}
	if flush && d.needed != 0 {
		d.reset()
		if fatal {
			return out, false
		}
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return out, true
}

const bom = "\uFEFF"

// decodeUTF8 is the Encoding Standard's "UTF-8 decode" (BOM stripped) or,
// with keepBOM, "UTF-8 decode without BOM".
func decodeUTF8(b []byte, keepBOM bool) string {
	var d utf8Decoder
	out, _ := d.decode(nil, b, true, false)
	s := string(out)
	if !keepBOM {
		s = strings.TrimPrefix(s, bom)
	}
	return s
}

// utf16Decoder is the Encoding Standard's shared UTF-16 decoder.
type utf16Decoder struct {
	be        bool
	lead      int // -1: none
	surrogate int // -1: none
}

func (d *utf16Decoder) reset() { d.lead, d.surrogate = -1, -1 }

func (d *utf16Decoder) decode(out []byte, in []byte, flush, fatal bool) ([]byte, bool) {
	for _, b := range in {
		if d.lead < 0 {
			d.lead = int(b)
			continue
		}
		var cu int
		if d.be {
			cu = d.lead<<8 | int(b)
		} else {
			cu = int(b)<<8 | d.lead
		}
		d.lead = -1
		if d.surrogate >= 0 {
			lead := d.surrogate
			d.surrogate = -1
			if cu >= 0xDC00 && cu <= 0xDFFF {
				out = utf8.AppendRune(out, rune(0x10000+(lead-0xD800)<<10+(cu-0xDC00)))
				continue
			}
			if fatal {
				return out, false
			}
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		switch {
		case cu >= 0xD800 && cu <= 0xDBFF:
			d.surrogate = cu
		case cu >= 0xDC00 && cu <= 0xDFFF:
			if fatal {
				return out, false
			}
			out = utf8.AppendRune(out, utf8.RuneError)
		default:
			out = utf8.AppendRune(out, rune(cu))
		}
	}
	if flush && (d.lead >= 0 || d.surrogate >= 0) {
		d.reset()
		if fatal {
			return out, false
		}
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return out, true
}

// windows1252High maps bytes 0x80-0x9F; other bytes are their code point.
var windows1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// encodingName resolves a TextDecoder label to an encoding of the Encoding
// Standard: its name, and for the legacy encodings other than
// windows-1252 its golang.org/x/text implementation. Unknown labels, and
// those of the replacement encoding, give "".
func encodingName(label string) (string, encoding.Encoding) {
	l := asciiLower(strings.Trim(label, "\t\n\f\r "))
	switch l {
	case "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8":
		return "utf-8", nil
	case "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le":
		return "utf-16le", nil
	case "unicodefffe", "utf-16be":
		return "utf-16be", nil
	case "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100",
		"iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252":
		return "windows-1252", nil
	}
	// htmlindex trims and lower-cases more than ASCII; the label is
	// already normalised and must be ASCII.
	for i := 0; i < len(l); i++ {
		if l[i] >= utf8.RuneSelf {
			return "", nil
		}
	}
	if strings.TrimSpace(l) != l { // "\vutf-8"
		return "", nil
	}
	enc, err := htmlindex.Get(l)
	if err != nil || enc == encoding.Replacement {
		return "", nil
	}
	name, err := htmlindex.Name(enc)
	switch {
	case err != nil || name == "replacement":
		return "", nil
	case name == "utf-8" || name == "utf-16le" || name == "utf-16be" || name == "windows-1252":
		return name, nil // a label the switch above lacks: our own decoders
	}
	return name, enc
}

// asciiLower lower-cases the ASCII letters of s (and only those).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// legacyDecoder decodes a legacy encoding with golang.org/x/text, which
// implements the Encoding Standard's decoders (htmlindex) and replaces
// errors with U+FFFD. Bytes of an incomplete sequence at the end of a
// streamed chunk wait for the next one.
type legacyDecoder struct {
	// single, for a single-byte encoding, decodes by table instead of t.
	single  *byteTable
	t       transform.Transformer
	pending []byte
	// fffd is how the encoding encodes U+FFFD itself (gb18030 can), so
	// that fatal mode tells a decoded U+FFFD from an error.
	fffd []byte
}

// byteTable is the decoding table of a single-byte encoding: each byte's
// code point, utf8.RuneError where the encoding has none.
type byteTable [256]rune

// singleByteTables caches a table per charmap.
var singleByteTables sync.Map // *charmap.Charmap -> *byteTable

// singleByteTable builds cm's table from x/text's decoder, with one fix:
// x/text leaves bytes 0x80-0x9F that its tables do not name undefined
// (U+FFFD), where the Encoding Standard's indexes map every one of them to
// the C1 control of the same value (windows-1250's 0x81 is U+0081,
// ISO-8859-2's 0x80 is U+0080). Bytes the Standard leaves undefined are
// all 0xA0 or above.
func singleByteTable(cm *charmap.Charmap) *byteTable {
	if t, ok := singleByteTables.Load(cm); ok {
		return t.(*byteTable)
	}
	t := new(byteTable)
	for b := range 256 {
		r := cm.DecodeByte(byte(b))
		if r == utf8.RuneError && b >= 0x80 && b <= 0x9F {
			r = rune(b)
		}
		t[b] = r
	}
	v, _ := singleByteTables.LoadOrStore(cm, t)
	return v.(*byteTable)
}

func newLegacyDecoder(enc encoding.Encoding) *legacyDecoder {
	if enc == charmap.ISO8859_8I {
		// ISO-8859-8-I decodes as ISO-8859-8 (the I is about direction).
		enc = charmap.ISO8859_8
	}
	if cm, ok := enc.(*charmap.Charmap); ok {
		return &legacyDecoder{single: singleByteTable(cm)}
	}
	d := &legacyDecoder{t: enc.NewDecoder()}
	if enc == traditionalchinese.Big5 {
		d.t = big5Decoder{inner: d.t}
	}
	if b, err := enc.NewEncoder().Bytes([]byte("\uFFFD")); err == nil && len(b) > 0 && !bytes.Equal(b, []byte("\uFFFD")) {
		d.fffd = b
	}
	return d
}

// big5Decoder is x/text's Big5 decoder (which keeps no state) run one
// byte or pair at a time, with the Encoding Standard's rule for a pair
// that decodes to nothing: an ASCII trail byte is not part of the error but
// decoded on its own ([0x81, 0x40] is "\uFFFD@"), where x/text drops it.
type big5Decoder struct{ inner transform.Transformer }

func (d big5Decoder) Reset() { d.inner.Reset() }

func (d big5Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	var buf [8]byte // a unit decodes to at most two runes of two bytes
	for nSrc < len(src) {
		n := 1
		if c0 := src[nSrc]; c0 >= 0x81 && c0 <= 0xfe {
			if nSrc+1 < len(src) {
				n = 2
			} else if !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
		}
		m, k, _ := d.inner.Transform(buf[:], src[nSrc:nSrc+n], true)
		if k < 1 {
			k = 1
		}
		if k == 2 && src[nSrc+1] < utf8.RuneSelf && string(buf[:m]) == "\uFFFD" {
			k = 1
		}
		if nDst+m > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += copy(dst[nDst:], buf[:m])
		nSrc += k
	}
	return nDst, nSrc, nil
}

func (d *legacyDecoder) reset() {
	if d.t != nil {
		d.t.Reset()
	}
	d.pending = nil
}

func (d *legacyDecoder) decode(out []byte, in []byte, flush, fatal bool) ([]byte, bool) {
	if d.single != nil {
		out = slices.Grow(out, len(in))
		for _, b := range in {
			r := d.single[b]
			if r == utf8.RuneError && fatal {
				return out, false
			}
			out = utf8.AppendRune(out, r)
		}
		return out, true
	}
	src := in
	if len(d.pending) > 0 {
		src = append(d.pending, in...)
		d.pending = nil
	}
	start := len(out)
	buf := make([]byte, min(3*len(src)+16, 64<<10))
	consumed := 0
loop:
	for consumed < len(src) {
		nDst, nSrc, err := d.t.Transform(buf, src[consumed:], flush)
		out = append(out, buf[:nDst]...)
		consumed += nSrc
		switch err {
		case nil:
			break loop
		case transform.ErrShortDst:
			if nDst == 0 && nSrc == 0 {
				if len(buf) >= 1<<20 { // no decoder needs this much for one unit
					out = utf8.AppendRune(out, utf8.RuneError)
					consumed++
					d.t.Reset()
				} else {
					buf = make([]byte, 2*len(buf))
				}
			}
		case transform.ErrShortSrc:
			// An incomplete sequence ends the input: it waits for the
			// next chunk, or at the end (not expected of a decoder
			// given atEOF) is an error.
			if !flush {
				d.pending = slices.Clone(src[consumed:])
			} else {
				out = utf8.AppendRune(out, utf8.RuneError)
			}
			break loop
		default:
			// x/text decoders write U+FFFD rather than fail; should one
			// fail, the byte is an error and decoding goes on after it.
			out = utf8.AppendRune(out, utf8.RuneError)
			consumed++
			d.t.Reset()
		}
	}
	if flush {
		d.t.Reset()
	}
	if fatal {
		errs := bytes.Count(out[start:], []byte("\uFFFD"))
		if d.fffd != nil {
			errs -= bytes.Count(src[:consumed], d.fffd)
		}
		if errs > 0 {
			d.reset()
			return out, false
		}
	}
	return out, true
}

type textDecoder struct {
	encoding   string
	legacy     *legacyDecoder // nil for utf-8, utf-16 and windows-1252
	fatal      bool
	ignoreBOM  bool
	bomSeen    bool
	doNotFlush bool
	u8         utf8Decoder
	u16        utf16Decoder
}

func (d *textDecoder) get(a *API, key string) goja.Value {
	switch key {
	case "encoding":
		return a.vm.ToValue(d.encoding)
	case "fatal":
		return a.vm.ToValue(d.fatal)
	case "ignoreBOM":
		return a.vm.ToValue(d.ignoreBOM)
	}
	return nil
}

func (d *textDecoder) set(a *API, key string, v goja.Value) (known, ok bool) {
	return d.get(a, key) != nil, false
}

// decode decodes in, a chunk of chunkBytes at a time, looking at the
// interrupt between chunks (a decoder keeps its state across them, as
// across the chunks of a stream), and makes the string.
func (d *textDecoder) decode(a *API, in []byte, flush bool) (goja.Value, bool) {
	out := make([]byte, 0, min(len(in), chunkBytes))
	ok := true
	for off := 0; ; {
		end := min(off+chunkBytes, len(in))
		if d.encoding == "utf-8" {
			// A chunk ends before a character, so that a well-formed
			// one is decoded whole.
			for k := 0; k < 3 && end < len(in) && in[end]&0xC0 == 0x80; k++ {
				end--
			}
		}
		last := end == len(in)
		chunk := in[off:end]
		switch d.encoding {
		case "utf-8":
			out, ok = d.u8.decode(out, chunk, flush && last, d.fatal)
		case "utf-16le", "utf-16be":
			out, ok = d.u16.decode(out, chunk, flush && last, d.fatal)
		case "windows-1252":
			for _, b := range chunk {
				r := rune(b)
				if b >= 0x80 && b <= 0x9F {
					r = windows1252High[b-0x80]
				}
				out = utf8.AppendRune(out, r)
			}
		default:
			out, ok = d.legacy.decode(out, chunk, flush && last, d.fatal)
		}
		if !ok {
			return nil, false
		}
		if last {
			break
		}
		off = end
		a.stopIfInterrupted()
	}
	if !d.ignoreBOM && !d.bomSeen && len(out) > 0 && d.legacy == nil && d.encoding != "windows-1252" {
		d.bomSeen = true
		out = bytes.TrimPrefix(out, []byte(bom))
	}
	return utf8String(a, out), true
}

// utf8Text is decodeUTF8(b, false) as a JS string, decoded and made a
// chunk at a time as TextDecoder's are (a body read whole may be
// DefaultMaxBody bytes).
func (a *API) utf8Text(b []byte) goja.Value {
	d := textDecoder{encoding: "utf-8"}
	d.resetStream()
	v, _ := d.decode(a, b, true)
	return v
}

func (d *textDecoder) resetStream() {
	d.u8.reset()
	d.u16.reset()
	d.u16.be = d.encoding == "utf-16be"
	if d.legacy != nil {
		d.legacy.reset()
	}
	d.bomSeen = false
}

var textDecoderClass = &classDef{
	name:   "TextDecoder",
	length: 0,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		label := "utf-8"
		if v := call.Argument(0); !goja.IsUndefined(v) {
			label = a.str(v)
		}
		name, enc := encodingName(label)
		if name == "" {
			a.rangeError("Failed to construct 'TextDecoder': The encoding label provided ('%s') is invalid.", label)
		}
		opts := a.dict(call.Argument(1), "Failed to construct 'TextDecoder': options")
		d := &textDecoder{encoding: name}
		if enc != nil {
			d.legacy = newLegacyDecoder(enc)
		}
		if v := field(opts, "fatal"); v != nil {
			d.fatal = v.ToBoolean()
		}
		if v := field(opts, "ignoreBOM"); v != nil {
			d.ignoreBOM = v.ToBoolean()
		}
		d.resetStream()
		return a.wrapProto(proto, d)
	},
	methods: newMembers(
		method("decode", 0, func(a *API, call goja.FunctionCall) goja.Value {
			d := this[*textDecoder](a, call)
			var in []byte
			if v := call.Argument(0); !isNullish(v) {
				b, ok := a.allowSharedBufferSource(v)
				if !ok {
					a.typeError("Failed to execute 'decode' on 'TextDecoder': parameter 1 is not of type 'ArrayBuffer' or 'ArrayBufferView'.")
				}
				in = b
			}
			opts := a.dict(call.Argument(1), "Failed to execute 'decode' on 'TextDecoder': options")
			stream := false
			if v := field(opts, "stream"); v != nil {
				stream = v.ToBoolean()
			}
			if !d.doNotFlush {
				d.resetStream()
			}
			d.doNotFlush = stream
			s, ok := d.decode(a, in, !stream)
			if !ok {
				d.doNotFlush = false
				a.typeError("Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding %s", d.encoding)
			}
			return s
		}),
	),
}

type textEncoder struct{}

func (textEncoder) get(a *API, key string) goja.Value {
	if key == "encoding" {
		return a.vm.ToValue("utf-8")
	}
	return nil
}

func (textEncoder) set(a *API, key string, v goja.Value) (known, ok bool) {
	return key == "encoding", false
}

var textEncoderClass = &classDef{
	name:   "TextEncoder",
	length: 0,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		return a.wrapProto(proto, textEncoder{})
	},
	methods: newMembers(
		method("encode", 0, func(a *API, call goja.FunctionCall) goja.Value {
			this[textEncoder](a, call)
			v := call.Argument(0)
			if goja.IsUndefined(v) {
				return a.newUint8Array(nil)
			}
			s := a.jsString(v)
			// Each code unit is a byte at least: an encoding that could
			// never fit is refused before it is made.
			a.reserve(int64(s.Length()), goja.AllocArrayBuffer)
			out := make([]byte, 0, s.Length())
			a.strChunks(s, func(part string) bool {
				out = append(out, part...)
				return true
			})
			return a.newUint8Array(out)
		}),
		method("encodeInto", 2, func(a *API, call goja.FunctionCall) goja.Value {
			this[textEncoder](a, call)
			s := a.jsString(call.Argument(0))
			dst, ok := call.Argument(1).(*goja.Object)
			var buf []byte
			if !ok || !a.isUint8Array(dst) || a.vm.ExportTo(dst, &buf) != nil {
				a.typeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.")
			}
			read, written := 0, 0
			a.strChunks(s, func(part string) bool {
				for _, r := range part {
					n := utf8.RuneLen(r)
					if written+n > len(buf) {
						return false
					}
					utf8.EncodeRune(buf[written:], r)
					written += n
					read++
					if r > 0xFFFF {
						read++
					}
				}
				return true
			})
			res := a.vm.NewObject()
			_ = res.Set("read", read)
			_ = res.Set("written", written)
			return res
		}),
	),
}

// atob implements forgiving-base64 decode. A long string is read, decoded
// and made a chunk at a time, looking at the interrupt between chunks.
func (a *API) atob(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		a.typeError("Failed to execute 'atob': 1 argument required, but only 0 present.")
	}
	s := a.jsString(call.Argument(0))
	clean := make([]byte, 0, min(s.Length(), chunkBytes))
	bad := false
	a.strChunks(s, func(part string) bool {
		for i := 0; i < len(part); i++ {
			switch c := part[i]; {
			case c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ':
			case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=':
				clean = append(clean, c)
			default:
				bad = true
				return false
			}
		}
		return true
	})
	if len(clean)%4 == 0 {
		if n := len(clean); n > 0 && clean[n-1] == '=' {
			clean = clean[:n-1]
			if n > 1 && clean[n-2] == '=' {
				clean = clean[:n-2]
			}
		}
	}
	bad = bad || len(clean)%4 == 1 || bytes.IndexByte(clean, '=') >= 0
	var out []byte
	if !bad {
		out = make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
		n := 0
		for i := 0; i < len(clean) && !bad; {
			if i > 0 {
				a.stopIfInterrupted()
			}
			j := min(i+chunkBytes, len(clean)) // chunkBytes is a multiple of 4
			m, err := base64.RawStdEncoding.Decode(out[n:], clean[i:j])
			n += m
			bad = err != nil
			i = j
		}
		out = out[:n]
	}
	if bad {
		panic(a.domException("The string to be decoded is not correctly encoded.", "InvalidCharacterError"))
	}
	return latin1String(a, out)
}

// btoa implements btoa; a long string is read and encoded a chunk at a
// time, looking at the interrupt between chunks.
func (a *API) btoa(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		a.typeError("Failed to execute 'btoa': 1 argument required, but only 0 present.")
	}
	s := a.jsString(call.Argument(0))
	sb := a.newString(base64.StdEncoding.EncodedLen(s.Length()), true)
	// latin1 holds the string's bytes not yet encoded: the encoding of
	// a chunk stops at a multiple of three, and the rest waits.
	latin1 := make([]byte, 0, min(s.Length(), chunkBytes/2+2))
	enc := make([]byte, 0, base64.StdEncoding.EncodedLen(cap(latin1)))
	a.strChunks(s, func(part string) bool {
		for _, r := range part {
			if r > 0xFF {
				panic(a.domException("The string to be encoded contains characters outside of the Latin1 range.", "InvalidCharacterError"))
			}
			latin1 = append(latin1, byte(r))
		}
		n := len(latin1) / 3 * 3
		enc = base64.StdEncoding.AppendEncode(enc[:0], latin1[:n])
		sb.WriteUTF8String(string(enc))
		latin1 = append(latin1[:0], latin1[n:]...)
		return true
	})
	enc = base64.StdEncoding.AppendEncode(enc[:0], latin1)
	sb.WriteUTF8String(string(enc))
	return sb.String()
}
