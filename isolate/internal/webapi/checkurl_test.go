package webapi

import (
	"strings"
	"testing"
)

// FuzzCheckRequestURL: CheckRequestURL, which parses only a URL's scheme
// and authority, refuses exactly the http(s) URLs that building a Request
// refuses, and never repeats a long URL in its error.
func FuzzCheckRequestURL(f *testing.F) {
	for _, u := range []string{
		"http://x/", "http://x:65536/", "http://a<b/p?q#f", "http://a%25b/", "http://xn--a/", "http://256.1.1.1/x",
		"http://[::1%25eth0]/", "https://u:p@x:8080/a/../b?c=%zz#d", "http://x/" + strings.Repeat("a/", 5000),
		"http://x?q", "http://x#f", "http://x\\y", "HTTP://X:0/", "http://x:/", "http://:80/", "http://[::1]:99999/",
	} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
			return
		}
		err := CheckRequestURL(raw)
		_, want := requestHref(raw)
		if (err == nil) != (want == nil) {
			t.Fatalf("%q: CheckRequestURL says %v, building a Request %v", raw, err, want)
		}
		if err != nil && len(raw) > 100 && strings.Contains(err.Error(), raw) {
			t.Fatalf("%q: the error repeats the URL", raw)
		}
	})
}
