package htmlrewrite

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
)

// Selector is a compiled CSS selector (see the package doc for the subset).
type Selector struct {
	src string
	sel cascadia.SelectorGroup
	// nth are the structural pseudo-classes the selector uses, each
	// rewritten to the synthetic attribute nthSpec.key.
	nth []nthSpec
}

// String is the selector as given.
func (s *Selector) String() string { return s.src }

// nthSpec is one :nth-child(an+b) or :nth-of-type(an+b).
type nthSpec struct {
	a, b   int
	ofType bool
}

// key is the synthetic attribute standing for the pseudo-class: its name
// holds a space, which no tokenized attribute name can.
func (n nthSpec) key() string {
	t := 0
	if n.ofType {
		t = 1
	}
	return fmt.Sprintf("warren nth_%s_%s_%d", encInt(n.a), encInt(n.b), t)
}

func encInt(i int) string {
	if i < 0 {
		return "m" + strconv.Itoa(-i)
	}
	return strconv.Itoa(i)
}

// match reports whether the element at 1-based position i matches.
func (n nthSpec) match(i int) bool {
	d := i - n.b
	if n.a == 0 {
		return d == 0
	}
	return d%n.a == 0 && d/n.a >= 0
}

// SelectorError is a selector Compile refuses.
type SelectorError struct {
	Selector string
	Reason   string
}

func (e *SelectorError) Error() string {
	return fmt.Sprintf("%s in selector %q", e.Reason, e.Selector)
}

// MaxSelectorLen bounds a selector's length.
const MaxSelectorLen = 4096

// Compile parses a selector, refusing what Cloudflare's HTMLRewriter does
// not support with a *SelectorError.
func Compile(src string) (*Selector, error) {
	fail := func(format string, args ...any) (*Selector, error) {
		return nil, &SelectorError{Selector: src, Reason: fmt.Sprintf(format, args...)}
	}
	if len(src) > MaxSelectorLen {
		return fail("Selector longer than %d bytes", MaxSelectorLen)
	}
	if strings.TrimSpace(src) == "" {
		return fail("Empty selector")
	}
	var out strings.Builder
	var nth []nthSpec
	depth := 0 // parentheses of :not(
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\\':
			end := min(i+2, len(src))
			out.WriteString(src[i:end])
			i = end
		case c == '"' || c == '\'':
			j := skipString(src, i)
			out.WriteString(src[i:j])
			i = j
		case c == '[':
			j := i + 1
			for j < len(src) && src[j] != ']' {
				switch src[j] {
				case '"', '\'':
					j = skipString(src, j)
					continue
				case '\\':
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			out.WriteString(src[i:j])
			i = j
		case c == '+' || c == '~':
			return fail("Unsupported combinator %q (sibling combinators are not supported)", string(c))
		case c == ')':
			if depth == 0 {
				return fail("Unbalanced parenthesis")
			}
			depth--
			out.WriteByte(c)
			i++
		case c == ':':
			j := i + 1
			if j < len(src) && src[j] == ':' {
				return fail("Unsupported pseudo-element")
			}
			for j < len(src) && (isNameChar(src[j])) {
				j++
			}
			name := strings.ToLower(src[i+1 : j])
			var spec nthSpec
			switch name {
			case "not":
				if j >= len(src) || src[j] != '(' {
					return fail("Expected ( after :not")
				}
				out.WriteString(":not(")
				depth++
				i = j + 1
				continue
			case "first-child":
				spec = nthSpec{a: 0, b: 1}
			case "first-of-type":
				spec = nthSpec{a: 0, b: 1, ofType: true}
			case "nth-child", "nth-of-type":
				if j >= len(src) || src[j] != '(' {
					return fail("Expected ( after :%s", name)
				}
				k := strings.IndexByte(src[j:], ')')
				if k < 0 {
					return fail("Unbalanced parenthesis")
				}
				a, b, err := parseNth(src[j+1 : j+k])
				if err != nil {
					return fail("Invalid argument of :%s: %v", name, err)
				}
				spec = nthSpec{a: a, b: b, ofType: name == "nth-of-type"}
				j += k + 1
			default:
				return fail("Unsupported pseudo-class :%s", name)
			}
			nth = append(nth, spec)
			out.WriteString("[" + strings.ReplaceAll(spec.key(), " ", `\ `) + "]")
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	if depth != 0 {
		return fail("Unbalanced parenthesis")
	}
	g, err := cascadia.ParseGroup(out.String())
	if err != nil {
		return fail("Invalid selector (%v)", err)
	}
	return &Selector{src: src, sel: g, nth: nth}, nil
}

func isNameChar(c byte) bool {
	return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// skipString returns the index after the string literal at s[i].
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return len(s)
}

// parseNth parses an+b (CSS Syntax 3, "An+B").
func parseNth(s string) (a, b int, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "odd":
		return 2, 1, nil
	case "even":
		return 2, 0, nil
	case "":
		return 0, 0, errors.New("empty")
	}
	if strings.Contains(s, " of ") {
		return 0, 0, errors.New("the \"of S\" form is not supported")
	}
	n := strings.IndexByte(s, 'n')
	if n < 0 {
		b, err = atoi(s)
		return 0, b, err
	}
	switch as := strings.TrimSpace(s[:n]); as {
	case "", "+":
		a = 1
	case "-":
		a = -1
	default:
		if a, err = atoi(as); err != nil {
			return 0, 0, err
		}
	}
	rest := strings.ReplaceAll(s[n+1:], " ", "")
	if rest == "" {
		return a, 0, nil
	}
	if rest[0] != '+' && rest[0] != '-' {
		return 0, 0, fmt.Errorf("bad %q", s)
	}
	b, err = atoi(rest)
	return a, b, err
}

func atoi(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
	if err != nil || v > 1<<30 || v < -(1<<30) {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

// matches reports whether the element node n (its synthetic nth attributes
// set) matches.
func (s *Selector) matches(n *html.Node) bool { return s.sel.Match(n) }
