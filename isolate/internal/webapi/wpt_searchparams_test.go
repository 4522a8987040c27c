package webapi

import "testing"

// TestURLSearchParamsRecord follows WPT url/urlsearchparams-constructor:
// a record's keys are USVStrings, so keys that differ only in their lone
// surrogates merge.
func TestURLSearchParamsRecord(t *testing.T) {
	entries := `return JSON.stringify([...new URLSearchParams(input)])`
	runCases(t, []jsCase{
		{"object with +", `const input = {"+": "%C2"}; ` + entries, `[["+","%C2"]]`},
		{"object with two keys", `const input = {c: "x", a: "?"}; ` + entries, `[["c","x"],["a","?"]]`},
		{"2 unpaired surrogates (no trailing)", `const input = {"\uD835x": "1", "xx": "2", "\uD83Dx": "3"}; ` + entries, "[[\"\uFFFDx\",\"3\"],[\"xx\",\"2\"]]"},
		{"3 unpaired surrogates (no leading)", `const input = {"x\uDC53": "1", "x\uDC5C": "2", "x\uDC65": "3"}; ` + entries, "[[\"x\uFFFD\",\"3\"]]"},
		{"NULL, non-ASCII and surrogate keys", `const input = {"a\0b": "42", "c\uD83D": "23", "d\u1234": "foo"}; ` + entries, "[[\"a\\u0000b\",\"42\"],[\"c\uFFFD\",\"23\"],[\"d\u1234\",\"foo\"]]"},
		{"real U+FFFD and a lone surrogate merge", `const input = {"\uFFFD": "1", "\uD800": "2"}; ` + entries, "[[\"\uFFFD\",\"2\"]]"},
		{"values are USVStrings", `const input = {a: "\uD800"}; ` + entries, "[[\"a\",\"\uFFFD\"]]"},
		{"getter read once per key", `let n = 0; const input = {get "\uD800"() { n++; return "v" }}; new URLSearchParams(input); return n`, "1"},
	})
}
