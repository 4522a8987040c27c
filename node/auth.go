package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
)

// Authentication of the API, and the grants of a call.
//
// Every route but GET /healthz, a deployed Worker's /w/ and the
// dashboard's page and assets (GET / and /ui/) needs "Authorization: Bearer TOKEN", a token
// of this mesh (policy.ParseToken under the key derived from the mesh
// secret). The token's grants decide what the call may do, here and on the
// peer a call is forwarded to: the forward frame carries the token, and the
// peer verifies it again.

// TokenKey derives the key that signs and verifies the tokens of the mesh
// whose secret is s.
func TokenKey(s *mesh.Secret) []byte { return s.DeriveKey(policy.TokenKeyPurpose) }

// MintToken signs a token for name with grants, valid from now for ttl,
// under the key of secret s. It has no ID: it cannot be revoked before it
// expires (MintRevocableTokenFile), and no node reads the revocation list
// for it.
func MintToken(s *mesh.Secret, name string, g policy.Grants, ttl time.Duration) (string, error) {
	return signToken(s, name, "", g, ttl)
}

func signToken(s *mesh.Secret, name, id string, g policy.Grants, ttl time.Duration) (string, error) {
	now := time.Now()
	return policy.SignToken(TokenKey(s), &policy.Token{Name: name, ID: id, IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(), Grants: g})
}

// noAuthToken is the caller of a node started with Config.NoAuth: an
// administrator.
var noAuthToken = &policy.Token{Name: "no-auth", Grants: policy.Grants{Admin: true}}

type callerKey struct{}

// caller is who made an API call: the verified token and its text (which
// travels with a forwarded call; "" on a node without auth).
type caller struct {
	tok *policy.Token
	raw string
}

// callerOf is the caller of an authenticated request.
func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// unauthorized is the answer to a request without a valid token.
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="warren"`)
	writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", msg: msg})
}

// forbidden is the 403 of a valid token that lacks a grant.
func forbidden(format string, args ...any) error {
	return &apiError{status: http.StatusForbidden, code: "denied", msg: fmt.Sprintf(format, args...)}
}

// authenticate wraps the API: every route but GET /healthz, /w/ (a
// deployed Worker's, run with its deploy-time grants) and the dashboard's
// page and assets (which hold no data) needs a valid token,
// unless the node runs without auth.
func (n *Node) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || isWorkerPath(r.URL.Path) || isDashboardPath(r.Method, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if n.cfg.NoAuth {
			if err := localOnly(r); err != nil {
				writeError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{tok: noAuthToken})))
			return
		}
		h := r.Header.Get("Authorization")
		if h == "" {
			unauthorized(w, "this API needs a token: Authorization: Bearer TOKEN (warren token create)")
			return
		}
		scheme, raw, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			unauthorized(w, "the Authorization header must be: Bearer TOKEN")
			return
		}
		raw = strings.TrimSpace(raw)
		tok, err := n.parseToken(raw, time.Now())
		if err != nil {
			unauthorized(w, "invalid token: "+err.Error())
			return
		}
		if err := n.checkRevoked(r.Context(), tok); err != nil {
			if errors.Is(err, errRevoked) {
				unauthorized(w, "invalid token: "+err.Error())
			} else {
				writeError(w, err)
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{tok: tok, raw: raw})))
	})
}

// isWorkerPath reports whether p is a deployed Worker's, /w/{name}/...,
// which needs no token: only a path that stays under /w/ once cleaned
// (the mux redirects an unclean one rather than serve it).
func isWorkerPath(p string) bool {
	return strings.HasPrefix(p, "/w/") && strings.HasPrefix(path.Clean(p), "/w/")
}

// checkKV is the 400 of a reserved KV namespace and the 403 of an API
// call on a namespace the token does not grant (write: read-write).
func checkKV(r *http.Request, ns string, write bool) error {
	if err := reservedNamespace(ns); err != nil {
		return kvAPIError(err)
	}
	c := callerOf(r)
	if c.tok == nil {
		return forbidden("no token")
	}
	if err := c.tok.CheckKV(ns, write); err != nil {
		return forbidden("%s", err)
	}
	return nil
}

// grant applies who's grants to an invocation before it runs: limits
// above the token's ceilings and bindings to namespaces it does not grant
// are refused (the denied result, saying why); limits it leaves out are
// filled with the token's ceilings where those are lower than the
// defaults; the invocation's Host reaches KV and the network only as
// granted, and its Tenant is who's (tenantOf). A nil who (an embedder's
// call of Node.Run) grants everything.
func (n *Node) grant(inv *isolate.Invocation, who *policy.Token) (*isolate.Invocation, *isolate.Result) {
	if who == nil || who.Grants.Admin {
		return inv, nil
	}
	g := &who.Grants
	var asked policy.Limits
	if l := inv.Code.Limits; l != nil {
		asked = policy.Limits{CPUMs: l.CPUMs, MemoryMB: l.MemoryMB, Subrequests: l.SubRequests}
	}
	if err := g.CheckLimits(asked); err != nil {
		return nil, denied(err.Error())
	}
	for name, b := range inv.Bindings {
		if b.KV == "" {
			continue
		}
		if r, _ := g.KVAccess(b.KV); !r {
			return nil, denied(fmt.Sprintf("binding %s: %v", name, g.CheckKV(b.KV, false)))
		}
	}
	if err := checkObjects(g, inv.Bindings); err != nil {
		return nil, denied(err.Error())
	}
	out := *inv
	def := policy.Limits{CPUMs: isolate.DefaultLimits.CPUMs, MemoryMB: min(isolate.DefaultLimits.MemoryMB, n.cfg.MaxMemoryMB), Subrequests: isolate.DefaultLimits.SubRequests}
	if filled := g.Defaults(asked, def); filled != asked {
		// The Code is shared (the code cache): change a copy. Its hash,
		// which keys the runtime's caches, does not cover the limits.
		c := *inv.Code
		l := isolate.Limits{}
		if c.Limits != nil {
			l = *c.Limits
		}
		l.CPUMs, l.MemoryMB, l.SubRequests = filled.CPUMs, filled.MemoryMB, filled.Subrequests
		c.Limits = &l
		out.Code = &c
	}
	host := inv.Host
	if host == nil {
		host = n.host
	}
	out.CacheScope = cacheScope(g)
	tenant := tenantOf(who, out.CacheScope)
	out.Host = &grantedHost{inner: host, g: g, pace: n.kvPace, paceKey: "kv " + tenant}
	if !n.cfg.SharedWorkers {
		out.Tenant = tenant
	}
	return &out, nil
}

// tenantOf names the tenant of the calls made with tok
// (isolate.Invocation.Tenant): calls of two tenants never share a sandbox
// worker process. Administrators, who may do anything on the mesh anyway,
// are one tenant, "" (and so are a node without auth and an embedder);
// any other token is a tenant by its name, ID and grants, the last by
// scope, their cacheScope (computed once per call, for both). Its issue
// and expiry times are left out: a deployed Worker's calls travel to peers
// under tokens signed afresh, and stay one tenant.
func tenantOf(tok *policy.Token, scope string) string {
	if tok == nil || tok.Grants.Admin {
		return ""
	}
	h := sha256.New()
	for _, part := range []string{tok.Name, tok.ID, scope} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write([]byte(part))
	}
	return "token:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// cacheScope parts the Cache API's entries by what the caller is granted:
// callers who may reach the same things share a Worker's cache; others,
// running the same code, do not see its entries. Admins (and embedders)
// share the scope "".
func cacheScope(g *policy.Grants) string {
	b, err := json.Marshal(g)
	if err != nil { // cannot happen; this call's own scope then
		return fmt.Sprintf("unscoped:%p", g)
	}
	sum := sha256.Sum256(b)
	return "grants:" + hex.EncodeToString(sum[:16])
}

// grantedHost is a Host as a token's grants allow it: KV namespaces as
// granted (writes to a read-only one reject with KVCodeDenied), fetch to
// granted hosts only (and then as the inner host allows).
type grantedHost struct {
	inner isolate.Host
	g     *policy.Grants
	// pace, if set, paces the KV writes under paceKey (the token's).
	pace    *writeRate
	paceKey string
}

func (h *grantedHost) Fetch(ctx context.Context, req *isolate.Request) (*isolate.Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if err := (policy.Egress{Grants: h.g.AllowNet}).CheckHost(u.Hostname(), port); err != nil {
		return nil, err
	}
	if gf, ok := h.inner.(grantFetcher); ok {
		return gf.FetchGranted(ctx, req, h.g.AllowNet)
	}
	return h.inner.Fetch(ctx, req)
}

func (h *grantedHost) KV(namespace string) (isolate.KVNamespace, error) {
	r, w := h.g.KVAccess(namespace)
	if !r {
		return nil, &isolate.KVError{Code: isolate.KVCodeDenied, Err: h.g.CheckKV(namespace, false)}
	}
	ns, err := h.inner.KV(namespace)
	if err != nil {
		return ns, err
	}
	if w {
		if h.pace != nil {
			return &pacedKV{inner: ns, pace: h.pace, key: h.paceKey}, nil
		}
		return ns, nil
	}
	return &readOnlyKV{inner: ns, ns: namespace}, nil
}

// pacedKV is a namespace whose puts wait their turn in the token's write
// pace (writeRate) before they go. It spells out every method of
// isolate.KVNamespace, as readOnlyKV does.
type pacedKV struct {
	inner isolate.KVNamespace
	pace  *writeRate
	key   string
}

var _ isolate.KVNamespace = (*pacedKV)(nil)

func (k *pacedKV) Get(ctx context.Context, key string, opts isolate.KVGetOptions) (*isolate.KVEntry, error) {
	return k.inner.Get(ctx, key, opts)
}

func (k *pacedKV) Put(ctx context.Context, key string, value []byte, opts isolate.KVPutOptions) error {
	if err := k.pace.wait(ctx, k.key, len(key)+len(value)); err != nil {
		return &isolate.KVError{Code: isolate.KVCodeUnavailable, Err: fmt.Errorf("KV writes of this token are paced: %w", err)}
	}
	return k.inner.Put(ctx, key, value, opts)
}

func (k *pacedKV) Delete(ctx context.Context, key string) error { return k.inner.Delete(ctx, key) }

func (k *pacedKV) List(ctx context.Context, opts isolate.KVListOptions) (*isolate.KVList, error) {
	return k.inner.List(ctx, opts)
}

func (h *grantedHost) DurableObjects(b isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	// The bindings were checked against the grants (checkObjects) before
	// the call ran; a guest reaches no namespace it was not bound to.
	return h.inner.DurableObjects(b)
}

// readOnlyKV is a namespace the token grants reading only. It spells out
// every method of isolate.KVNamespace, so that one added there does not
// compile here until it is decided on.
type readOnlyKV struct {
	inner isolate.KVNamespace
	ns    string
}

var _ isolate.KVNamespace = (*readOnlyKV)(nil)

func (k *readOnlyKV) denied() error {
	return &isolate.KVError{Code: isolate.KVCodeDenied, Err: fmt.Errorf("the token grants only reading KV namespace %s, not writing it", k.ns)}
}

func (k *readOnlyKV) Get(ctx context.Context, key string, opts isolate.KVGetOptions) (*isolate.KVEntry, error) {
	return k.inner.Get(ctx, key, opts)
}

func (k *readOnlyKV) Put(context.Context, string, []byte, isolate.KVPutOptions) error {
	return k.denied()
}

func (k *readOnlyKV) Delete(context.Context, string) error { return k.denied() }

func (k *readOnlyKV) List(ctx context.Context, opts isolate.KVListOptions) (*isolate.KVList, error) {
	return k.inner.List(ctx, opts)
}

// checkNoAuth refuses a node without auth whose API is not on loopback.
func checkNoAuth(cfg Config, ln net.Listener) error {
	addr := cfg.API
	if ln != nil {
		addr = ln.Addr().String()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: --api %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("node: without auth (--no-auth) the API must listen on loopback, not %s: anyone who reaches it could run code", addr)
	}
	return nil
}

// MaxHeaderBytes bounds a request's head (its line and headers): a head is
// held before the caller is known, outside every budget of the node
// (net/http's default is 1 MiB). Cloudflare takes 128 KB of headers.
const MaxHeaderBytes = 128 << 10

// localOnly refuses, on a node without auth, a request that a browser may
// have sent on behalf of another site: one addressed to a name that is not
// localhost or a loopback address (a name of the attacker's that resolves to
// 127.0.0.1, DNS rebinding), or from a page of another origin (a form or a
// fetch that needs no preflight). A loopback listener alone keeps other
// hosts out, not the browsers of this one.
func localOnly(r *http.Request) error {
	refuse := func(why string) error {
		return &apiError{status: http.StatusForbidden, code: "denied", msg: "this node runs without auth (--no-auth), for clients on this machine: " + why}
	}
	if !loopbackHost(r.Host) {
		return refuse(fmt.Sprintf("it answers requests addressed to localhost or a loopback address, not to %q", r.Host))
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !loopbackHost(u.Host) {
			return refuse(fmt.Sprintf("it answers no request from a page of another origin (%q)", o))
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return refuse("it answers no cross-site request")
	}
	return nil
}

// loopbackHost reports whether a Host header (or a URL's host) names this
// machine: localhost, a name under .localhost, or a loopback address, with
// or without a port.
func loopbackHost(h string) bool {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// errNoToken is a forward frame's refusal when it carries no valid token.
var errNoToken = errors.New("the forwarded call carries no valid token")

// nodeTokenTTL is how long a token this node mints for its own forwards
// lasts: one call's forward, with room for clock skew.
const nodeTokenTTL = 5 * time.Minute

// nodeToken is an administrator's token in this node's name, for the
// forwards of calls that came with none.
func (n *Node) nodeToken() (string, error) { return n.nodeTokenWith(policy.Grants{Admin: true}) }

// nodeTokenWith is a token in this node's name with grants g, for a call
// to peers that needs no more (the overview's asks any valid token).
func (n *Node) nodeTokenWith(g policy.Grants) (string, error) {
	now := time.Now()
	return policy.SignToken(n.tokenKey, &policy.Token{Name: "node " + n.id.Name, IssuedAt: now.Unix(), Expiry: now.Add(nodeTokenTTL).Unix(), Grants: g})
}

// Grants are what a token allows (policy.Grants), for the binary's commands.
type Grants = policy.Grants

// MintTokenFile signs a token for name with grants, valid from now for
// ttl, under the mesh secret in the file at path. Like MintToken's, it has
// no ID.
func MintTokenFile(path, name string, g Grants, ttl time.Duration) (string, error) {
	s, err := mesh.LoadSecret(path)
	if err != nil {
		return "", err
	}
	return MintToken(s, name, g, ttl)
}

// MintRevocableTokenFile is MintTokenFile for a token with a random ID,
// by which it can be revoked (POST /v1/tokens/revoke): one to hand out.
func MintRevocableTokenFile(path, name string, g Grants, ttl time.Duration) (string, error) {
	s, err := mesh.LoadSecret(path)
	if err != nil {
		return "", err
	}
	return signToken(s, name, policy.NewTokenID(), g, ttl)
}

// verifiedTokens bounds the tokens a node keeps verified (Node.verified).
const verifiedTokens = 4096

// parseToken is policy.ParseToken under the node's key, with the tokens
// whose signature checked out kept: a client sends its token with every
// call, and its MAC, base64 and JSON cost about 4 % of a node's CPU at
// 10,000 calls a second. A kept token is the same string, so the same
// signed fields: only its validity period is checked again (and the
// caller checks revocation as before). Only verified tokens are kept, so
// that a client sending garbage evicts nothing but its own.
func (n *Node) parseToken(raw string, now time.Time) (*policy.Token, error) {
	if t, ok := n.verified.Get(raw); ok {
		if err := t.ValidAt(now); err != nil {
			return nil, err
		}
		return t, nil
	}
	t, err := policy.ParseToken(n.tokenKey, raw, now)
	if err != nil {
		return nil, err
	}
	n.verified.Add(raw, t, int64(len(raw)))
	return t, nil
}
