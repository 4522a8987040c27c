package node

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
)

// The dashboard: GET / serves a page (node/dashboard/, embedded in the
// binary, plain HTML, CSS and JavaScript with no build step) that shows
// the mesh through the API it calls with the user's token: members and
// their RTTs and free slots (GET /v1/overview), invocations live (GET
// /v1/tail, read with fetch so that the token goes in a header, never in
// a URL), Raft groups (GET /v1/groups), and a snippet run on the mesh
// (POST /v1/run). The page and its assets need no token: they hold no
// data. They are served under a Content-Security-Policy that allows only
// this origin's scripts, styles and API, and the page renders every
// value as text (worker output is hostile).

//go:embed dashboard
var dashboardFiles embed.FS

// dashboardAssets are the files GET /ui/{file} serves, with their types.
var dashboardAssets = map[string]string{
	"app.js":    "text/javascript; charset=utf-8",
	"style.css": "text/css; charset=utf-8",
}

// dashboardCSP is the page's Content-Security-Policy: scripts, styles and
// connections to this origin only, no inline code, no frames, no forms.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// isDashboardPath reports whether a GET or HEAD of p is the dashboard's
// page or one of its assets, which need no token.
func isDashboardPath(method, p string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if p == "/" {
		return true
	}
	dir, file := path.Split(p)
	return dir == "/ui/" && file != ""
}

// serveDashboardFile answers one embedded file with the dashboard's
// security headers.
func serveDashboardFile(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := dashboardFiles.ReadFile("dashboard/" + name)
	if err != nil {
		writeError(w, fmt.Errorf("the dashboard's %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		sendWithin(w, b) // no token needed: a client may ask and not read
	}
}

// handleDashboard is GET /: the dashboard's page.
func (n *Node) handleDashboard(w http.ResponseWriter, r *http.Request) {
	serveDashboardFile(w, r, "index.html", "text/html; charset=utf-8")
}

// handleDashboardAsset is GET /ui/{file}: the page's script and style.
func (n *Node) handleDashboardAsset(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	ctype, ok := dashboardAssets[file]
	if !ok {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no dashboard asset %q", file)})
		return
	}
	serveDashboardFile(w, r, file, ctype)
}

// NodeView is one node's row of GET /v1/overview: its load, its active
// Durable Objects, and its RTT to each peer it knows.
type NodeView struct {
	Name   string `json:"name"`
	API    string `json:"api,omitempty"`
	Status string `json:"status,omitempty"` // "ok" or "draining"
	Slots  int    `json:"slots"`
	Free   int    `json:"free"`
	// Running, Queued and Ran are as in GET /healthz.
	Running int64 `json:"running"`
	Queued  int64 `json:"queued"`
	Ran     int64 `json:"ran"`
	// ObjectsActive counts the Durable Objects with an actor on the node.
	ObjectsActive int `json:"objectsActive"`
	// RTTMs maps each member the node knows to its RTT from the node in
	// ms (0 for itself, null when unknown).
	RTTMs map[string]*float64 `json:"rttMs,omitempty"`
	// Error says why a peer's row could not be read (then only Name and
	// API are set).
	Error string `json:"error,omitempty"`
}

// Overview is the answer of GET /v1/overview.
type Overview struct {
	Node  string     `json:"node"`
	Nodes []NodeView `json:"nodes"`
}

const (
	// overviewTimeout bounds the gathering of the peers' rows.
	overviewTimeout = 2 * time.Second
	// overviewFanout is how many peers are asked at once.
	overviewFanout = 16
	// maxOverviewRow bounds one peer's answer.
	maxOverviewRow = 1 << 20
	// overviewFresh is how long the peers' rows serve the calls that
	// come after the round that read them.
	overviewFresh = time.Second
)

// overviewShare is the peers' rows of GET /v1/overview, shared by the
// calls of a node: one round of asking the peers at a time serves every
// call that comes while it runs, and for overviewFresh after, so that
// callers cannot multiply the requests sent to the peers (and the rows
// held) by calling at once.
type overviewShare struct {
	mu   sync.Mutex
	rows []NodeView
	at   time.Time     // when rows were read
	busy chan struct{} // closed when the round under way ends; nil: none
}

// sharedPeerViews is the peers' rows, read within overviewFresh, or
// ctx's error. The peers are asked with this node's token (the caller's
// was verified here, with the same key and revocation list).
func (n *Node) sharedPeerViews(ctx context.Context) ([]NodeView, error) {
	sh := &n.overview
	for {
		sh.mu.Lock()
		if sh.busy == nil && time.Since(sh.at) < overviewFresh {
			rows := append([]NodeView(nil), sh.rows...)
			sh.mu.Unlock()
			return rows, nil
		}
		if sh.busy == nil {
			// A peer's row needs any valid token: one that grants nothing.
			tok, err := n.nodeTokenWith(policy.Grants{})
			if err != nil {
				sh.mu.Unlock()
				return nil, err
			}
			busy := make(chan struct{})
			sh.busy = busy
			go func() {
				rows := n.peerViews(n.life, tok)
				sh.mu.Lock()
				sh.rows, sh.at, sh.busy = rows, time.Now(), nil
				sh.mu.Unlock()
				close(busy)
			}()
		}
		busy := sh.busy
		sh.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("gathering the overview: %w", ctx.Err())
		}
	}
}

// overviewClient asks peers for their rows.
var overviewClient = &http.Client{Timeout: overviewTimeout}

// view is this node's own row.
func (n *Node) view() NodeView {
	v := NodeView{Name: n.id.Name, Status: "ok", Slots: n.cfg.Slots, Free: n.cfg.Slots - len(n.slots),
		Running: n.running.Load(), Queued: n.queued.Load(), Ran: n.ran.Load(), RTTMs: map[string]*float64{}}
	if n.draining.Load() {
		v.Status = "draining"
	}
	if n.objects != nil {
		v.ObjectsActive = n.objects.active()
	}
	for _, m := range n.Members() {
		if m.Local {
			v.API = m.API
		}
		v.RTTMs[m.Name] = m.RTTMs
	}
	return v
}

// handleOverview is GET /v1/overview[?scope=node|mesh]: this node's row,
// and with scope=mesh (the default) every live peer's as well, each
// asked within 2 s (sharedPeerViews).
func (n *Node) handleOverview(w http.ResponseWriter, r *http.Request) {
	scope := r.URL.Query().Get("scope")
	if scope != "" && scope != "node" && scope != "mesh" {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: `scope: "mesh" (default) or "node"`})
		return
	}
	out := Overview{Node: n.id.Name, Nodes: []NodeView{n.view()}}
	if scope != "node" {
		rows, err := n.sharedPeerViews(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		out.Nodes = append(out.Nodes, rows...)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// peerViews asks every member but this node that is not dead or gone
// for its row, a few at a time, within overviewTimeout.
func (n *Node) peerViews(ctx context.Context, tok string) []NodeView {
	n.overviewRounds.Add(1)
	ctx, cancel := context.WithTimeout(ctx, overviewTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		out  []NodeView
		wg   sync.WaitGroup
		sema = make(chan struct{}, overviewFanout)
	)
	for _, p := range n.mesh.Members() {
		if p.Local || p.Name == n.id.Name {
			continue
		}
		if p.State == mesh.StateDead || p.State == mesh.StateLeft || p.API == "" {
			why := "not asked: it is " + p.State
			if p.API == "" {
				why = "not asked: its API is unknown"
			}
			out = append(out, NodeView{Name: p.Name, API: p.API, Error: why})
			continue
		}
		wg.Add(1)
		go func(name, api string) {
			defer wg.Done()
			select {
			case sema <- struct{}{}:
				defer func() { <-sema }()
			case <-ctx.Done():
			}
			v, err := peerView(ctx, api, tok)
			if err != nil {
				v = NodeView{Error: err.Error()}
			}
			v.Name, v.API = name, api
			mu.Lock()
			out = append(out, v)
			mu.Unlock()
		}(p.Name, p.API)
	}
	wg.Wait()
	return out
}

// peerView reads one peer's own row.
func peerView(ctx context.Context, api, tok string) (NodeView, error) {
	if err := ctx.Err(); err != nil {
		return NodeView{}, fmt.Errorf("not asked in time: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/overview?scope=node", nil)
	if err != nil {
		return NodeView{}, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := overviewClient.Do(req)
	if err != nil {
		return NodeView{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOverviewRow))
	if err != nil {
		return NodeView{}, fmt.Errorf("reading its answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return NodeView{}, fmt.Errorf("it answered %s", resp.Status)
	}
	var o Overview
	if err := json.Unmarshal(body, &o); err != nil || len(o.Nodes) != 1 {
		return NodeView{}, fmt.Errorf("its answer is not one row: %v", err)
	}
	return o.Nodes[0], nil
}
