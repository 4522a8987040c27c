package htmlrewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Handlers return wait = true to suspend the Rewriter until the next Run
// (an async handler's promise); the content they were given stays valid
// and mutable until then. An error stops the rewriting.
type (
	ElementHandler func(*Element) (wait bool, err error)
	TextHandler    func(*TextChunk) (wait bool, err error)
	CommentHandler func(*Comment) (wait bool, err error)
	DoctypeHandler func(*Doctype) (wait bool, err error)
	EndHandler     func(*DocumentEnd) (wait bool, err error)
	EndTagHandler  func(*EndTag) (wait bool, err error)
)

// ElementHandlers are the handlers of a selector (Rewriter.On): for the
// elements it matches, and for the comments and text inside them.
type ElementHandlers struct {
	Element  ElementHandler
	Comments CommentHandler
	Text     TextHandler
}

// DocumentHandlers are the handlers of the whole document
// (Rewriter.OnDocument).
type DocumentHandlers struct {
	Doctype  DoctypeHandler
	Comments CommentHandler
	Text     TextHandler
	End      EndHandler
}

// Status is why Run returned.
type Status int

const (
	// NeedInput: all input written so far is processed.
	NeedInput Status = iota
	// Suspended: a handler is waiting; Run again once it is done.
	Suspended
	// Done: the input ended and is processed.
	Done
)

// Options bounds a Rewriter. Zero fields take the defaults.
type Options struct {
	// MaxDepth bounds the open elements (default DefaultMaxDepth).
	MaxDepth int
	// MaxTextChunk bounds a text chunk's bytes (default
	// DefaultMaxTextChunk).
	MaxTextChunk int
	// MaxOutput bounds the bytes written in all (0: no bound).
	MaxOutput int
	// Check, when set, is called every checkEvery tokens; an error stops
	// the rewriting (a CPU limit, in an isolate).
	Check func() error
}

// checkEvery is how many tokens go between calls of Options.Check.
const checkEvery = 256

// Defaults of Options.
const (
	DefaultMaxDepth     = 1024
	DefaultMaxTextChunk = 16 << 10
)

// ErrTooDeep and ErrTooLarge stop a Rewriter whose input nests deeper than
// MaxDepth, or whose output is larger than MaxOutput.
var (
	ErrTooDeep  = errors.New("HTMLRewriter: the document nests elements too deeply")
	ErrTooLarge = errors.New("HTMLRewriter: the rewritten document is too large")
)

type selHandlers struct {
	sel *Selector
	h   ElementHandlers
}

// openElem is an element on the stack of open elements.
type openElem struct {
	name     string // as in the source, for matching its end tag
	node     *html.Node
	el       *Element // nil: no element handler matched
	matched  []int    // selectors that matched it
	children int
	types    typeCounts
	ns       string
}

// typeCounts counts an element's children by tag name, for
// :nth-of-type: a short list, and a map once there are many names.
type typeCounts struct {
	names []string
	n     []int
	m     map[string]int
}

// inc counts one more child named name and returns its position among
// those.
func (t *typeCounts) inc(name string) int {
	if t.m != nil {
		t.m[name]++
		return t.m[name]
	}
	for i, s := range t.names {
		if s == name {
			t.n[i]++
			return t.n[i]
		}
	}
	if len(t.names) < 8 {
		t.names = append(t.names, name)
		t.n = append(t.n, 1)
		return 1
	}
	t.m = make(map[string]int, 16)
	for i, s := range t.names {
		t.m[s] = t.n[i]
	}
	t.names, t.n = nil, nil
	t.m[name]++
	return t.m[name]
}

// Rewriter rewrites one document (see the package doc).
type Rewriter struct {
	opts Options
	sels []selHandlers
	doc  []DocumentHandlers
	nth  []nthSpec // all selectors' nth specs, deduplicated
	// nthKeys are their synthetic attributes' names.
	nthKeys []string

	// input
	in       []byte // input not yet consumed by complete tokens
	rpos     int    // in[:rpos] was given to the tokenizer
	consumed int    // in[:consumed] is consumed
	prefix   []byte // fed before in: the start tag restoring raw text mode
	ppos     int
	skip     bool // the tokenizer's first token is prefix's: drop it
	closed   bool
	starved  bool // the reader ran out of input
	waitFor  int  // don't retokenize before in holds this many bytes
	z        *html.Tokenizer
	rawTag   string // the tokenizer is in raw text mode for this tag
	eof      bool
	textOpen bool // a text node was cut by the end of input so far

	// state
	root     *html.Node
	rootElem openElem
	stack    []openElem
	active   []int // per selector: open elements it matched
	suppress int

	queue    []func() (bool, error)
	qi       int
	out      bytes.Buffer
	written  int
	finished bool
	err      error
	tokens   int
}

// New returns a Rewriter.
func New(opts Options) *Rewriter {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxTextChunk <= 0 {
		opts.MaxTextChunk = DefaultMaxTextChunk
	}
	r := &Rewriter{opts: opts, root: &html.Node{Type: html.DocumentNode}}
	r.rootElem = openElem{node: r.root, ns: NamespaceHTML}
	return r
}

// On adds handlers for the elements sel matches. Call it before the first
// Write.
func (r *Rewriter) On(sel *Selector, h ElementHandlers) {
	r.sels = append(r.sels, selHandlers{sel, h})
	r.active = append(r.active, 0)
	for _, n := range sel.nth {
		if !containsSpec(r.nth, n) {
			r.nth = append(r.nth, n)
			r.nthKeys = append(r.nthKeys, n.key())
		}
	}
}

func containsSpec(l []nthSpec, n nthSpec) bool {
	for _, m := range l {
		if m == n {
			return true
		}
	}
	return false
}

// OnDocument adds document handlers. Call it before the first Write.
func (r *Rewriter) OnDocument(h DocumentHandlers) { r.doc = append(r.doc, h) }

// Write queues input. The Rewriter keeps p; the caller must not modify it.
func (r *Rewriter) Write(p []byte) {
	if len(r.in) == 0 && r.rpos == 0 {
		r.in = p[:len(p):len(p)]
		return
	}
	r.in = append(r.in, p...)
}

// Close marks the end of input.
func (r *Rewriter) Close() { r.closed = true }

// Run processes what it can and returns the output since the last Run
// (the Rewriter keeps no reference to it).
func (r *Rewriter) Run() ([]byte, Status, error) {
	if r.err != nil {
		return nil, Done, r.err
	}
	st, err := r.run()
	if err != nil {
		r.err = err
		r.queue, r.in = nil, nil
	}
	out := bytes.Clone(r.out.Bytes())
	r.out.Reset()
	return out, st, err
}

func (r *Rewriter) run() (Status, error) {
	for {
		for r.qi < len(r.queue) {
			f := r.queue[r.qi]
			r.queue[r.qi] = nil
			r.qi++
			wait, err := f()
			if err != nil {
				return Done, err
			}
			if r.opts.MaxOutput > 0 && r.written+r.out.Len() > r.opts.MaxOutput {
				return Done, ErrTooLarge
			}
			if wait {
				return Suspended, nil
			}
		}
		r.queue, r.qi = r.queue[:0], 0
		if r.finished {
			r.written += r.out.Len()
			return Done, nil
		}
		if r.tokens++; r.opts.Check != nil && r.tokens%checkEvery == 0 {
			if err := r.opts.Check(); err != nil {
				return Done, err
			}
		}
		more, err := r.next()
		if err != nil {
			return Done, err
		}
		if !more {
			r.written += r.out.Len()
			return NeedInput, nil
		}
	}
}

func (r *Rewriter) emit(b []byte) {
	if r.suppress == 0 {
		r.out.Write(b)
	}
}

func (r *Rewriter) emitContent(cs []Content) {
	if r.suppress == 0 {
		writeContent(&r.out, cs)
	}
}

func (r *Rewriter) add(f func() (bool, error)) { r.queue = append(r.queue, f) }

// emitRaw writes raw at its place in the output: at once when nothing is
// queued before it (the common case: no handler for the token), else
// after what is queued.
func (r *Rewriter) emitRaw(raw []byte) {
	if len(r.queue) == r.qi {
		r.emit(raw)
		return
	}
	r.addEmit(func() { r.emit(raw) })
}

func (r *Rewriter) addEmit(f func()) {
	r.queue = append(r.queue, func() (bool, error) { f(); return false, nil })
}

// feeder is the tokenizer's reader: prefix, then in; errNeedMore when it
// runs out before Close.
type feeder struct{ *Rewriter }

func (f feeder) Read(p []byte) (int, error) {
	r := f.Rewriter
	if r.ppos < len(r.prefix) {
		n := copy(p, r.prefix[r.ppos:])
		r.ppos += n
		return n, nil
	}
	if r.rpos < len(r.in) {
		n := copy(p, r.in[r.rpos:])
		r.rpos += n
		return n, nil
	}
	if r.closed {
		return 0, io.EOF
	}
	r.starved = true
	return 0, errNeedMore
}

var errNeedMore = errors.New("need more input")

// next tokenizes one token and queues its handling; false when more
// input is needed.
func (r *Rewriter) next() (bool, error) {
	if r.eof {
		r.finish()
		return true, nil
	}
	if r.z == nil {
		if !r.closed && len(r.in) < r.waitFor {
			return false, nil
		}
		if len(r.in) == 0 && !r.closed {
			return false, nil
		}
		r.z = html.NewTokenizer(feeder{r})
		if r.rawTag != "" {
			r.prefix, r.ppos, r.skip = []byte("<"+r.rawTag+">"), 0, true
		}
	}
	z := r.z
	z.AllowCDATA(r.top().ns != NamespaceHTML)
	tt := z.Next()
	// A copy: Text, TagName and TagAttr rewrite the tokenizer's buffer in
	// place (lower-casing, unescaping, newline conversion).
	raw := bytes.Clone(z.Raw())
	if r.skip {
		r.skip = false
		if !r.starved {
			return r.next()
		}
	}
	if r.starved {
		return r.starve(tt, raw)
	}
	if r.textOpen && tt != html.TextToken {
		// The text node handed on in pieces ends here.
		r.textOpen = false
		if r.wantsText() {
			r.textChunk(&TextChunk{LastInTextNode: true})
		}
	}
	if tt == html.ErrorToken {
		r.eof = true
		if r.consumed < len(r.in) { // bytes the tokenizer dropped
			rest := bytes.Clone(r.in[r.consumed:])
			r.emitRaw(rest)
		}
		r.in = nil
		return true, nil
	}
	r.consumed += len(raw)
	return true, r.token(tt, raw)
}

// starve handles a token cut by the end of the input so far: text up to
// its last '<' is handed on, the rest tokenized again when more comes.
func (r *Rewriter) starve(tt html.TokenType, raw []byte) (bool, error) {
	if tt == html.TextToken {
		n := bytes.LastIndexByte(raw, '<')
		if n < 0 {
			n = len(raw)
		}
		// Keep back a character cut in two.
		for i := n - 1; i >= 0 && i >= n-utf8.UTFMax; i-- {
			if utf8.RuneStart(raw[i]) {
				if !utf8.FullRune(raw[i:n]) {
					n = i
				}
				break
			}
		}
		if n > 0 {
			r.text(raw[:n], false)
			r.consumed += n
			r.textOpen = true
		}
	}
	rest := len(r.in) - r.consumed
	r.in = append(r.in[:0:0], r.in[r.consumed:]...)
	r.rpos, r.consumed, r.z, r.starved, r.prefix, r.skip = 0, 0, nil, false, nil, false
	r.waitFor = 2*rest + 1
	return len(r.queue) > 0, nil
}

// top is the innermost open element (valid until the stack changes).
func (r *Rewriter) top() *openElem {
	if len(r.stack) == 0 {
		return &r.rootElem
	}
	return &r.stack[len(r.stack)-1]
}

// tagName is a tag's name as a string, without allocating for the names
// HTML knows.
func tagName(b []byte) string {
	if a := atom.Lookup(b); a != 0 {
		return a.String()
	}
	return string(b)
}

func (r *Rewriter) token(tt html.TokenType, raw []byte) error {
	switch tt {
	case html.TextToken:
		r.textOpen = false
		r.text(raw, true)
	case html.StartTagToken, html.SelfClosingTagToken:
		return r.startTag(tt, raw)
	case html.EndTagToken:
		r.rawTag = ""
		r.endTag(raw)
	case html.CommentToken:
		r.comment(raw)
	case html.DoctypeToken:
		r.doctype(raw)
	}
	return nil
}

// text queues the handling of a text node's bytes, in chunks.
func (r *Rewriter) text(raw []byte, last bool) {
	if !r.wantsText() {
		r.emitRaw(raw)
		return
	}
	for len(raw) > 0 {
		n := min(len(raw), r.opts.MaxTextChunk)
		for n < len(raw) && n > 0 && !utf8.RuneStart(raw[n]) {
			n--
		}
		if n == 0 {
			n = min(len(raw), r.opts.MaxTextChunk)
		}
		r.textChunk(&TextChunk{Text: string(raw[:n]), LastInTextNode: last && n == len(raw)})
		raw = raw[n:]
	}
}

// wantsText reports whether a text handler applies here.
func (r *Rewriter) wantsText() bool {
	for _, d := range r.doc {
		if d.Text != nil {
			return true
		}
	}
	for i, s := range r.sels {
		if s.h.Text != nil && r.active[i] > 0 {
			return true
		}
	}
	return false
}

// wantsComments reports whether a comment handler applies here.
func (r *Rewriter) wantsComments() bool {
	for _, d := range r.doc {
		if d.Comments != nil {
			return true
		}
	}
	for i, s := range r.sels {
		if s.h.Comments != nil && r.active[i] > 0 {
			return true
		}
	}
	return false
}

func (r *Rewriter) textChunk(t *TextChunk) {
	for i, s := range r.sels {
		if h := s.h.Text; h != nil && r.active[i] > 0 {
			r.add(func() (bool, error) { return h(t) })
		}
	}
	for _, d := range r.doc {
		if h := d.Text; h != nil {
			r.add(func() (bool, error) { return h(t) })
		}
	}
	r.addEmit(func() {
		if r.suppress == 0 {
			t.write(&r.out, func() { r.out.WriteString(t.Text) })
		}
	})
}

func (r *Rewriter) comment(raw []byte) {
	if !r.wantsComments() {
		r.emitRaw(raw)
		return
	}
	text := string(r.z.Text())
	c := &Comment{raw: string(raw), text: text}
	for i, s := range r.sels {
		if h := s.h.Comments; h != nil && r.active[i] > 0 {
			r.add(func() (bool, error) { return h(c) })
		}
	}
	for _, d := range r.doc {
		if h := d.Comments; h != nil {
			r.add(func() (bool, error) { return h(c) })
		}
	}
	r.addEmit(func() {
		if r.suppress == 0 {
			c.write(&r.out, func() {
				if c.set {
					r.out.WriteString("<!--" + c.text + "-->")
				} else {
					r.out.WriteString(c.raw)
				}
			})
		}
	})
}

func (r *Rewriter) doctype(raw []byte) {
	d := parseDoctype(string(r.z.Text()))
	for _, h := range r.doc {
		if h := h.Doctype; h != nil {
			r.add(func() (bool, error) { return h(d) })
		}
	}
	r.emitRaw(raw)
}

// parseDoctype splits a doctype token's text: name, PUBLIC "id" "id" or
// SYSTEM "id".
func parseDoctype(s string) *Doctype {
	d := &Doctype{}
	s = strings.TrimLeft(s, " \t\n\f\r")
	i := strings.IndexAny(s, " \t\n\f\r")
	if i < 0 {
		d.Name = strings.ToLower(s)
		return d
	}
	d.Name, s = strings.ToLower(s[:i]), strings.TrimLeft(s[i:], " \t\n\f\r")
	quoted := func() (string, bool) {
		s = strings.TrimLeft(s, " \t\n\f\r")
		if s == "" || (s[0] != '"' && s[0] != '\'') {
			return "", false
		}
		q := s[0]
		j := strings.IndexByte(s[1:], q)
		if j < 0 {
			v := s[1:]
			s = ""
			return v, true
		}
		v := s[1 : 1+j]
		s = s[j+2:]
		return v, true
	}
	switch {
	case len(s) >= 6 && strings.EqualFold(s[:6], "public"):
		s = s[6:]
		d.PublicID, d.HasPublic = quoted()
		d.SystemID, d.HasSystem = quoted()
	case len(s) >= 6 && strings.EqualFold(s[:6], "system"):
		s = s[6:]
		d.SystemID, d.HasSystem = quoted()
	}
	return d
}

var voidElements = map[string]bool{
	"area": true, "base": true, "basefont": true, "bgsound": true, "br": true, "col": true, "embed": true,
	"frame": true, "hr": true, "image": true, "img": true, "input": true, "keygen": true, "link": true,
	"meta": true, "param": true, "source": true, "track": true, "wbr": true,
}

var rawTags = map[string]bool{
	"iframe": true, "noembed": true, "noframes": true, "noscript": true, "plaintext": true,
	"script": true, "style": true, "textarea": true, "title": true, "xmp": true,
}

func (r *Rewriter) startTag(tt html.TokenType, raw []byte) error {
	z := r.z
	nameB, hasAttr := z.TagName()
	name := tagName(nameB)
	var attrs []html.Attribute
	for hasAttr && len(r.sels) > 0 { // only selectors and elements read them
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		attrs = append(attrs, html.Attribute{Key: string(k), Val: string(v)})
	}
	parent := r.top()
	ns := parent.ns
	switch {
	case name == "svg":
		ns = NamespaceSVG
	case name == "math":
		ns = NamespaceMathML
	case ns == NamespaceSVG && (parent.name == "foreignobject" || parent.name == "desc" || parent.name == "title"):
		ns = NamespaceHTML
	}
	if rawTags[name] {
		if ns == NamespaceHTML {
			r.rawTag = name
		} else {
			z.NextIsNotRawText()
		}
	}
	selfClosing := tt == html.SelfClosingTagToken
	void := voidElements[name] && ns == NamespaceHTML || selfClosing && ns != NamespaceHTML

	parent.children++
	typeIdx := 0
	if len(r.nth) > 0 {
		typeIdx = parent.types.inc(name)
	}
	var node *html.Node
	if len(r.sels) > 0 {
		node = &html.Node{Type: html.ElementNode, Data: name, Attr: attrs, Parent: parent.node, Namespace: nsPrefix(ns)}
	}
	if len(r.nth) > 0 {
		node.Attr = append(attrs[:len(attrs):len(attrs)], r.nthAttrs(parent.children, typeIdx)...)
	}
	var matched []int
	for i, s := range r.sels {
		if s.sel.matches(node) {
			matched = append(matched, i)
		}
	}
	if node != nil {
		node.Attr = attrs
	}

	var el *Element
	for _, i := range matched {
		if h := r.sels[i].h.Element; h != nil {
			if el == nil {
				el = &Element{tag: name, origTag: name, attrs: append([]html.Attribute(nil), attrs...),
					raw: raw, selfClosing: selfClosing, void: void, ns: ns}
			}
			r.add(func() (bool, error) { return h(el) })
		}
	}
	if el == nil {
		r.emitRaw(raw)
	} else {
		r.addEmit(func() { r.emitStart(el) })
	}
	if void {
		if el != nil {
			r.addEmit(func() { r.emitEnd(el, &EndTag{name: name, implicit: true}) })
		}
		return nil
	}
	if len(r.stack) >= r.opts.MaxDepth {
		return fmt.Errorf("%w (more than %d open elements)", ErrTooDeep, r.opts.MaxDepth)
	}
	for _, i := range matched {
		r.active[i]++
	}
	r.stack = append(r.stack, openElem{name: name, node: node, el: el, matched: matched, ns: ns})
	return nil
}

func nsPrefix(ns string) string {
	switch ns {
	case NamespaceSVG:
		return "svg"
	case NamespaceMathML:
		return "math"
	}
	return ""
}

// nthAttrs are the synthetic attributes of the nth pseudo-classes an
// element at position i (j among its type) matches.
func (r *Rewriter) nthAttrs(i, j int) []html.Attribute {
	var out []html.Attribute
	for x, n := range r.nth {
		k := i
		if n.ofType {
			k = j
		}
		if n.match(k) {
			out = append(out, html.Attribute{Key: r.nthKeys[x]})
		}
	}
	return out
}

func (r *Rewriter) emitStart(el *Element) {
	r.emitContent(el.before)
	switch {
	case el.removed && !el.keepContent:
		r.emitContent(el.replacement)
		if !el.void {
			r.suppress++
			el.suppressing = true
		}
	case el.removed:
		r.emitContent(el.prepend)
	default:
		if r.suppress == 0 {
			el.writeStartTag(&r.out)
		}
		r.emitContent(el.prepend)
		if el.hasInner {
			r.emitContent(el.inner)
			if !el.void {
				r.suppress++
				el.suppressing = true
			}
		}
	}
}

func (r *Rewriter) emitEnd(el *Element, et *EndTag) {
	if el.suppressing {
		r.suppress--
		el.suppressing = false
	}
	if !el.removed || el.keepContent {
		r.emitContent(el.append)
		if r.suppress == 0 {
			et.write(&r.out, func() {
				if !el.removed {
					et.writeTag(&r.out)
				}
			})
		}
	}
	r.emitContent(el.after)
}

// endTag closes the innermost open element named as the tag, and those
// opened inside it.
func (r *Rewriter) endTag(raw []byte) {
	nameB, _ := r.z.TagName()
	name := tagName(nameB)
	i := len(r.stack) - 1
	for i >= 0 && r.stack[i].name != name {
		i--
	}
	if i < 0 {
		r.emitRaw(raw)
		return
	}
	for len(r.stack) > i+1 {
		r.pop(nil)
	}
	r.pop(raw)
}

// pop closes the innermost open element; raw is its end tag (nil: not in
// the source).
func (r *Rewriter) pop(raw []byte) {
	o := r.stack[len(r.stack)-1]
	r.stack[len(r.stack)-1] = openElem{}
	r.stack = r.stack[:len(r.stack)-1]
	for _, i := range o.matched {
		r.active[i]--
	}
	el := o.el
	if el == nil {
		if raw != nil {
			r.emitRaw(raw)
		}
		return
	}
	et := &EndTag{name: el.tag, raw: raw, implicit: raw == nil, renamed: el.tag != el.origTag}
	for _, h := range el.endTagHandlers {
		r.add(func() (bool, error) { return h(et) })
	}
	// Handlers added by end tag handlers are not called.
	r.addEmit(func() { r.emitEnd(el, et) })
}

// finish closes the open elements and ends the document.
func (r *Rewriter) finish() {
	for len(r.stack) > 0 {
		r.pop(nil)
	}
	end := &DocumentEnd{}
	for _, d := range r.doc {
		if h := d.End; h != nil {
			r.add(func() (bool, error) { return h(end) })
		}
	}
	r.addEmit(func() {
		r.suppress = 0
		writeContent(&r.out, end.appended)
	})
	r.finished = true
}
