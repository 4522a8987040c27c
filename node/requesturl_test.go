package node

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRequestURLTheGuestRefuses: a request's URL that net/url takes but
// the URL Standard's parser, which builds the guest's Request, refuses is
// the client's 400 bad_request, on POST /v1/run and on /w/ (where the
// Host header and the path make the URL). Before, the runtime could not
// build the Request and the call ended as the node's internal error: 200
// with outcome internalError, and 502 worker_internalError on /w/.
func TestRequestURLTheGuestRefuses(t *testing.T) {
	n, _ := kvNode(t, "url")
	run := func(url string) (int, []byte) {
		req, _ := json.Marshal(map[string]any{"code": map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": "export default {fetch(r){return new Response(r.url)}}"}},
			"request": map[string]any{"url": url}})
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(string(req)), nil)
		return status, b
	}
	for _, u := range []string{
		"http://x:65536/", "http://x:99999999999/", "http://a<b/", "http://a%25b/", "http://xn--a/", "http://256.1.1.1/",
		"http://1.2.3.4.5/", "http://[::1%25eth0]/", "http://\u200b/", "http://x/" + strings.Repeat("a/", 5000),
	} {
		if status, b := run(u); status != 400 || errCode(b) != "bad_request" {
			t.Errorf("POST /v1/run with url %.40q: %d %.300s, want 400 bad_request", u, status, b)
		}
	}
	for _, u := range []string{"http://x:65535/a?b#c", "http://a.b/" + strings.Repeat("%41", 1000), "http://[::1]/", "http://ａ.com/", "https://u:p@x/"} {
		if status, b := run(u); status != 200 || !strings.Contains(string(b), `"outcome":"ok"`) {
			t.Errorf("POST /v1/run with url %.40q: %d %.300s, want ok", u, status, b)
		}
	}

	if status, _, b := call(t, n, "PUT", "/v1/workers/echo", strings.NewReader(deployBody(echoWorker(1), "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	for _, head := range []string{
		"GET /w/echo/x HTTP/1.1\r\nHost: x:99999",
		"GET /w/echo/x HTTP/1.1\r\nHost: 256.0.0.1",
		"GET /w/echo/" + strings.Repeat("a/", 5000) + " HTTP/1.1\r\nHost: x",
	} {
		if status, body := rawRequest(t, n, head); status != 400 || errCode([]byte(body)) != "bad_request" {
			t.Errorf("%.60q: %d %.300s, want 400 bad_request", head, status, body)
		}
	}
	// HTTP/1.0 without a Host: the error says what is missing, not that
	// http:///x is no URL.
	if status, body := rawRequest(t, n, "GET /w/echo/x HTTP/1.0"); status != 400 || errCode([]byte(body)) != "bad_request" || !strings.Contains(body, "needs a Host header") {
		t.Errorf("HTTP/1.0 without a Host: %d %.300s, want 400 naming the Host header", status, body)
	}
}
