package node

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
)

// TestDashboardHandlers: the page and its assets are served without a
// token, with their types and the dashboard's security headers; an
// unknown asset is a 404; everything else still needs a token.
func TestDashboardHandlers(t *testing.T) {
	bare := &Node{tokenKey: []byte("a key no test token is signed with")}
	h := bare.authenticate(bare.routes())
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, has   string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="/ui/app.js" defer></script>`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", `"use strict";`},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8", "body {"},
		{"GET", "/ui/nope.js", 404, "application/json", `"code":"not_found"`},
		{"GET", "/ui/index.html", 404, "application/json", `"code":"not_found"`},
		{"GET", "/ui/", 401, "application/json", `"code":"unauthorized"`},
		{"POST", "/", 401, "application/json", `"code":"unauthorized"`},
		{"GET", "/v1/overview", 401, "application/json", `"code":"unauthorized"`},
		{"GET", "/v1/tail", 401, "application/json", `"code":"unauthorized"`},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status || w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("%s %s: %d %q %.200q, want %d %q with %q", tc.method, tc.path, w.Code, w.Header().Get("Content-Type"), w.Body, tc.status, tc.ctype, tc.has)
			continue
		}
		if tc.method == "HEAD" && w.Body.Len() != 0 {
			t.Errorf("HEAD %s has a body", tc.path)
		}
		if tc.status != 200 {
			continue
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": dashboardCSP, "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, got, want)
			}
		}
	}
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(dashboardCSP, directive) {
			t.Errorf("the CSP lacks %s", directive)
		}
	}
	if strings.Contains(dashboardCSP, "unsafe") {
		t.Errorf("the CSP allows something unsafe: %s", dashboardCSP)
	}
}

// TestDashboardFiles checks the embedded files against what the CSP and
// the rule "render data as text" need: the page has no inline script,
// style or handler and loads only assets that GET /ui/ serves; every
// embedded file is served; the script never writes HTML.
func TestDashboardFiles(t *testing.T) {
	page, err := dashboardFiles.ReadFile("dashboard/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, re := range []string{`<script(\s[^>]*)?>[^<]`, `<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`, `https?://`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(html); m != "" {
			t.Errorf("index.html has %q (%s): the CSP forbids inline code and other origins", m, re)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		file, ok := strings.CutPrefix(m[1], "/ui/")
		if _, served := dashboardAssets[file]; !ok || !served {
			t.Errorf("index.html loads %q, which GET /ui/ does not serve", m[1])
		}
	}
	err = fs.WalkDir(dashboardFiles, "dashboard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if name := strings.TrimPrefix(p, "dashboard/"); name != "index.html" && dashboardAssets[name] == "" {
			t.Errorf("%s is embedded but not served", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	js, err := dashboardFiles.ReadFile("dashboard/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "new EventSource", "?token="} {
		if strings.Contains(string(js), sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

// TestOverview: any node gathers every node's row, RTTs to each member
// included, with a token that is not an admin's; scope=node is the
// node's own row only.
func TestOverview(t *testing.T) {
	c := newCluster(t, 41, "a", "b", "c")
	a := c.start("a", c.secret, 2)
	c.start("b", c.secret, 3, "a")
	c.start("c", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b", "c") })
	tok := mintToken(t, c.secret, "viewer", policy.Grants{}, time.Hour)
	get := func(query string) Overview {
		t.Helper()
		req, _ := http.NewRequest("GET", a.APIURL()+"/v1/overview"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := authlessClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var o Overview
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/overview%s: %d %v", query, resp.StatusCode, err)
		}
		return o
	}
	if o := get("?scope=node"); o.Node != "a" || len(o.Nodes) != 1 || o.Nodes[0].Name != "a" || o.Nodes[0].Slots != 2 || o.Nodes[0].API != a.APIURL() {
		t.Errorf("scope=node: %+v", o)
	}
	slots := map[string]int{"a": 2, "b": 3, "c": 1}
	waitFor(t, 10*time.Second, "every node's RTT to every other", func() bool {
		o := get("")
		if len(o.Nodes) != 3 {
			t.Fatalf("%d rows: %+v", len(o.Nodes), o)
		}
		for i, v := range o.Nodes {
			if v.Name != string(rune('a'+i)) || v.Error != "" || v.Slots != slots[v.Name] || v.Free != v.Slots || v.Status != "ok" {
				t.Fatalf("row %d: %+v", i, v)
			}
			for _, to := range []string{"a", "b", "c"} {
				if v.RTTMs[to] == nil {
					return false
				}
				if to == v.Name && *v.RTTMs[to] != 0 {
					t.Fatalf("%s's RTT to itself: %v", to, *v.RTTMs[to])
				}
			}
		}
		return true
	})
}

// TestOverviewNoAuth: a node without auth asks its peers with a token of
// its own, so the overview is whole without one from the caller, even
// from a peer that wants one.
func TestOverviewNoAuth(t *testing.T) {
	c := newCluster(t, 42, "p", "q")
	c.tune = func(cfg *Config) { cfg.NoAuth = true }
	p := c.start("p", c.secret, 1)
	c.tune = nil
	c.start("q", c.secret, 1, "p")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(p, "p", "q") })
	resp, err := authlessClient.Get(p.APIURL() + "/v1/overview")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o Overview
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if len(o.Nodes) != 2 || o.Nodes[1].Name != "q" || o.Nodes[1].Error != "" || o.Nodes[1].Slots != 1 {
		t.Errorf("%+v", o)
	}
}
