package intl

import (
	"strings"

	"golang.org/x/text/language"
)

// localeKeys are the Unicode extension keys Intl.Locale exposes, with
// their option names.
var localeKeys = [][2]string{{"ca", "calendar"}, {"co", "collation"}, {"hc", "hourCycle"}, {"kf", "caseFirst"}, {"kn", "numeric"}, {"nu", "numberingSystem"}}

// localeInfo is what an Intl.Locale shows of a tag.
type localeInfo struct {
	Tag, BaseName, Language, Script, Region string
	Keys                                    map[string]string // "ca" → "gregory"; "kn" may be ""
	HasKey                                  map[string]bool
}

// parseLocale reads a tag for Intl.Locale, applying the options' subtags
// and keys (opts[name] set, for the option names and language, script,
// region).
func parseLocale(tag string, opts map[string]string) (*localeInfo, error) {
	canon, err := canonicalize(tag)
	if err != nil {
		return nil, err
	}
	t, err := language.Parse(canon)
	if err != nil {
		return nil, rangeErrorf("Incorrect locale information provided")
	}
	b, s, r := t.Raw()
	if v, ok := opts["language"]; ok {
		nb, err := language.ParseBase(v)
		if err != nil || len(v) < 2 || len(v) > 8 {
			return nil, rangeErrorf("Incorrect locale information provided")
		}
		b = nb
	}
	if v, ok := opts["script"]; ok {
		ns, err := language.ParseScript(v)
		if err != nil {
			return nil, rangeErrorf("Incorrect locale information provided")
		}
		s = ns
	}
	if v, ok := opts["region"]; ok {
		nr, err := language.ParseRegion(v)
		if err != nil {
			return nil, rangeErrorf("Incorrect locale information provided")
		}
		r = nr
	}
	parts := []any{b}
	if s.String() != "Zzzz" {
		parts = append(parts, s)
	}
	if r.String() != "ZZ" {
		parts = append(parts, r)
	}
	for _, v := range t.Variants() {
		parts = append(parts, v)
	}
	nt, err := language.Compose(parts...)
	if err != nil {
		return nil, rangeErrorf("Incorrect locale information provided")
	}
	// Keys: the tag's, then the options'.
	info := &localeInfo{Keys: map[string]string{}, HasKey: map[string]bool{}}
	for _, k := range localeKeys {
		if v := t.TypeForKey(k[0]); v != "" || strings.Contains(canon, "-u-"+k[0]) {
			info.Keys[k[0]], info.HasKey[k[0]] = v, true
		}
		if v, ok := opts[k[1]]; ok {
			info.Keys[k[0]], info.HasKey[k[0]] = v, true
		}
	}
	info.BaseName = nt.String()
	full := nt
	for _, k := range localeKeys {
		if !info.HasKey[k[0]] {
			continue
		}
		v := info.Keys[k[0]]
		if k[0] == "kn" && v == "" {
			v = "true"
		}
		if full, err = full.SetTypeForKey(k[0], v); err != nil {
			return nil, rangeErrorf("Incorrect locale information provided")
		}
	}
	// BCP 47 drops a "true" value: "-u-kn-true" is "-u-kn".
	info.Tag = full.String()
	if i := strings.Index(info.Tag, "-kn-true"); i >= 0 && (len(info.Tag) == i+8 || info.Tag[i+8] == '-') {
		info.Tag = info.Tag[:i+3] + info.Tag[i+8:]
	}
	info.Language, info.Script, info.Region = b.String(), "", ""
	if s.String() != "Zzzz" {
		info.Script = s.String()
	}
	if r.String() != "ZZ" {
		info.Region = r.String()
	}
	return info, nil
}

// maximize adds the likely script and region (CLDR's likely subtags, as
// x/text has them): "zh-TW" → "zh-Hant-TW".
func maximize(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	b, _ := t.Base()
	s, _ := t.Script()
	r, _ := t.Region()
	mt, err := language.Compose(b, s, r, t.Variants(), extensionsOf(t))
	if err != nil {
		return tag
	}
	return mt.String()
}

// minimize removes the subtags maximize would add back: "en-Latn-US" →
// "en", "zh-Hant-TW" → "zh-TW".
func minimize(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	max := maximizeBase(t)
	b, _ := t.Base()
	s, _ := t.Script()
	r, _ := t.Region()
	for _, parts := range [][]any{{b}, {b, r}, {b, s}} {
		c, err := language.Compose(parts...)
		if err == nil && maximizeBase(c) == max {
			mt, err := language.Compose(append(parts, t.Variants(), extensionsOf(t))...)
			if err == nil {
				return mt.String()
			}
		}
	}
	return tag
}

func maximizeBase(t language.Tag) string {
	b, _ := t.Base()
	s, _ := t.Script()
	r, _ := t.Region()
	return b.String() + "-" + s.String() + "-" + r.String()
}

func extensionsOf(t language.Tag) []language.Extension { return t.Extensions() }
