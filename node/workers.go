package node

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// Deployed Workers (docs/http-api.md, "Workers").
//
// A deployment is one key of the reserved KV namespace warren.workers,
// in the replicated store: every node sees it, and it outlives the node it
// was deployed to. Its value is a Deployment as JSON; its metadata, when
// it fits, the WorkerInfo that GET /v1/workers lists, so that a listing
// reads no code.
//
// ANY /w/{name}/{path...} runs the current version as a fresh invocation
// through the node's routing, with the grants recorded at deploy time,
// and answers the Worker's response as plain HTTP.
const (
	// ReservedKVPrefix starts the namespaces warren keeps for itself: the
	// KV API and bindings refuse them.
	ReservedKVPrefix = replication.ReservedNamespacePrefix
	// workersNS holds the deployments, by name.
	workersNS = ReservedKVPrefix + "workers"
	// maxWorkerName is the longest Worker name (a DNS label).
	maxWorkerName = 63
	// MaxWorkerRequestBody caps the body of a request to a deployed
	// Worker: with the code (at most 25 MiB, a KV value) and JSON's
	// base64, a forwarded call stays within a forward frame.
	MaxWorkerRequestBody = 32 << 20
	// deploymentTTL is how long a node serves a deployment it read
	// before it reads it again: a new version is seen within it (plus a
	// replica's lag).
	deploymentTTL = time.Second
	// workerTokenTTL is the life of the token a /w/ call carries to a
	// peer, in the deployment's grants.
	workerTokenTTL = nodeTokenTTL
)

// Deployment is a deployed Worker as it is stored.
type Deployment struct {
	Name     string                     `json:"name"`
	Version  int64                      `json:"version"`
	Code     json.RawMessage            `json:"code"`
	Bindings map[string]isolate.Binding `json:"bindings,omitempty"`
	// DeployedAt is when this version was deployed; DeployedBy the name
	// of the deployer's token.
	DeployedAt time.Time `json:"deployedAt"`
	DeployedBy string    `json:"deployedBy"`
	// DeployedByID is the ID of the deployer's token, if it had one: the
	// Worker is suspended while that token is revoked (deployerRevoked).
	DeployedByID string `json:"deployedById,omitempty"`
	// Grants are the deployer's token's grants at deploy time: every call
	// of the Worker runs with them.
	Grants policy.Grants `json:"grants"`
	// Triggers are its cron triggers.
	Triggers *Triggers `json:"triggers,omitempty"`

	// codeKey is the SHA-256 of Code, set as it is read, which every run
	// of the deployment (/w/, cron, its objects) passes on as its
	// RunRequest's key: /w/ needs no token, and hashing a code object of
	// up to 25 MiB for every call made a request of a few bytes cost the
	// node 15 ms of CPU.
	codeKey [32]byte
}

// WorkerInfo is a deployment as GET /v1/workers shows it: all but its
// code and grants.
type WorkerInfo struct {
	Name       string    `json:"name"`
	Version    int64     `json:"version"`
	DeployedAt time.Time `json:"deployedAt"`
	DeployedBy string    `json:"deployedBy"`
	// DeployedByID is the ID of the deployer's token, if it had one.
	DeployedByID string `json:"deployedById,omitempty"`
	// Suspended says why the Worker does not run, if it does not: the
	// token that deployed it was revoked.
	Suspended string                     `json:"suspended,omitempty"`
	Bindings  map[string]isolate.Binding `json:"bindings"`
	Triggers  *Triggers                  `json:"triggers,omitempty"`
	// CronRuns are the outcomes of its last cron runs, newest first (GET
	// /v1/workers/{name} only).
	CronRuns []CronRun `json:"cronRuns,omitempty"`
}

func (d *Deployment) info() WorkerInfo {
	b := d.Bindings
	if b == nil {
		b = map[string]isolate.Binding{}
	}
	return WorkerInfo{Name: d.Name, Version: d.Version, DeployedAt: d.DeployedAt, DeployedBy: d.DeployedBy, DeployedByID: d.DeployedByID, Bindings: b, Triggers: d.Triggers}
}

// ValidateWorkerName checks a Worker's name: 1 to 63 of [a-z0-9-], not
// starting or ending with '-' (a DNS label).
func ValidateWorkerName(name string) error {
	if name == "" || len(name) > maxWorkerName {
		return fmt.Errorf("a Worker name has 1 to %d characters, not %d", maxWorkerName, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("a Worker name has only a-z, 0-9 and '-', not %q", c)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return errors.New("a Worker name does not start or end with '-'")
	}
	return nil
}

// reservedNamespace refuses a namespace warren keeps for itself.
func reservedNamespace(ns string) *replication.KVInvalidError {
	if strings.HasPrefix(ns, ReservedKVPrefix) {
		return &replication.KVInvalidError{Field: "namespace", Status: http.StatusBadRequest,
			Reason: fmt.Sprintf("%s is reserved: namespaces starting with %q are warren's own", quote(ns), ReservedKVPrefix)}
	}
	return nil
}

// deployments caches the deployments this node read, by name, and the
// names it found missing: /w/ needs no token, so a flood of calls for
// names that do not exist must not each cost a read, nor evict the
// deployments that do exist.
type deployments struct {
	mu      sync.Mutex // serializes this node's deploys of a name: read, then write the next version
	cached  *sizedlru.Cache[string, *cachedDeployment]
	missing *sizedlru.Cache[string, time.Time] // when each name was found missing

	// reads holds the reads under way, by name: concurrent calls for a
	// name whose cache entry expired share one read.
	rmu   sync.Mutex
	reads map[string]*deploymentRead
}

// deploymentRead is one read of a deployment that callers share.
type deploymentRead struct {
	done chan struct{}
	d    *Deployment
	err  error
}

type cachedDeployment struct {
	d    *Deployment
	read time.Time
}

func newDeployments() *deployments {
	return &deployments{
		cached:  sizedlru.New[string, *cachedDeployment](1024, 128<<20),
		missing: sizedlru.New[string, time.Time](4096, 1<<20),
		reads:   map[string]*deploymentRead{},
	}
}

// readDeployment reads a deployment; a missing one is an *apiError 404.
func (n *Node) readDeployment(ctx context.Context, kv replication.KV, name string, c replication.Consistency) (*Deployment, error) {
	ctx, cancel := context.WithTimeout(ctx, kvAPITimeout)
	defer cancel()
	v, err := kv.GetWithMetadata(ctx, workersNS, name, c)
	if errors.Is(err, replication.ErrKVNotFound) {
		return nil, notDeployed(name)
	}
	if err != nil {
		return nil, kvAPIError(err)
	}
	var d Deployment
	if err := json.Unmarshal(v.Value, &d); err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, code: "storage", msg: fmt.Sprintf("the deployment of %s is not readable: %v", quote(name), err)}
	}
	d.codeKey = codeHash(d.Code)
	return &d, nil
}

// deployment is the deployment /w/ serves: the cached one while it is
// younger than deploymentTTL, else read again (eventual; a miss is
// confirmed by the group's leader before it is a 404). A read that
// answers an older version than the cache holds (a lagging replica) keeps
// the cached one.
func (n *Node) deployment(ctx context.Context, name string) (*Deployment, error) {
	kv, err := n.kvStore()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	old, ok := n.workers.cached.Get(name)
	if ok && now.Sub(old.read) < deploymentTTL {
		return old.d, n.deployerRevoked(old.d)
	}
	if at, gone := n.workers.missing.Get(name); gone && now.Sub(at) < deploymentTTL {
		return nil, notDeployed(name)
	}
	d, err := n.sharedRead(ctx, kv, name)
	if isNotFound(err) {
		n.workers.cached.Remove(name)
		n.workers.missing.Add(name, now, int64(len(name))+32)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	n.workers.missing.Remove(name)
	if ok && old.d.Version > d.Version && old.d.DeployedAt.After(d.DeployedAt) {
		d = old.d
	}
	n.workers.cached.Add(name, &cachedDeployment{d: d, read: now}, int64(len(d.Code)))
	return d, n.deployerRevoked(d)
}

// deployerRevoked refuses a deployment whose deployer's token is revoked:
// its Worker runs with that token's grants, which a revocation must end
// (a leaked admin token's Workers had the node's egress and every KV
// namespace for good). It stays suspended until it is deployed again
// with a valid token: the revocation of a token that deployed Workers is
// kept past the token's expiry (handleRevoke).
func (n *Node) deployerRevoked(d *Deployment) error {
	if why := n.suspension(d.DeployedBy, d.DeployedByID); why != "" {
		return &apiError{status: http.StatusForbidden, code: "denied",
			msg: fmt.Sprintf("Worker %s is suspended: %s; deploy it again with a valid token", quote(d.Name), why)}
	}
	return nil
}

// markSuspended sets info.Suspended if its deployer's token is revoked.
func (n *Node) markSuspended(info *WorkerInfo) {
	info.Suspended = n.suspension(info.DeployedBy, info.DeployedByID)
}

// suspension says why a Worker deployed by the token named by, with ID id,
// is suspended: "" unless that token is on this node's copy of the
// revocation list. It never waits for a read of the list (isRevoked): a
// public Worker's first call after a quiet spell is not held up.
func (n *Node) suspension(by, id string) string {
	if id == "" || !n.isRevoked(id) {
		return ""
	}
	return fmt.Sprintf("the token that deployed it (%s, id %s) was revoked", quote(by), id)
}

// deployedBy lists the Workers whose deployer's token has id.
func (n *Node) deployedBy(ctx context.Context, kv replication.KV, id string) ([]string, error) {
	infos, err := n.listDeployments(ctx, kv)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, info := range infos {
		if info.DeployedByID == id {
			out = append(out, info.Name)
		}
	}
	return out, nil
}

// listDeployments lists every deployment's WorkerInfo (strong): from its
// key's metadata, or, where that did not hold it all, its deployment.
func (n *Node) listDeployments(ctx context.Context, kv replication.KV) ([]WorkerInfo, error) {
	out := []WorkerInfo{}
	opts := replication.KVListOptions{}
	for {
		page, err := kv.List(ctx, workersNS, opts, replication.Strong)
		if err != nil {
			return nil, kvAPIError(err)
		}
		for _, k := range page.Keys {
			var info WorkerInfo
			if json.Unmarshal(k.Metadata, &info) != nil || info.Bindings == nil {
				// The metadata did not hold it all: read the deployment.
				d, err := n.readDeployment(ctx, kv, k.Name, replication.Strong)
				if isNotFound(err) {
					continue // deleted meanwhile
				}
				if err != nil {
					return nil, err
				}
				info = d.info()
			}
			out = append(out, info)
		}
		if page.ListComplete || page.Cursor == "" {
			return out, nil
		}
		opts.Cursor = page.Cursor
	}
}

// maxDeploymentReads bounds the deployments sharedRead reads at once: a
// read outlives its caller, so callers that go away at once (/w/ needs no
// token) would otherwise leave one running per name while reads are slow.
const maxDeploymentReads = 256

// sharedRead reads a deployment (eventual), sharing the read with the
// calls for the same name that arrive while it is under way; past
// maxDeploymentReads under way, a new name is 503 unavailable.
func (n *Node) sharedRead(ctx context.Context, kv replication.KV, name string) (*Deployment, error) {
	w := n.workers
	w.rmu.Lock()
	rd, ok := w.reads[name]
	if !ok && len(w.reads) >= maxDeploymentReads {
		w.rmu.Unlock()
		return nil, &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
			msg: fmt.Sprintf("this node is already reading %d deployments; retry later", maxDeploymentReads)}
	}
	if !ok {
		rd = &deploymentRead{done: make(chan struct{})}
		w.reads[name] = rd
		w.rmu.Unlock()
		// The read is everyone's: it does not end with the first
		// caller's request.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvAPITimeout)
		rd.d, rd.err = n.readDeployment(rctx, kv, name, replication.Eventual)
		if isNotFound(rd.err) {
			// This node's replica may lag (the node just restarted, its
			// group is catching up): a Worker is "not deployed" only once
			// the group's leader agrees. Misses are cached, so this costs
			// one strong read per name and deploymentTTL.
			rd.d, rd.err = n.readDeployment(rctx, kv, name, replication.Strong)
		}
		cancel()
		w.rmu.Lock()
		delete(w.reads, name)
		w.rmu.Unlock()
		close(rd.done)
		return rd.d, rd.err
	}
	w.rmu.Unlock()
	select {
	case <-rd.done:
		return rd.d, rd.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// notDeployed is the error for a name with no deployment.
func notDeployed(name string) error {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no Worker %s is deployed", quote(name))}
}

// readLimitedBody reads a request body as a run's is read: under a size
// cap (tooLarge past it, at once when Content-Length announces more), a
// minimum rate and the node's body budget. The caller calls release, never
// nil, once done with the bytes, to give the budget back.
func (n *Node) readLimitedBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge func() error) (b []byte, release func(), err error) {
	if r.ContentLength > limit {
		return nil, func() {}, tooLarge()
	}
	client := clientOf(r)
	clock := n.newBodyClock(w, r)
	body := &budgetReader{r: http.MaxBytesReader(w, clock, limit), b: n.bodies, client: client}
	release = func() { body.Close() }
	b, err = readBody(body, -1, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case body.refused != nil:
			err = n.budgetError(body.refused, client)
		case clock.late:
			err = clock.slowError()
		case errors.As(err, &mbe), errors.Is(err, errBodyTooLarge):
			err = tooLarge()
		default:
			err = &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "reading the body: " + err.Error()}
		}
		return nil, release, err
	}
	clock.end()
	return b, release, nil
}

func tooLargeDeployment(n int) error {
	what := "the deployment"
	if n > 0 {
		what = fmt.Sprintf("the deployment (%d bytes)", n)
	}
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large",
		msg: fmt.Sprintf("%s exceeds the KV value limit of %d bytes (25 MiB), which a deployment is stored in", what, MaxKVValue)}
}

// needAdmin is the 403 of a call that needs an admin token.
func needAdmin(r *http.Request, what string) error {
	if c := callerOf(r); c.tok == nil || !c.tok.Admin {
		return forbidden("%s needs an admin token", what)
	}
	return nil
}

// workerName reads the route's {name}: a malformed one is 400.
func workerName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := ValidateWorkerName(name); err != nil {
		return "", &apiError{status: http.StatusBadRequest, code: "invalid", msg: "name: " + err.Error()}
	}
	return name, nil
}

// deployRequest is the body of PUT /v1/workers/{name}.
type deployRequest struct {
	Code     json.RawMessage            `json:"code"`
	Bindings map[string]isolate.Binding `json:"bindings,omitempty"`
	Triggers *Triggers                  `json:"triggers,omitempty"`
}

// handleDeploy is PUT /v1/workers/{name}: store the next version.
func (n *Node) handleDeploy(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "deploying a Worker"); err != nil {
		writeError(w, err)
		return
	}
	name, err := workerName(r)
	if err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	b, release, err := n.readLimitedBody(w, r, MaxKVValue, func() error { return tooLargeDeployment(0) })
	defer release()
	if err != nil {
		writeError(w, err)
		return
	}
	// A deployment has a run request's shape (code, bindings), bounded as
	// one is before it is decoded (shapeReader).
	if err := (&shapeReader{what: "the deployment", max: maxShapeElements, limitedTo: maxShapeDepth}).scan(b); err != nil {
		writeError(w, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req deployRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "decoding the deployment: " + err.Error()})
		return
	}
	if dec.More() {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "trailing data after the deployment"})
		return
	}
	// The same checks as a run's: the code decodes, the bindings are
	// well formed and allowed.
	if _, err := (&RunRequest{Code: req.Code, Bindings: req.Bindings}).decode(n.codes); err != nil {
		writeError(w, err)
		return
	}
	if err := req.Triggers.validate(); err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: err.Error()})
		return
	}
	if req.Triggers != nil && len(req.Triggers.Crons) == 0 {
		req.Triggers = nil
	}
	c := callerOf(r)
	d := &Deployment{Name: name, Code: req.Code, Bindings: req.Bindings, DeployedAt: time.Now().UTC(), DeployedBy: c.tok.Name, DeployedByID: c.tok.ID, Grants: c.tok.Grants, Triggers: req.Triggers}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	// Read, then write the next version. This node's deploys are
	// serialized; two nodes deploying the same name at once may both
	// write the same version, and the later write wins.
	n.workers.mu.Lock()
	defer n.workers.mu.Unlock()
	switch old, err := n.readDeployment(ctx, kv, name, replication.Strong); {
	case err == nil:
		d.Version = old.Version + 1
	case isNotFound(err):
		d.Version = 1
	default:
		writeError(w, err)
		return
	}
	value, err := json.Marshal(d)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(value) > MaxKVValue {
		writeError(w, tooLargeDeployment(len(value)))
		return
	}
	if err := kv.Put(ctx, workersNS, name, value, replication.KVPutOptions{Metadata: infoMetadata(d)}); err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	n.workers.cached.Remove(name)
	n.workers.missing.Remove(name)
	n.bumpDeploys(ctx, kv)
	// A revocation of the token that raced this deploy: its listing of the
	// deployments may have missed this one, so the entry is pinned here
	// (handleRevoke), and the Worker stays suspended.
	if d.DeployedByID != "" {
		revoked, err := n.pinRevoked(ctx, kv, d.DeployedByID)
		// Not known: the entry of a revocation that raced the deploy may
		// be left unpinned, and lapse with the token while the Worker it
		// missed runs on. Ask again for a while; past it, the deploy is
		// stored but not confirmed.
		cctx, cancel := context.WithTimeout(ctx, cmp.Or(n.cfg.confirmRevocation, confirmRevocationWithin))
		defer cancel()
		for wait := 50 * time.Millisecond; err != nil && cctx.Err() == nil; wait = min(2*wait, time.Second) {
			n.log.Warn("reading the token's revocation after a deploy", "worker", name, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				revoked, err = n.pinRevoked(cctx, kv, d.DeployedByID)
			case <-cctx.Done():
				t.Stop()
			}
		}
		if err != nil {
			writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
				msg: fmt.Sprintf("Worker %s version %d is stored, but whether its token was revoked while the deploy ran could not be read (%v): deploy it again", quote(name), d.Version, err)})
			return
		}
		if revoked {
			unauthorized(w, fmt.Sprintf("invalid token: %v: it was revoked while the deploy ran; Worker %s version %d is stored, and suspended", errRevoked, quote(name), d.Version))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "version": d.Version})
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusNotFound
}

// infoMetadata is the deployment's WorkerInfo as the key's metadata, or
// when that is over the KV metadata limit, only its name and version (a
// listing then reads the value).
func infoMetadata(d *Deployment) json.RawMessage {
	const maxMetadata = 1024
	if b, err := json.Marshal(d.info()); err == nil && len(b) <= maxMetadata {
		return b
	}
	b, _ := json.Marshal(map[string]any{"name": d.Name, "version": d.Version})
	return b
}

// handleWorkers is GET /v1/workers: every deployment, without code.
func (n *Node) handleWorkers(w http.ResponseWriter, r *http.Request) {
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	out, err := n.listDeployments(ctx, kv)
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range out {
		n.markSuspended(&out[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	n.writeHeldJSON(w, r, http.StatusOK, map[string]any{"workers": out})
}

// handleWorker is GET /v1/workers/{name}.
func (n *Node) handleWorker(w http.ResponseWriter, r *http.Request) {
	name, err := workerName(r)
	if err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := n.readDeployment(r.Context(), kv, name, replication.Strong)
	if err != nil {
		writeError(w, err)
		return
	}
	info := d.info()
	n.markSuspended(&info)
	if d.Triggers != nil {
		ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
		defer cancel()
		if info.CronRuns, err = n.cronRuns(ctx, name); err != nil {
			writeError(w, kvAPIError(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// handleUndeploy is DELETE /v1/workers/{name}; a missing one is 404.
func (n *Node) handleUndeploy(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "removing a Worker"); err != nil {
		writeError(w, err)
		return
	}
	name, err := workerName(r)
	if err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	n.workers.mu.Lock()
	defer n.workers.mu.Unlock()
	d, err := n.readDeployment(r.Context(), kv, name, replication.Strong)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	if err := kv.Delete(ctx, workersNS, name); err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	n.workers.cached.Remove(name)
	n.bumpDeploys(ctx, kv)
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "version": d.Version, "deleted": true})
}

// hopByHop are the headers of one connection, which neither reach the
// Worker nor leave from its response; Authorization does not reach it
// either (it is for the mesh's API, and /w/ takes none).
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-authenticate": true, "proxy-authorization": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "proxy-connection": true,
}

// workerRequest is the Worker's view of r: its method, the public URL as
// the client sent it with the path after /w/{name}, its headers less the
// hop-by-hop ones and Authorization, and body.
func workerRequest(r *http.Request, body []byte) *isolate.Request {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The path after its first two segments, /w and the name, however the
	// client escaped them (the mux routes /%77/%65cho/x to echo).
	rest := "/"
	if seg := strings.SplitN(r.URL.EscapedPath(), "/", 4); len(seg) == 4 {
		rest += seg[3]
	}
	u := scheme + "://" + r.Host + rest
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	h := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if hopByHop[k] || k == "authorization" {
			continue
		}
		h[k] = strings.Join(vs, ", ")
	}
	// What Connection names is hop-by-hop too: each name is looked up in
	// the headers, rather than collected (a megabyte of Connection
	// tokens made a map of 186,000 entries, 16 MB, for one request).
	for _, v := range r.Header.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			delete(h, strings.ToLower(strings.TrimSpace(f)))
		}
	}
	h["host"] = r.Host
	if len(body) == 0 {
		body = nil
	}
	return &isolate.Request{Method: r.Method, URL: u, Headers: h, Body: body}
}

// outcomeStatus maps an outcome other than ok to the status of a /w/
// answer, with what the answer's body says.
func outcomeStatus(o isolate.Outcome) (int, string) {
	switch o {
	case isolate.OutcomeException:
		return http.StatusInternalServerError, "the Worker threw an exception"
	case isolate.OutcomeExceededCPU:
		return http.StatusServiceUnavailable, "the Worker exceeded its CPU time limit"
	case isolate.OutcomeExceededMemory:
		return http.StatusServiceUnavailable, "the Worker exceeded its memory limit"
	case isolate.OutcomeExceededWallTime:
		return http.StatusGatewayTimeout, "the Worker exceeded its wall-time limit"
	case isolate.OutcomeLoadShed:
		return http.StatusServiceUnavailable, "no node of the mesh had room for the call; retry later"
	case isolate.OutcomeCanceled:
		return http.StatusServiceUnavailable, "the call was canceled"
	case isolate.OutcomeDenied:
		return http.StatusInternalServerError, "the deployment's grants do not allow this call"
	case isolate.OutcomeInternalError:
		return http.StatusBadGateway, "the node running the call failed"
	}
	return http.StatusInternalServerError, "the call ended without a response"
}

// HeaderOutcome names the outcome of a /w/ call that did not end ok.
const HeaderOutcome = "X-Warren-Outcome"

// handleServe is ANY /w/{name}/{path...}: run the deployed Worker's
// current version on the request, and answer its response. It takes no
// token: the call runs with the deployment's grants.
func (n *Node) handleServe(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if ValidateWorkerName(name) != nil {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no Worker %s is deployed", quote(name))})
		return
	}
	if r.Host == "" { // HTTP/1.0 without one; net/http refuses HTTP/1.1 without
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "a request to a Worker needs a Host header: the Worker's request.url is made of it"})
		return
	}
	if headerDepth(r.Header) > maxWorkerDepth {
		// Workers calling each other through their URLs: refused before
		// the call takes a slot (WorkerDepthHeader).
		writeError(w, errWorkerLoop)
		return
	}
	d, err := n.deployment(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	b, release, err := n.readLimitedBody(w, r, MaxWorkerRequestBody, tooLargeRequest)
	defer release()
	if err != nil {
		writeError(w, err)
		return
	}
	req := &RunRequest{Code: d.Code, Request: workerRequest(r, b), Bindings: d.Bindings, Client: clientOf(r), CF: requestCF(r), pipe: isolate.NewBodyPipe(), key: d.codeKey}
	inv, err := req.decode(n.codes)
	if err != nil {
		// The request (its headers, its URL) is the client's mistake; a
		// deployment that no longer decodes is the node's.
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "bad_request" {
			writeError(w, err)
		} else {
			n.log.Warn("a deployed Worker does not decode", "worker", name, "version", d.Version, "err", err)
			writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal", msg: "the deployment does not decode"})
		}
		return
	}
	// A call forwarded to a peer carries the deployment's grants, in a
	// token this node signs: the peer applies them as its own.
	now := time.Now()
	who := "worker " + name + " (deployed by " + d.DeployedBy + ")"
	req.Token, err = policy.SignToken(n.tokenKey, &policy.Token{Name: who,
		IssuedAt: now.Unix(), Expiry: now.Add(workerTokenTTL).Unix(), Grants: d.Grants})
	if err != nil {
		writeError(w, err)
		return
	}
	res := n.route(r.Context(), inv, req, &policy.Token{Name: who, Grants: d.Grants})
	n.ended("worker", who, "", name, req, res)
	if res.Outcome != isolate.OutcomeOK || res.Response == nil {
		status, msg := outcomeStatus(res.Outcome)
		n.log.Debug("a deployed Worker's call failed", "worker", name, "version", d.Version, "outcome", res.Outcome, "error", res.Error)
		w.Header().Set(HeaderOutcome, string(res.Outcome))
		if res.Outcome == isolate.OutcomeLoadShed {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, status, map[string]string{"error": msg, "code": "worker_" + string(res.Outcome), "outcome": string(res.Outcome)})
		return
	}
	head, err := checkWorkerHead(res.Response)
	if err != nil {
		if res.Response.Streamed {
			req.pipe.Abort(err)
		}
		n.log.Debug("a deployed Worker's response is not valid HTTP", "worker", name, "version", d.Version, "err", err)
		writeError(w, &apiError{status: http.StatusBadGateway, code: "worker_invalid_response", msg: "the Worker's response cannot be sent: " + err.Error()})
		return
	}
	release, ok := n.holdAnswer(w, r, head+len(res.Response.Body))
	if !ok {
		if res.Response.Streamed {
			req.pipe.Abort(errors.New("no answer for the body"))
		}
		return
	}
	defer release()
	h := w.Header()
	for k, v := range res.Response.Headers {
		// Service-Worker-Allowed would let a Worker's script control pages
		// beyond /w/{name}/: the node's dashboard shares the origin, and a
		// service worker over it would see the admin's token.
		if hopByHop[strings.ToLower(k)] || strings.EqualFold(k, "content-length") || strings.EqualFold(k, "service-worker-allowed") {
			continue
		}
		if strings.EqualFold(k, "set-cookie") {
			// Each its own line: joined, a browser would split them at
			// the commas of their Expires.
			if len(res.Response.SetCookie) == 0 {
				h.Add(k, v)
			} else if len(h.Values(k)) == 0 {
				for _, c := range res.Response.SetCookie {
					h.Add(k, c)
				}
			}
			continue
		}
		h.Set(k, v)
	}
	status := res.Response.Status
	if status < 200 || status > 599 {
		// A Worker's Response has a status from 200 to 599; anything else
		// is not one to pass on.
		status = http.StatusBadGateway
	}
	if res.Response.Streamed {
		n.sendStreamedBody(w, r, status, req.pipe)
		return
	}
	if !bodyless(status) {
		h.Set("Content-Length", strconv.Itoa(len(res.Response.Body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		sendWithin(w, res.Response.Body)
	}
}

// maxWorkerHead bounds the headers of a Worker's response that /w/
// sends (names and values, with ": " and CRLF each): as much as a fetched
// response's head may hold (maxEgressHeader), and as much as a browser
// takes (Chrome refuses a head past 256 KiB). A response may otherwise
// hold 32 MiB of headers (MaxResponseBytes), which the node held outside
// the answer budget while a client that read nothing left them unsent,
// and a Python Worker's 100,000 small ones made an http.Header of as many.
const maxWorkerHead = 256 << 10

// checkWorkerHead reports what makes headers, a Worker's response's, no
// HTTP head to send, and else their size: a name that is not a token, a
// value with a NUL, CR or LF, or more than maxWorkerHead bytes in all. A
// JavaScript Worker's Headers refuse the first two, as the Fetch standard
// does (and workerd sends the other control characters of a value, as
// this does), but a Python Worker's headers are any strings (and a worker
// process could be hostile): net/http drops such a name, but sends a NUL
// as it is, an answer no client reads, and CR and LF as spaces.
func checkWorkerHead(r *isolate.Response) (int, error) {
	size := 0
	check := func(k, v string) error {
		if size += len(k) + len(v) + len(": \r\n"); size > maxWorkerHead {
			return fmt.Errorf("its headers hold more than %d bytes", maxWorkerHead)
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("the header name %s is not an HTTP token", quote(k))
		}
		if strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("the value of header %s has a NUL, CR or LF", quote(k))
		}
		return nil
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, "set-cookie") && len(r.SetCookie) > 0 {
			// Sent as the lines of SetCookie, not as v.
			for _, c := range r.SetCookie {
				if err := check(k, c); err != nil {
					return 0, err
				}
			}
			continue
		}
		if err := check(k, v); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// bodyless reports whether a response of status has no body (and so no
// Content-Length).
func bodyless(status int) bool {
	return status == http.StatusNoContent || status == http.StatusNotModified
}

// sendStreamedBody answers a streamed response: the head at once, then
// each chunk as the Worker writes it. A client that stops reading for
// bodyStall, or goes away, cancels the Worker's stream; a body that fails
// midway ends the connection without the end of the body, so that the
// client cannot take it for a whole one.
func (n *Node) sendStreamedBody(w http.ResponseWriter, r *http.Request, status int, pipe *isolate.BodyPipe) {
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		pipe.Abort(errors.New("a HEAD request takes no body"))
		return
	}
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve more requests
	// The head (up to maxWorkerHead) goes out under the same bound as a
	// chunk: flushed with none, one larger than the sockets' buffers held
	// the handler for as long as a client that read nothing stayed.
	_ = rc.SetWriteDeadline(time.Now().Add(answerStall.get()))
	if err := rc.Flush(); err != nil {
		pipe.Abort(err)
		return
	}
	for {
		chunk, err := pipe.Next(r.Context())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			pipe.Abort(err)
			if r.Context().Err() == nil {
				n.log.Debug("a deployed Worker's streamed body failed", "err", err)
				panic(http.ErrAbortHandler) // no clean end for a broken body
			}
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(answerStall.get()))
		_, err = w.Write(chunk)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			pipe.Abort(err)
			return
		}
	}
}

func tooLargeRequest() error {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("request body exceeds %d bytes", MaxWorkerRequestBody)}
}

// sortedNames is the names of bindings in order.
func sortedNames(bindings map[string]isolate.Binding) []string {
	names := make([]string, 0, len(bindings))
	for name := range bindings {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
