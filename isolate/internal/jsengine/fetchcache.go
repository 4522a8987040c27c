package jsengine

import (
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// fetch's cf cache options, against the node's Cache API store.
//
// On Cloudflare, fetch(url, {cf: {cacheTtl, cacheTtlByStatus,
// cacheEverything, cacheKey}}) goes through the zone's cache, the one
// caches.default also reads. Here a GET with one of those options looks in
// caches.default first (a hit answers with cf-cache-status: HIT and no
// subrequest to the origin), and on a miss stores what the origin answered
// (cf-cache-status: MISS):
//   - cacheTtlByStatus ({"200-299": 86400, "404": 1, "500-599": 0}) gives
//     the seconds for the statuses it names; cacheTtl gives them for the
//     rest of the statuses RFC 9111 lets a cache keep by default (200, 203,
//     204, 300, 301, 308, 404, 405, 410, 414, 501). Either overrides the
//     origin's Cache-Control; 0 or less is not stored.
//   - cacheEverything alone keeps the origin's Cache-Control or Expires,
//     and where there is none Cloudflare's default edge TTLs: 2 h for 200,
//     203, 300, 301 and 308, 20 min for 302, 303 and 307, 3 min for 404 and
//     410.
//   - cacheKey replaces the request's URL as the key (a key that is not an
//     http or https URL is kept under a URL made from it).
//
// What the store refuses is still refused (Set-Cookie, 206, Vary: *, an
// entry over its size bound), and then the response is simply not stored.
// The other cf options (polish, minify, image resizing, scrapeShield,
// resolveOverride, ...) are accepted and ignored.

// fetchCache is the cache options of one fetch.
type fetchCache struct {
	key      string
	ttl      float64 // cacheTtl; NaN when not given
	byStatus []statusTTL
	always   bool // cacheEverything
}

type statusTTL struct {
	lo, hi int
	ttl    float64
}

// heuristic are the statuses RFC 9111 (4.2.2) lets a cache keep without
// explicit freshness, less 206 (which the store refuses).
var heuristic = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// defaultEdgeTTL is Cloudflare's edge TTL, in seconds, for a response
// without Cache-Control or Expires under cacheEverything (0: not kept).
func defaultEdgeTTL(status int) int {
	switch status {
	case 200, 203, 300, 301, 308:
		return 7200
	case 302, 303, 307:
		return 1200
	case 404, 410:
		return 180
	}
	return 0
}

// fetchCacheOptions reads the cf cache options of a fetch: from init.cf,
// else from the Request given as input. nil when the fetch is not cached:
// no such option, or not a GET.
func (l *loop) fetchCacheOptions(input, init goja.Value, hr *webapi.HTTPRequest) *fetchCache {
	if hr.Method != "GET" || hr.Stream != nil {
		return nil
	}
	var cf *goja.Object
	for _, v := range []goja.Value{init, input} {
		o, ok := v.(*goja.Object)
		if !ok {
			continue
		}
		if c, ok := o.Get("cf").(*goja.Object); ok {
			cf = c
			break
		}
	}
	if cf == nil {
		return nil
	}
	fc := &fetchCache{key: hr.URL, ttl: math.NaN()}
	if v := cf.Get("cacheTtl"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
		fc.ttl = v.ToFloat()
	}
	if v := cf.Get("cacheEverything"); v != nil {
		fc.always = v.ToBoolean()
	}
	if o, ok := cf.Get("cacheTtlByStatus").(*goja.Object); ok {
		for _, k := range o.Keys() {
			lo, hi, ok := statusRange(k)
			if !ok {
				panic(l.vm.NewTypeError("fetch: cf.cacheTtlByStatus: %q is not a status or a range of statuses like \"200-299\"", k))
			}
			fc.byStatus = append(fc.byStatus, statusTTL{lo, hi, o.Get(k).ToFloat()})
		}
	}
	if v := cf.Get("cacheKey"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
		k := v.String()
		if !strings.HasPrefix(k, "http://") && !strings.HasPrefix(k, "https://") {
			k = "https://cache-key.invalid/" + url.PathEscape(k)
		}
		fc.key = k
	}
	if math.IsNaN(fc.ttl) && fc.byStatus == nil && !fc.always {
		return nil
	}
	return fc
}

// statusRange reads "404" or "200-299".
func statusRange(s string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, lo >= 100 && hi <= 599 && lo <= hi
}

// ttlFor is the seconds to keep a response of status, ok false when the
// options do not say (the origin's headers decide).
func (fc *fetchCache) ttlFor(status int) (ttl float64, ok bool) {
	for _, s := range fc.byStatus {
		if status >= s.lo && status <= s.hi {
			return s.ttl, true
		}
	}
	if !math.IsNaN(fc.ttl) {
		if heuristic[status] {
			return fc.ttl, true
		}
		return 0, true
	}
	return 0, false
}

// toStore is the response to store for resp, or nil: its Cache-Control set
// from the options, or given Cloudflare's default edge TTL.
func (fc *fetchCache) toStore(resp *contract.Response) *contract.Response {
	h := make(map[string]string, len(resp.Headers)+1)
	for k, v := range resp.Headers {
		h[k] = v
	}
	if ttl, ok := fc.ttlFor(resp.Status); ok {
		if !(ttl >= 1) {
			return nil
		}
		h["cache-control"] = "max-age=" + strconv.FormatInt(int64(min(ttl, 1<<31)), 10)
		delete(h, "expires")
	} else if h["cache-control"] == "" && h["expires"] == "" {
		d := defaultEdgeTTL(resp.Status)
		if d == 0 {
			return nil
		}
		h["cache-control"] = "max-age=" + strconv.Itoa(d)
	}
	n := len(resp.Body)
	for k, v := range h {
		n += len(k) + len(v)
	}
	if n > maxCachePut {
		return nil
	}
	return &contract.Response{Status: resp.Status, Headers: h, Body: resp.Body}
}

// cachedFetch answers a GET with cache options: from caches.default when
// it holds the key, else from the origin, whose answer is stored first.
func (l *loop) cachedFetch(fc *fetchCache, hr *webapi.HTTPRequest, resolve, reject func(any) error) {
	l.hostAsync(&contract.HostCall{Op: contract.OpCache, Method: "match", Cache: &contract.CacheCall{URL: fc.key}}, func(rep *contract.HostReply, err error) {
		if err == nil && rep.Error == "" && rep.Response != nil {
			obj, err := l.api.NewResponse(fromResponse(rep.Response))
			if err != nil {
				_ = reject(l.vm.NewGoError(err))
				return
			}
			_ = resolve(obj)
			return
		}
		// A miss, or no cache here: the origin answers.
		l.sendFetchWith(contract.OpFetch, "", nil, hr, resolve, reject, func(resp *contract.Response, done func()) {
			if resp.Headers == nil {
				resp.Headers = map[string]string{}
			}
			stored := fc.toStore(resp)
			resp.Headers["cf-cache-status"] = "MISS"
			if stored == nil {
				done()
				return
			}
			l.hostAsync(&contract.HostCall{Op: contract.OpCache, Method: "put", Cache: &contract.CacheCall{URL: fc.key, Response: stored}}, func(*contract.HostReply, error) {
				done() // a refused or failed store still answers
			})
		})
	})
}
