package bundle

import "fmt"

// MaxNesting is the deepest nesting of brackets, parentheses, braces and
// template substitutions a module may have. esbuild parses recursively: a
// module of 250,000 nested array literals overflows its goroutine stack,
// and 10,000 nested blocks cost seconds and gigabytes, because its output
// grows with the square of the depth. Hand-written and generated code
// alike stay far below this.
const MaxNesting = 1000

// checkNesting scans a JavaScript, TypeScript or JSON source once and
// returns an *Error locating the first point deeper than limit.
//
// It is a tokenizer in miniature: it skips comments, string literals,
// template text and regular-expression literals, and counts the nesting of
// (, [, { and ${. Telling a regular expression from a division needs the
// previous token; the guess below (a slash after an operator, an opening
// bracket or a keyword-like word starts a regexp) can misjudge only rare
// code, and a misjudged slash changes the count by the brackets inside one
// literal, which matters only within a few levels of the limit. Constructs
// that nest without brackets (x=>x=>..., if(1)if(1)..., !!!!...) are not
// counted here: the sandbox's stack, memory and time caps end those.
func checkNesting(file, src string, limit int) *Error {
	depth := 0
	// templates holds, for each template literal being read, the depth
	// at which its current ${ substitution opened.
	var templates []int
	line, lineStart := 1, 0
	// regexOK: a '/' here starts a regular expression, not a division.
	regexOK := true
	fail := func(i int) *Error {
		col := i - lineStart + 1
		return &Error{File: file, Line: line, Column: col,
			Text: fmt.Sprintf("the code nests deeper than %d levels of brackets, braces and parentheses", limit)}
	}
	n := len(src)
	for i := 0; i < n; i++ {
		c := src[i]
		switch {
		case c == '\n':
			line, lineStart = line+1, i+1
			continue
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '/' && i+1 < n && src[i+1] == '/':
			for i+1 < n && src[i+1] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && src[i+1] == '*':
			i += 2
			for i < n && !(src[i] == '*' && i+1 < n && src[i+1] == '/') {
				if src[i] == '\n' {
					line, lineStart = line+1, i+1
				}
				i++
			}
			i++
			continue
		case c == '\'' || c == '"':
			i = skipQuoted(src, i, c)
			regexOK = false
			continue
		case c == '/' && regexOK:
			i = skipRegexp(src, i)
			regexOK = false
			continue
		case c == '`':
			var opened bool
			i, opened = skipTemplate(src, i+1, &line, &lineStart)
			if opened {
				depth++
				if depth > limit {
					return fail(i)
				}
				templates = append(templates, depth)
				regexOK = true
			} else {
				regexOK = false
			}
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
			if depth > limit {
				return fail(i)
			}
			regexOK = true
			continue
		case c == '}' && len(templates) > 0 && templates[len(templates)-1] == depth:
			// The end of a ${...}: the template's text goes on.
			templates = templates[:len(templates)-1]
			depth--
			var opened bool
			i, opened = skipTemplate(src, i+1, &line, &lineStart)
			if opened {
				depth++
				templates = append(templates, depth)
				regexOK = true
			} else {
				regexOK = false
			}
			continue
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
			// After ')' a slash is usually a division (if (x) /re/ is
			// rare); after '}' usually a regexp (a block ended).
			regexOK = c == '}'
			continue
		case isIdentByte(c) || c >= 0x80:
			j := i
			for j < n && (isIdentByte(src[j]) || src[j] >= 0x80) {
				j++
			}
			word := src[i:j]
			regexOK = word == "return" || word == "typeof" || word == "case" || word == "do" ||
				word == "else" || word == "in" || word == "of" || word == "new" || word == "delete" ||
				word == "void" || word == "throw" || word == "yield" || word == "await" || word == "instanceof"
			i = j - 1
			continue
		}
		// Any other punctuation: an operator, ',', ';', ':', '?'. A slash
		// after it starts a regexp; "++" and "--" end an operand, though.
		regexOK = !((c == '+' || c == '-') && i > 0 && src[i-1] == c)
	}
	return nil
}

// skipQuoted returns the index of the closing quote of the string literal
// opening at i (or the end of the line or source for an unterminated one).
func skipQuoted(src string, i int, q byte) int {
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q, '\n':
			return i
		}
	}
	return len(src)
}

// skipRegexp returns the index of the slash closing the regexp literal
// opening at i, or of the end of its line.
func skipRegexp(src string, i int) int {
	inClass := false
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '/':
			if !inClass {
				return i
			}
		case '\n':
			return i - 1
		}
	}
	return len(src)
}

// skipTemplate reads template text from i to its closing backquote or the
// next "${". It returns the index of that backquote or of the '{', and
// whether a substitution opened.
func skipTemplate(src string, i int, line, lineStart *int) (int, bool) {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '\n':
			*line, *lineStart = *line+1, i+1
		case '`':
			return i, false
		case '$':
			if i+1 < len(src) && src[i+1] == '{' {
				return i + 1, true
			}
		}
	}
	return len(src), false
}
