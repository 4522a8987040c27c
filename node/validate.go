package node

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/warrenmesh/warren/isolate"
)

// Caps on a run request's HTTP request, checked before it reaches a
// runtime: a malformed one is the client's mistake (400), not the guest's
// or the node's.
const (
	// maxRequestHeaders bounds the headers of a run request.
	maxRequestHeaders = 256
	// maxMethodLen bounds a request method (the longest registered one has 17 bytes).
	maxMethodLen = 64
	// maxURLLen is the longest URL the Web API inside the isolate accepts.
	maxURLLen = 1 << 20
)

// validateRequest checks what the guest's Request is built from: the method
// is an HTTP token, the URL an absolute http(s) URL, header names tokens and
// header values free of CR, LF and NUL. An empty method or URL means the
// default (GET, isolate.DefaultURL).
func validateRequest(r *isolate.Request) error {
	if r == nil {
		return nil
	}
	bad := func(format string, args ...any) error {
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
	}
	if r.Method != "" && (len(r.Method) > maxMethodLen || !httpguts.ValidHeaderFieldName(r.Method)) {
		return bad("request.method: %s is not an HTTP method (a token of at most %d bytes)", quote(r.Method), maxMethodLen)
	}
	if r.URL != "" {
		if len(r.URL) > maxURLLen {
			return bad("request.url: %d bytes, more than %d", len(r.URL), maxURLLen)
		}
		if i := strings.IndexFunc(r.URL, func(c rune) bool { return c < 0x20 || c == 0x7f }); i >= 0 {
			return bad("request.url: a control character (%q) at byte %d", r.URL[i], i)
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			// url.Error repeats the whole URL; the client has it.
			if ue, ok := err.(*url.Error); ok {
				err = ue.Err
			}
			return bad("request.url: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return bad("request.url: %s is not an absolute http or https URL", quote(r.URL))
		}
	}
	if len(r.Headers) > maxRequestHeaders {
		return bad("request.headers: %d headers, more than %d", len(r.Headers), maxRequestHeaders)
	}
	for name, value := range r.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return bad("request.headers: the name %s is not an HTTP token", quote(name))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return bad("request.headers[%q]: the value has a CR, LF or NUL", name)
		}
	}
	return nil
}

// ApplyHost makes a Host header of r (any case) set the host of r.URL
// (http://localhost/ when empty), as workerd builds request.url from the
// Host header of the request it receives: -H 'Host: example.com' makes
// request.url http://example.com/... The scheme, path and query stay. A
// Host that is not a host with an optional port is an error; an empty one
// changes nothing.
func ApplyHost(r *isolate.Request) error {
	if r == nil {
		return nil
	}
	host := ""
	for k, v := range r.Headers {
		if strings.EqualFold(k, "host") {
			host = strings.TrimSpace(v)
		}
	}
	if host == "" {
		return nil
	}
	h, err := url.Parse("http://" + host + "/")
	if err != nil || h.Host != host || h.User != nil || h.Path != "/" || h.RawQuery != "" || h.Fragment != "" || h.Hostname() == "" {
		return fmt.Errorf("the Host header %s is not a host with an optional port", quote(host))
	}
	raw := r.URL
	if raw == "" {
		raw = isolate.DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("request.url: %w", err)
	}
	u.Host = host
	r.URL = u.String()
	return nil
}

// quote quotes s for an error message, cut short: it names the field, it
// need not echo a megabyte back.
func quote(s string) string {
	const most = 64
	if len(s) > most {
		return fmt.Sprintf("%q...", s[:most])
	}
	return fmt.Sprintf("%q", s)
}
