package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDashboardTraversal: GET /ui/{file} serves the page's two assets and
// nothing else, whatever the path says (dot segments, escaped slashes,
// NULs, doubled slashes), and no such path reaches the API without a
// token.
func TestDashboardTraversal(t *testing.T) {
	bare := &Node{tokenKey: []byte("a key no test token is signed with")}
	h := bare.authenticate(bare.routes())
	assets := map[string]bool{}
	for name := range dashboardAssets {
		b, err := dashboardFiles.ReadFile("dashboard/" + name)
		if err != nil {
			t.Fatal(err)
		}
		assets[string(b)] = true
	}
	for _, p := range []string{
		"/ui/../dashboard.go", "/ui/..%2fdashboard.go", "/ui/%2e%2e/node.go", "/ui/%2e%2e%2fv1%2fmembers",
		"/ui/.%2e/v1/members", "/ui/app.js/", "/ui/app.js%00", "/ui/app.js%2f..%2f..%2fv1%2fmembers",
		"/ui//etc/passwd", "/ui/%2fetc%2fpasswd", "/ui/dashboard/app.js", "/ui/..", "/ui/.", "/ui/index.html",
		"/ui/APP.JS", "/ui/app.js?../../v1/members", "/ui/" + strings.Repeat("a", 64<<10),
		"/ui/%2e%2e%5cdashboard.go", "/ui/..\\dashboard.go", "/./ui/app.js", "//ui/app.js",
	} {
		for _, method := range []string{"GET", "HEAD"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, p, nil))
			switch {
			case w.Code == http.StatusOK:
				if method == "GET" && !assets[w.Body.String()] {
					t.Errorf("%s %s: 200 with %.100q, not one of the assets", method, p, w.Body)
				}
			case w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect:
				// The mux's redirect to the clean path, which then answers
				// on its own (checked below when it is a case here).
				if loc := w.Header().Get("Location"); loc == "" {
					t.Errorf("%s %s: a redirect without a Location", method, p)
				}
			case w.Code == http.StatusNotFound || w.Code == http.StatusUnauthorized:
				if w.Header().Get("Content-Type") != "application/json" {
					t.Errorf("%s %s: %d %q, not a JSON error", method, p, w.Code, w.Header().Get("Content-Type"))
				}
			default:
				t.Errorf("%s %s: %d %.200q", method, p, w.Code, w.Body)
			}
		}
	}
}

// TestOverviewShared: concurrent mesh-wide overviews on one node share
// one round of asking the peers, so that callers cannot multiply the
// requests a node sends its peers (nor the rows it holds) by calling
// at once.
func TestOverviewShared(t *testing.T) {
	c := newCluster(t, 42, "a", "b")
	a := c.start("a", c.secret, 2)
	c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") })
	const callers = 24
	errs := make(chan error, callers)
	for range callers {
		go func() {
			resp, err := http.Get(a.APIURL() + "/v1/overview")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var o Overview
			if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("%d %v", resp.StatusCode, err)
				return
			}
			if len(o.Nodes) != 2 || o.Nodes[1].Name != "b" || o.Nodes[1].Error != "" || o.Nodes[1].Slots != 1 {
				errs <- fmt.Errorf("rows %+v", o.Nodes)
				return
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if k := a.overviewRounds.Load(); k > 3 {
		t.Errorf("%d concurrent overviews asked the peers %d times", callers, k)
	}
}
