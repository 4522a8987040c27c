package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// MaxEgressBody caps the body of a response fetched for a guest.
const MaxEgressBody = 32 << 20

// MaxEgressHeld bounds the bytes of fetched response bodies a node holds
// for its calls at once. A body counts from its first byte read until its
// reply has been written to the calling worker, or the call ended without
// collecting it (contract.Response.Release). A call may have six fetches
// open and make 50 subrequests, each answered with up to MaxEgressBody and
// held until the guest collects it: without a bound, one call that never
// collected its fetches made the node hold 1.6 GB, and a few such calls
// any amount. A fetch that finds no room waits up to egressHeldWait, then
// fails with errEgressFull.
const MaxEgressHeld = 256 << 20

// egressHeldWait is how long a fetch waits for room under MaxEgressHeld
// (a variable for tests); egressHoldChunk how much of it a body being read
// takes at a time.
var egressHeldWait = 5 * time.Second

const egressHoldChunk = 1 << 20

// errEgressFull is a fetch's error when the node holds MaxEgressHeld of
// fetched bodies for longer than egressHeldWait.
var errEgressFull = fmt.Errorf("this node holds %d MiB of fetched responses for its calls, its most; try again later", MaxEgressHeld>>20)

// Egress is an isolate.Host that performs guests' fetch calls under an
// egress policy, checking the host before resolution and every address it
// dials after; it has no bindings.
type Egress struct {
	Policy policy.Egress
	client *http.Client
	// held counts the bytes of the fetched bodies the node holds
	// (MaxEgressHeld); the Egress hosts of a node share one.
	held *semaphore.Weighted
}

// maxEgressHeader bounds the head of a response fetched for a guest (its
// status line and headers; net/http's default is 10 MiB).
const maxEgressHeader = 256 << 10

// NewEgress returns an egress host for the given grants. Unless p.Own is
// set, the host's own addresses (its interfaces') are refused as private
// ones are: a connection to one reaches every service of the host that
// listens on all addresses.
func NewEgress(p policy.Egress) *Egress {
	if p.Own == nil {
		p.Own = ownAddress
	}
	e := &Egress{Policy: p, held: semaphore.NewWeighted(MaxEgressHeld)}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	e.client = &http.Client{
		Transport: &http.Transport{
			Proxy: nil,
			// Every address the host resolves to is checked as it is
			// dialled (so a name cannot resolve to one address when checked
			// and another when dialled), and a refusal names the host the
			// guest asked for, not what it resolved to.
			DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
				name, _, err := net.SplitHostPort(address)
				if err != nil {
					return nil, err
				}
				d := *dialer
				d.Control = func(network, address string, _ syscall.RawConn) error {
					host, port, err := net.SplitHostPort(address)
					if err != nil {
						return err
					}
					a, err := netip.ParseAddr(host)
					if err != nil {
						return fmt.Errorf("egress: dialing %q: %w", address, err)
					}
					return e.Policy.CheckAddr(name, a, port)
				}
				return d.DialContext(ctx, network, address)
			},
			TLSHandshakeTimeout:    10 * time.Second,
			MaxIdleConns:           64,
			IdleConnTimeout:        30 * time.Second,
			MaxResponseHeaderBytes: maxEgressHeader,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return e.checkURL(req.URL)
		},
	}
	return e
}

// ownAddrs caches the host's own addresses for ownAddress; they are read
// again when older than ownAddrsTTL.
var ownAddrs struct {
	sync.Mutex
	at    time.Time
	addrs map[netip.Addr]bool
}

const ownAddrsTTL = 5 * time.Second

// ownAddress reports whether a is an address of one of the host's
// interfaces. If they cannot be read, no address counts as the host's.
func ownAddress(a netip.Addr) bool {
	ownAddrs.Lock()
	defer ownAddrs.Unlock()
	if now := time.Now(); ownAddrs.addrs == nil || now.Sub(ownAddrs.at) > ownAddrsTTL {
		m := map[netip.Addr]bool{}
		if as, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range as {
				if n, ok := ia.(*net.IPNet); ok {
					if x, ok := netip.AddrFromSlice(n.IP); ok {
						m[x.Unmap()] = true
					}
				}
			}
		}
		ownAddrs.addrs, ownAddrs.at = m, now
	}
	return ownAddrs.addrs[a.Unmap()]
}

func (e *Egress) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("unsupported scheme %q: fetch reaches http and https only", u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return e.Policy.CheckHost(u.Hostname(), port)
}

// Fetch performs one egress request.
func (e *Egress) Fetch(ctx context.Context, r *isolate.Request) (*isolate.Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", r.URL, err)
	}
	if err := e.checkURL(u); err != nil {
		return nil, err
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != nil {
		body = strings.NewReader(string(r.Body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.Headers {
		// A connection's own headers are the node's to set: a guest's
		// Connection (naming headers for a proxy to drop) or Upgrade (a
		// stream read until the limits) stay with it.
		if !hopByHop[strings.ToLower(k)] {
			req.Header.Set(k, v)
		}
	}
	// One Worker invocation deeper than the one that fetches: should it
	// reach a Worker's URL, calls from Workers to Workers stay bounded
	// (maxWorkerDepth). Set over the guest's own.
	req.Header.Set(WorkerDepthHeader, strconv.Itoa(depthOf(ctx)+1))
	if c := chainOf(ctx); len(c) > 0 {
		// Made by an object's event: should it reach a Worker's URL that
		// calls the object back, the call fails at once (checkChain).
		req.Header.Set(ObjectChainHeader, chainHeader(c))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, guestSafe(err)
	}
	defer resp.Body.Close()
	// A body past the cap is refused as soon as it is: at once when its
	// Content-Length says so, else once the cap is read (into pooled
	// blocks, so that the refusal costs the node little garbage). What is
	// read is counted under MaxEgressHeld as it comes.
	hr := &heldReader{ctx: ctx, r: resp.Body, held: e.held, size: resp.ContentLength}
	b, err := readBody(hr, resp.ContentLength, MaxEgressBody)
	if err != nil {
		hr.release()
	}
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, fmt.Errorf("response body exceeds %d bytes", MaxEgressBody)
	case errors.Is(err, errEgressFull):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading the response: %w", guestSafe(err))
	}
	hr.keep(int64(len(b)))
	h := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		h[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	out := &isolate.Response{Status: resp.StatusCode, Headers: h, Body: b, Release: hr.release}
	if cs := resp.Header.Values("Set-Cookie"); len(cs) >= 2 {
		out.SetCookie = cs
	}
	// The isolate releases a response once its body is written to the
	// worker or dropped; one that a path forgets to release still gives
	// back its room once it is garbage.
	runtime.AddCleanup(out, (*heldReader).release, hr)
	return out, nil
}

// heldReader reads a fetched body, taking room for it under its Egress's
// MaxEgressHeld egressHoldChunk at a time before it reads.
type heldReader struct {
	ctx  context.Context
	r    io.Reader
	held *semaphore.Weighted
	// size is the body's length as its Content-Length gives it, -1 if
	// unknown: a body known to be small takes no more than it needs.
	size int64

	mu    sync.Mutex
	n     int64 // bytes taken
	ahead int64 // of those, not read yet
}

func (h *heldReader) Read(p []byte) (int, error) {
	if h.ahead == 0 {
		chunk := int64(egressHoldChunk)
		if h.size >= 0 {
			// One byte past the length lets the reader see the end (or
			// a body longer than it said).
			chunk = min(chunk, max(h.size-h.n, 0)+1)
		}
		ctx, cancel := context.WithTimeout(h.ctx, egressHeldWait)
		err := h.held.Acquire(ctx, chunk)
		cancel()
		if err != nil {
			if h.ctx.Err() != nil {
				return 0, h.ctx.Err()
			}
			return 0, errEgressFull
		}
		h.mu.Lock()
		h.n += chunk
		h.mu.Unlock()
		h.ahead = chunk
	}
	n, err := h.r.Read(p[:min(int64(len(p)), h.ahead)])
	h.ahead -= int64(n)
	return n, err
}

// keep gives back what was taken beyond size, the body's length.
func (h *heldReader) keep(size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if extra := h.n - size; extra > 0 {
		h.held.Release(extra)
		h.n = size
	}
	h.ahead = 0
}

// release gives back all that was taken; later calls do nothing.
func (h *heldReader) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n > 0 {
		h.held.Release(h.n)
		h.n = 0
	}
}

// guestSafe rewrites an error of the HTTP client for guest code: the
// guest learns what failed and for which address it asked, never the
// host's resolver, local addresses or ports.
func guestSafe(err error) error {
	var dns *net.DNSError
	var op *net.OpError
	var refused *policy.DeniedError
	switch {
	case errors.As(err, &refused):
		return refused // it names the host the guest asked for
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("the request timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("the request was canceled")
	case errors.As(err, &dns):
		why := "the lookup failed"
		switch {
		case dns.IsNotFound:
			why = "no such host"
		case dns.IsTimeout:
			why = "the lookup timed out"
		}
		return fmt.Errorf("lookup %s: %s", dns.Name, why)
	case errors.As(err, &op):
		msg := op.Op + " " + op.Net
		if op.Addr != nil && op.Op == "dial" {
			msg += " " + op.Addr.String()
		}
		inner := op.Err
		if se, ok := inner.(*os.SyscallError); ok {
			inner = se.Err
		}
		return fmt.Errorf("%s: %w", msg, inner)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ErrNoKV is returned for KV bindings on a runtime without storage.
var ErrNoKV = errors.New("this runtime has no KV storage")

// KV has no storage here: an error of code isolate.KVCodeUnavailable
// wrapping ErrNoKV.
func (e *Egress) KV(string) (isolate.KVNamespace, error) {
	return nil, &isolate.KVError{Code: isolate.KVCodeUnavailable, Err: ErrNoKV}
}

// ErrNoDurableObjects is what DurableObjects answers where no node routes
// Durable Object calls.
//
//lint:ignore ST1005 "Durable Objects" is a proper noun
var ErrNoDurableObjects = errors.New("Durable Objects are not available on this runtime")

// DurableObjects has no objects here: ErrNoDurableObjects.
func (e *Egress) DurableObjects(isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	return nil, ErrNoDurableObjects
}

// egressPool keeps one Egress (and its connection pool) per set of egress
// grants in use, the most recent egressPoolSize of them.
type egressPool struct {
	mu sync.Mutex
	m  map[string]*egressEntry
	at int64 // a clock of uses, for eviction
	// held is the node's MaxEgressHeld, which all its Egress hosts share.
	held *semaphore.Weighted
}

type egressEntry struct {
	e    *Egress
	used int64
}

const egressPoolSize = 64

func newEgressPool() *egressPool {
	return &egressPool{m: map[string]*egressEntry{}, held: semaphore.NewWeighted(MaxEgressHeld)}
}

// grantsKey is an unambiguous key of a list of grants: each with its
// length, so that no two lists share one (joined with a separator, a grant
// holding the separator made two lists one).
func grantsKey(grants []string) string {
	var b strings.Builder
	for _, g := range grants {
		b.WriteString(strconv.Itoa(len(g)))
		b.WriteByte(':')
		b.WriteString(g)
	}
	return b.String()
}

// get returns the Egress of grants.
func (p *egressPool) get(grants []string) *Egress {
	key := grantsKey(grants)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at++
	if en, ok := p.m[key]; ok {
		en.used = p.at
		return en.e
	}
	if len(p.m) >= egressPoolSize {
		oldest := ""
		for k, en := range p.m {
			if oldest == "" || en.used < p.m[oldest].used {
				oldest = k
			}
		}
		p.m[oldest].e.client.CloseIdleConnections()
		delete(p.m, oldest)
	}
	e := NewEgress(policy.Egress{Grants: slices.Clone(grants)})
	e.held = p.held // the node's bound, whatever the grants
	p.m[key] = &egressEntry{e: e, used: p.at}
	return e
}
