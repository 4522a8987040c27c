package binary

import (
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// TestWarrenHugeDeclaredCounts: a vector whose declared count the bytes
// left cannot hold, and a function of more locals than V8 allows, are
// malformed before anything is sized by them (patch 0005).
func TestWarrenHugeDeclaredCounts(t *testing.T) {
	head := "\x00asm\x01\x00\x00\x00"
	huge := "\xff\xff\xff\xff\x0f"
	typ := "\x01\x04\x01\x60\x00\x00"
	fn := "\x03\x02\x01\x00"
	for name, m := range map[string]string{
		"exports":   "\x07\x05" + huge,
		"globals":   "\x06\x0a" + huge + "\x7f\x00\x41\x00\x0b",
		"data":      "\x0b\x06" + huge + "\x00",
		"functions": typ + "\x03\x06" + huge + "\x00",
		"locals":    typ + fn + "\x0a\x0b\x01\x09\x01" + huge[:4] + "\x0f\x7f\x0b",
		"custom":    "\x00" + huge + "\x01x",
		"names":     "\x00\x0c\x04name\x01\x06" + huge,
	} {
		_, err := DecodeModule([]byte(head+m), api.CoreFeaturesV2, 1, false, false, true)
		if err == nil || !strings.Contains(err.Error(), "declared") && !strings.Contains(err.Error(), "too many locals") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
