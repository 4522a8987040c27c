package bundle

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// goja looks source-mapped positions up with a 1-based generated column and
// reports the mapped original column as is, while source maps hold 0-based
// columns (go-sourcemap also drops every mapping to line 1, column 0). So the
// inline map is tuned for goja: every generated and every original column is
// one greater than the standard says. goja then finds the right segment and
// prints 1-based columns, like its unmapped positions and like editors.
// TestSourceMappedStack fails if goja changes this.

// inlineSourceMap rewrites the map's sources to the author's module names,
// shifts its columns for goja, and appends it to js as a data: URL.
func inlineSourceMap(js, sm []byte) (string, error) {
	var m struct {
		Version  int             `json:"version"`
		Sources  []string        `json:"sources"`
		Names    json.RawMessage `json:"names,omitempty"`
		Mappings string          `json:"mappings"`
	}
	if err := json.Unmarshal(sm, &m); err != nil {
		return "", plainError("esbuild produced an unreadable source map: " + err.Error())
	}
	for i, s := range m.Sources {
		m.Sources[i] = sourceName(s)
	}
	mappings, ok := shiftColumns(m.Mappings)
	if !ok {
		return "", plainError("esbuild produced an unreadable source map")
	}
	m.Mappings = mappings
	enc, err := json.Marshal(&m)
	if err != nil {
		return "", plainError("cannot encode the source map: " + err.Error())
	}
	const prefix = "//# sourceMappingURL=data:application/json;base64,"
	var sb strings.Builder
	sb.Grow(len(js) + len(prefix) + base64.StdEncoding.EncodedLen(len(enc)) + 1)
	sb.Write(js)
	if len(js) > 0 && js[len(js)-1] != '\n' {
		sb.WriteByte('\n')
	}
	sb.WriteString(prefix)
	sb.WriteString(base64.StdEncoding.EncodeToString(enc))
	sb.WriteByte('\n')
	return sb.String(), nil
}

// shiftColumns adds one to every generated and every original column of a
// source map's "mappings". Generated columns are relative within a line, so
// only each line's first segment changes; original columns are relative
// across the whole map, so only the first segment with a source changes.
func shiftColumns(mappings string) (string, bool) {
	var sb strings.Builder
	sb.Grow(len(mappings) + strings.Count(mappings, ";") + 8)
	srcShifted := false
	var fields [5]int
	for line := range strings.SplitSeq(mappings, ";") {
		first := true
		for seg := range strings.SplitSeq(line, ",") {
			if !first {
				sb.WriteByte(',')
			}
			if seg == "" || (!first && srcShifted) {
				sb.WriteString(seg)
				first = false
				continue
			}
			n, ok := decodeSegment(seg, &fields)
			if !ok {
				return "", false
			}
			if first {
				fields[0]++
			}
			if !srcShifted && n >= 4 {
				fields[3]++
				srcShifted = true
			}
			for i := 0; i < n; i++ {
				encodeVLQ(&sb, fields[i])
			}
			first = false
		}
		sb.WriteByte(';')
	}
	out := sb.String()
	return out[:len(out)-1], true // drop the ";" after the last line
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

var b64index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b64chars); i++ {
		t[b64chars[i]] = int8(i)
	}
	return t
}()

// decodeSegment decodes the VLQ fields of one segment (1, 4 or 5 of them).
func decodeSegment(seg string, fields *[5]int) (int, bool) {
	n := 0
	for i := 0; i < len(seg); {
		if n == len(fields) {
			return 0, false
		}
		v, shift := 0, 0
		for {
			if i >= len(seg) || shift > 30 {
				return 0, false
			}
			d := b64index[seg[i]]
			i++
			if d < 0 {
				return 0, false
			}
			v |= int(d&31) << shift
			shift += 5
			if d&32 == 0 {
				break
			}
		}
		if v&1 != 0 {
			v = -(v >> 1)
		} else {
			v >>= 1
		}
		fields[n] = v
		n++
	}
	return n, n > 0
}

func encodeVLQ(sb *strings.Builder, v int) {
	if v < 0 {
		v = (-v << 1) | 1
	} else {
		v <<= 1
	}
	for {
		d := v & 31
		v >>= 5
		if v > 0 {
			d |= 32
		}
		sb.WriteByte(b64chars[d])
		if v == 0 {
			return
		}
	}
}
