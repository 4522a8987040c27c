package htmlrewrite

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// Content is inserted content: text, escaped on output, or HTML, written
// as is.
type Content struct {
	Text string
	HTML bool
}

func writeContent(b *bytes.Buffer, cs []Content) {
	for _, c := range cs {
		if c.HTML {
			b.WriteString(c.Text)
		} else {
			b.WriteString(escapeText(c.Text))
		}
	}
}

var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return textEscaper.Replace(s)
}

var attrEscaper = strings.NewReplacer("&", "&amp;", `"`, "&quot;")

// mutations are those that text chunks, comments and end tags share.
type mutations struct {
	before, after []Content
	replacement   []Content
	removed       bool
}

// Before inserts content before the token (after content inserted before).
func (m *mutations) Before(c Content) { m.before = append(m.before, c) }

// After inserts content right after the token (before content inserted
// after it earlier).
func (m *mutations) After(c Content) { m.after = append([]Content{c}, m.after...) }

// Replace replaces the token with content.
func (m *mutations) Replace(c Content) { m.replacement, m.removed = []Content{c}, true }

// Remove removes the token.
func (m *mutations) Remove() { m.replacement, m.removed = nil, true }

// Removed reports whether the token was removed or replaced.
func (m *mutations) Removed() bool { return m.removed }

func (m *mutations) write(b *bytes.Buffer, token func()) {
	writeContent(b, m.before)
	if m.removed {
		writeContent(b, m.replacement)
	} else {
		token()
	}
	writeContent(b, m.after)
}

// TextChunk is a piece of a text node.
type TextChunk struct {
	mutations
	// Text is the chunk as in the source (character references are not
	// decoded).
	Text string
	// LastInTextNode: the text node ends with this chunk.
	LastInTextNode bool
}

// Comment is an HTML comment.
type Comment struct {
	mutations
	raw  string
	text string
	set  bool
}

// Text is the comment's text.
func (c *Comment) Text() string { return c.text }

// SetText replaces the comment's text.
func (c *Comment) SetText(s string) { c.text, c.set = s, true }

// Doctype is the document's doctype. An empty field is one the doctype
// does not give.
type Doctype struct {
	Name, PublicID, SystemID string
	HasPublic, HasSystem     bool
}

// DocumentEnd is the end of the document.
type DocumentEnd struct{ appended []Content }

// Append inserts content at the end of the document.
func (d *DocumentEnd) Append(c Content) { d.appended = append(d.appended, c) }

// EndTag is an element's end tag.
type EndTag struct {
	mutations
	name     string
	renamed  bool
	raw      []byte // nil: the end tag is implied (not in the source)
	implicit bool
}

// Name is the tag's name.
func (e *EndTag) Name() string { return e.name }

// SetName renames the tag.
func (e *EndTag) SetName(s string) { e.name, e.renamed = s, true }

func (e *EndTag) writeTag(b *bytes.Buffer) {
	switch {
	case e.implicit:
	case e.renamed:
		b.WriteString("</" + e.name + ">")
	default:
		b.Write(e.raw)
	}
}

// Element is an element's start tag, with what handlers do to the element.
type Element struct {
	tag         string
	origTag     string
	attrs       []html.Attribute
	raw         []byte
	modified    bool
	selfClosing bool
	void        bool
	ns          string

	before, after, prepend, append []Content
	inner                          []Content
	hasInner                       bool
	replacement                    []Content
	removed, keepContent           bool
	endTagHandlers                 []EndTagHandler
	suppressing                    bool
}

// The namespaces of elements.
const (
	NamespaceHTML   = "http://www.w3.org/1999/xhtml"
	NamespaceSVG    = "http://www.w3.org/2000/svg"
	NamespaceMathML = "http://www.w3.org/1998/Math/MathML"
)

// TagName is the element's tag name, lower-case.
func (e *Element) TagName() string { return e.tag }

// SetTagName renames the element (its start and end tags).
func (e *Element) SetTagName(s string) { e.tag, e.modified = strings.ToLower(s), true }

// NamespaceURI is the element's namespace.
func (e *Element) NamespaceURI() string { return e.ns }

// Attributes are the element's attributes, in order (the caller must not
// modify them).
func (e *Element) Attributes() []html.Attribute { return e.attrs }

// Attribute returns the value of the attribute named name.
func (e *Element) Attribute(name string) (string, bool) {
	name = strings.ToLower(name)
	for _, a := range e.attrs {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// SetAttribute sets an attribute, adding it at the end if new.
func (e *Element) SetAttribute(name, value string) {
	name = strings.ToLower(name)
	e.modified = true
	for i := range e.attrs {
		if e.attrs[i].Key == name {
			e.attrs[i].Val = value
			return
		}
	}
	e.attrs = append(e.attrs, html.Attribute{Key: name, Val: value})
}

// RemoveAttribute removes an attribute.
func (e *Element) RemoveAttribute(name string) {
	name = strings.ToLower(name)
	for i := range e.attrs {
		if e.attrs[i].Key == name {
			e.attrs = append(e.attrs[:i:i], e.attrs[i+1:]...)
			e.modified = true
			return
		}
	}
}

// CanHaveContent is false for a void element (br, img, ...) and a
// self-closing element in SVG or MathML: those have no content nor end tag.
func (e *Element) CanHaveContent() bool { return !e.void }

// Before inserts content before the element.
func (e *Element) Before(c Content) { e.before = append(e.before, c) }

// After inserts content right after the element.
func (e *Element) After(c Content) { e.after = append([]Content{c}, e.after...) }

// Prepend inserts content right after the start tag.
func (e *Element) Prepend(c Content) { e.prepend = append([]Content{c}, e.prepend...) }

// Append inserts content right before the end tag.
func (e *Element) Append(c Content) { e.append = append(e.append, c) }

// SetInnerContent replaces the element's content.
func (e *Element) SetInnerContent(c Content) {
	e.inner, e.hasInner = []Content{c}, true
	e.prepend, e.append = nil, nil
}

// Replace replaces the element, content and all.
func (e *Element) Replace(c Content) {
	e.replacement, e.removed, e.keepContent = []Content{c}, true, false
}

// Remove removes the element and its content.
func (e *Element) Remove() { e.replacement, e.removed, e.keepContent = nil, true, false }

// RemoveAndKeepContent removes the element's tags, keeping its content.
func (e *Element) RemoveAndKeepContent() {
	e.replacement, e.removed, e.keepContent = nil, true, true
}

// Removed reports whether the element was removed or replaced.
func (e *Element) Removed() bool { return e.removed }

// OnEndTag adds a handler for the element's end tag. It is an error for an
// element that cannot have content.
func (e *Element) OnEndTag(h EndTagHandler) { e.endTagHandlers = append(e.endTagHandlers, h) }

func (e *Element) writeStartTag(b *bytes.Buffer) {
	if !e.modified {
		b.Write(e.raw)
		return
	}
	b.WriteByte('<')
	b.WriteString(e.tag)
	for _, a := range e.attrs {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteString(`="`)
		b.WriteString(attrEscaper.Replace(a.Val))
		b.WriteByte('"')
	}
	if e.selfClosing {
		b.WriteString(" /")
	}
	b.WriteByte('>')
}
