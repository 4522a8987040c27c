package intl

import (
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// segmenter walks a string's graphemes, words or sentences (Unicode
// UAX #29, by github.com/rivo/uniseg), keeping UTF-16 indices as JS counts
// them.
type segmenter struct {
	granularity string // grapheme, word, sentence
	rest        string
	state       int
	index       int // UTF-16 index of rest
}

func newSegmenter(granularity, s string) *segmenter {
	return &segmenter{granularity: granularity, rest: s, state: -1}
}

// next returns the next segment's UTF-16 index and length, and whether it
// is word-like (letters, digits, ideographs); ok is false at the end.
func (sg *segmenter) next() (index, length int, wordLike, ok bool) {
	if sg.rest == "" {
		return 0, 0, false, false
	}
	var seg string
	switch sg.granularity {
	case "word":
		seg, sg.rest, sg.state = uniseg.FirstWordInString(sg.rest, sg.state)
	case "sentence":
		seg, sg.rest, sg.state = uniseg.FirstSentenceInString(sg.rest, sg.state)
	default:
		seg, sg.rest, _, sg.state = uniseg.FirstGraphemeClusterInString(sg.rest, sg.state)
	}
	n := 0
	for _, r := range seg {
		// A lone surrogate reached Go as U+FFFD: one unit, as it was.
		if r >= 0x10000 && r != utf8.RuneError {
			n += 2
		} else {
			n++
		}
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			wordLike = true
		}
	}
	index = sg.index
	sg.index += n
	return index, n, wordLike, true
}
