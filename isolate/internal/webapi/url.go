package webapi

import (
	"strings"

	"github.com/dop251/goja"
	wurl "github.com/nlnwa/whatwg-url/url"
)

// urlParser follows the current URL Standard where whatwg-url v0.6.2 (May
// 2023) lags: "^" is in the path percent-encode set since 2024. The parser
// holds only options, so one per process is safe to share.
var urlParser = wurl.NewParser(wurl.WithPathPercentEncodeSet(wurl.PathPercentEncodeSet.Set('^')))

// maxURLLength bounds what we hand to the parser (about 0.1-0.4 µs a byte;
// a native call cannot be interrupted).
const maxURLLength = 1 << 20

// maxPathCost bounds segments × path length. whatwg-url serializes a path
// by repeated string concatenation, quadratic in the number of segments, on
// every href or pathname read: 50,000 one-byte segments take seconds. At
// this bound a serialization copies at most 32 MiB (tens of ms); real URLs
// are orders of magnitude below it.
const maxPathCost = 1 << 25

type urlError string

func (e urlError) Error() string { return string(e) }

// parseURL parses raw against base (nil: none).
func parseURL(raw string, base *wurl.Url) (*wurl.Url, error) {
	if len(raw) > maxURLLength {
		return nil, urlError("URL too long")
	}
	if err := checkPathCost(raw, base); err != nil {
		return nil, err
	}
	u, err := urlParser.BasicParser(raw, base, nil, wurl.NoState)
	if err != nil {
		return nil, err
	}
	return fixOpaquePath(u), nil
}

// checkPathCost estimates the path of raw (resolved against base) and
// refuses one whose serialization would be too costly.
func checkPathCost(raw string, base *wurl.Url) error {
	if hasOpaquePath(raw) {
		return nil
	}
	path := raw
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	segs := strings.Count(path, "/") + strings.Count(path, "\\")
	n := len(path)
	if base != nil && !base.OpaquePath() {
		bp := base.Pathname()
		segs += strings.Count(bp, "/")
		n += len(bp)
	}
	if segs*n > maxPathCost {
		return urlError("URL path has too many segments")
	}
	return nil
}

// hasOpaquePath reports whether raw starts with a non-special scheme not
// followed by "/", so that it parses to an opaque path (one segment). Like
// the parser it ignores leading C0 controls and spaces and every tab and
// newline.
func hasOpaquePath(raw string) bool {
	var scheme []byte
	lead := true
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\t' || c == '\n' || c == '\r' || lead && c <= ' ' {
			continue
		}
		lead = false
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case len(scheme) > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && len(scheme) > 0:
			switch strings.ToLower(string(scheme)) {
			case "http", "https", "ws", "wss", "ftp", "file":
				return false
			}
			rest := strings.TrimLeft(raw[i+1:], "\t\n\r")
			return rest == "" || rest[0] != '/'
		default:
			return false
		}
		scheme = append(scheme, c)
	}
	return false
}

// fixOpaquePath applies a 2024 change of the URL Standard that whatwg-url
// lacks: in an opaque path, a space right before the query or fragment is
// encoded as %20 (it used to be kept, and stripped when the query or
// fragment was removed).
func fixOpaquePath(u *wurl.Url) *wurl.Url {
	if !u.OpaquePath() {
		return u
	}
	p := u.Pathname()
	if !strings.HasSuffix(p, " ") {
		return u
	}
	href := u.Href(false)
	head := u.Protocol() + p
	if len(href) == len(head) || !strings.HasPrefix(href, head) {
		return u
	}
	fixed, err := urlParser.Parse(head[:len(head)-1] + "%20" + href[len(head):])
	if err != nil {
		return u
	}
	return fixed
}

func urlOrigin(u *wurl.Url) string {
	switch u.Scheme() {
	case "http", "https", "ws", "wss", "ftp":
		return u.Protocol() + "//" + u.Host()
	case "blob":
		inner, err := parseURL(u.Pathname(), nil)
		if err == nil && (inner.Scheme() == "http" || inner.Scheme() == "https") {
			return urlOrigin(inner)
		}
	}
	return "null"
}

type urlState struct {
	u         *wurl.Url
	params    *searchParams
	paramsObj *goja.Object
}

func (s *urlState) get(a *API, key string) goja.Value {
	u := s.u
	var v string
	switch key {
	case "href":
		v = u.Href(false)
	case "origin":
		v = urlOrigin(u)
	case "protocol":
		v = u.Protocol()
	case "username":
		v = u.Username()
	case "password":
		v = u.Password()
	case "host":
		v = u.Host()
	case "hostname":
		v = u.Hostname()
	case "port":
		v = u.Port()
	case "pathname":
		v = u.Pathname()
	case "search":
		v = u.Search()
	case "hash":
		v = u.Hash()
	case "searchParams":
		if s.paramsObj == nil {
			s.paramsObj = a.wrap(clsURLSearchParams, s.searchParams())
		}
		return s.paramsObj
	default:
		return nil
	}
	return a.vm.ToValue(v)
}

func (s *urlState) searchParams() *searchParams {
	if s.params == nil {
		s.params = &searchParams{url: s}
		s.params.parse(nil, s.u.Query())
	}
	return s.params
}

func (s *urlState) set(a *API, key string, v goja.Value) (known, ok bool) {
	switch key {
	case "origin", "searchParams":
		return true, false
	case "href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash":
	default:
		return false, false
	}
	val := a.str(v)
	if len(val) > maxURLLength {
		a.typeError("URL too long")
	}
	// Setters work on a copy, so a failed parse leaves the URL unchanged.
	u := s.u.Clone()
	switch key {
	case "href":
		nu, err := parseURL(val, nil)
		if err != nil {
			a.typeError("Failed to set the 'href' property on 'URL': Invalid URL %q", val)
		}
		u = nu
	case "protocol":
		u.SetProtocol(val)
	case "username":
		u.SetUsername(val)
	case "password":
		u.SetPassword(val)
	case "host":
		u.SetHost(val)
	case "hostname":
		u.SetHostname(val)
	case "port":
		u.SetPort(val)
	case "pathname":
		if checkPathCost(val, nil) != nil {
			a.typeError("URL path has too many segments")
		}
		u.SetPathname(val)
	case "search":
		u.SetSearch(val)
	case "hash":
		u.SetHash(val)
	}
	s.u = fixOpaquePath(u)
	if s.params != nil && (key == "href" || key == "search") {
		s.params.parse(nil, s.u.Query())
	}
	return true, true
}

// queryChanged is called by the linked URLSearchParams after a change.
func (s *urlState) queryChanged(serialized string) {
	u := s.u.Clone()
	u.SetSearch(serialized)
	s.u = fixOpaquePath(u)
}

func (a *API) urlArg(v goja.Value) string {
	if st, ok := stateOf[*urlState](v); ok {
		return st.u.Href(false)
	}
	return a.str(v)
}

// parseWithBase implements the URL constructor's parsing.
func (a *API) parseWithBase(urlV, baseV goja.Value) (*wurl.Url, error) {
	raw := a.urlArg(urlV)
	var base *wurl.Url
	if !goja.IsUndefined(baseV) {
		b, err := parseURL(a.urlArg(baseV), nil)
		if err != nil {
			return nil, err
		}
		base = b
	}
	return parseURL(raw, base)
}

var urlClass = &classDef{
	name:   "URL",
	length: 1,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		if len(call.Arguments) == 0 {
			a.typeError("Failed to construct 'URL': 1 argument required, but only 0 present.")
		}
		u, err := a.parseWithBase(call.Argument(0), call.Argument(1))
		if err != nil {
			a.typeError("Failed to construct 'URL': Invalid URL %q", a.urlArg(call.Argument(0)))
		}
		return a.wrapProto(proto, &urlState{u: u})
	},
	methods: newMembers(
		method("toString", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.vm.ToValue(this[*urlState](a, call).u.Href(false))
		}),
		method("toJSON", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.vm.ToValue(this[*urlState](a, call).u.Href(false))
		}),
	),
	statics: newMembers(
		method("canParse", 1, func(a *API, call goja.FunctionCall) goja.Value {
			_, err := a.parseWithBase(call.Argument(0), call.Argument(1))
			return a.vm.ToValue(err == nil)
		}),
		method("parse", 1, func(a *API, call goja.FunctionCall) goja.Value {
			u, err := a.parseWithBase(call.Argument(0), call.Argument(1))
			if err != nil {
				return goja.Null()
			}
			return a.wrap(clsURL, &urlState{u: u})
		}),
	),
}
