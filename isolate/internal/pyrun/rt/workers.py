"""workers: the Python Workers API of warren, in the shape of Cloudflare's.

    from workers import WorkerEntrypoint, Response

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return Response("hello " + self.env.NAME)

The older entry point, a module-level ``on_fetch(request, env)``, works too.
Awaitables here complete at once (each host call is synchronous), so a
handler's coroutine runs to its end without an event loop; awaiting
anything else that suspends raises RuntimeError.
"""
import json as _json
import _warren

__all__ = ["WorkerEntrypoint", "Request", "Response", "Headers", "fetch", "FetchResponse", "handler", "ScheduledController"]


def handler(fn):
    """@handler: Cloudflare's marker of an entry point (on_fetch); nothing
    to do here."""
    return fn


class Headers:
    """Case-insensitive HTTP headers (names are kept lower-case). A repeated
    name holds its values joined with ", ", but for Set-Cookie, whose values
    stay apart (a cookie's Expires holds a comma): get_all("set-cookie")
    (getSetCookie()) gives them, and each goes out as its own header.
    Built from a mapping, or from a list of (name, value) pairs, which
    appends each."""

    def __init__(self, init=None):
        self._h = {}
        self._cookies = []  # the Set-Cookie values; _h joins them
        if init is None:
            return
        if isinstance(init, Headers):
            self._h = dict(init._h)
            self._cookies = list(init._cookies)
            return
        if hasattr(init, "items"):
            for k, v in init.items():
                self[k] = v
            return
        for k, v in init:
            self.append(k, v)

    def get(self, name, default=None):
        return self._h.get(name.lower(), default)

    def get_all(self, name):
        """The values of name: each Set-Cookie apart, one joined value of
        another name ([] when there is none)."""
        name = name.lower()
        if name == "set-cookie":
            return list(self._cookies)
        return [self._h[name]] if name in self._h else []

    def getSetCookie(self):  # noqa: N802 (the JavaScript name)
        return self.get_all("set-cookie")

    def __getitem__(self, name):
        return self._h[name.lower()]

    def __setitem__(self, name, value):
        name, value = name.lower(), str(value)
        self._h[name] = value
        if name == "set-cookie":
            self._cookies = [value]

    def set(self, name, value):
        self[name] = value

    def append(self, name, value):
        """Adds a value to name: joined to the others with ", ", or, for
        Set-Cookie, a header of its own."""
        name, value = name.lower(), str(value)
        if name == "set-cookie":
            self._cookies.append(value)
            self._h[name] = ", ".join(self._cookies)
        elif name in self._h:
            self._h[name] += ", " + value
        else:
            self._h[name] = value

    def __delitem__(self, name):
        name = name.lower()
        del self._h[name]
        if name == "set-cookie":
            self._cookies = []

    def delete(self, name):
        if name in self:
            del self[name]

    def __contains__(self, name):
        return name.lower() in self._h

    def has(self, name):
        return name in self

    def __iter__(self):
        return iter(self._h)

    def __len__(self):
        return len(self._h)

    def items(self):
        return self._h.items()

    def keys(self):
        return self._h.keys()

    def values(self):
        return self._h.values()

    def __repr__(self):
        return "Headers(%r)" % (self._h,)


def _body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("a body is str or bytes, not %s" % type(body).__name__)


class _Body:
    def _bytes(self):
        return self._body

    async def text(self):
        return self._body.decode("utf-8", "replace")

    async def json(self):
        return _json.loads(self._body)

    async def bytes(self):
        return self._body

    async def arrayBuffer(self):  # noqa: N802 (the JavaScript name)
        return self._body


class Request(_Body):
    """The incoming request: method, url, headers, cf, and the body through
    await request.text(), .json() or .bytes()."""

    def __init__(self, url, method="GET", headers=None, body=None, cf=None):
        self.url = url
        self.method = method
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self._body = _body_bytes(body)
        self.cf = cf or {}

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.url)


class Response(_Body):
    """A response: Response(body, status=200, headers=None)."""

    def __init__(self, body=None, status=200, headers=None, status_text=None):
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError("status must be an int in [200, 599], got %r" % (status,))
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self._body = _body_bytes(body)
        if isinstance(body, str) and "content-type" not in self.headers:
            self.headers["content-type"] = "text/plain;charset=UTF-8"

    @classmethod
    def json(cls, data, status=200, headers=None):
        h = Headers(headers)
        if "content-type" not in h:
            h["content-type"] = "application/json"
        return cls(_json.dumps(data), status=status, headers=h)

    @classmethod
    def redirect(cls, url, status=302):
        return cls(None, status=status, headers={"location": url})

    def __repr__(self):
        return "<Response %d>" % self.status


class FetchResponse(_Body):
    """The answer of fetch(): status, headers, ok, and the body."""

    def __init__(self, status, headers, body, url):
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self._body = body
        self.url = url
        self.ok = 200 <= status < 300

    def __repr__(self):
        return "<FetchResponse %d %s>" % (self.status, self.url)


async def fetch(url, method="GET", headers=None, body=None):
    """An outgoing HTTP request, through the node's egress policy. A denied
    or failed request raises OSError."""
    if isinstance(url, Request):
        req = url
        url, method, headers, body = req.url, req.method, req.headers, req._body
    hdrs = dict(Headers(headers).items())
    head = _json.dumps({"url": str(url), "method": str(method).upper(), "headers": hdrs})
    ans = _warren.call("fetch", head.encode() + b"\n" + _body_bytes(body))
    meta, _, data = ans.partition(b"\n")
    m = _json.loads(meta)
    h = Headers(m.get("headers") or {})
    cookies = m.get("setCookie")
    if cookies:
        # Two or more, apart (the headers join them).
        h._cookies = [str(c) for c in cookies]
        h._h["set-cookie"] = ", ".join(h._cookies)
    return FetchResponse(m["status"], h, data, str(url))


class _KV:
    """A KV namespace binding: get, put, delete, list (awaitables)."""

    def __init__(self, name):
        self._name = name

    def _call(self, method, key="", value=None, opts=None):
        head = _json.dumps({"binding": self._name, "method": method, "key": key, "opts": opts or {}})
        ans = _warren.call("kv", head.encode() + b"\n" + (_body_bytes(value) if value is not None else b""))
        return ans

    @staticmethod
    def _decode(data, type):  # noqa: A002
        if type == "text":
            return data.decode("utf-8", "replace")
        if type == "json":
            return _json.loads(data)
        return data

    async def get(self, key, type="text"):  # noqa: A002 (Cloudflare's name)
        """The value of key, None if there is none; given a list of 1 to
        100 keys (a bulk get: one subrequest, type text or json), a dict of
        each key to its value or None."""
        if isinstance(key, (list, tuple)):
            if type not in ("text", "json"):
                raise ValueError("KV get: a bulk get takes the types text and json, not %s" % type)
            keys = [str(k) for k in key]
            ans = self._call("getBulk", "", None, {"keys": keys})
            out, i = {}, 0
            for k in keys:
                if ans[i] == 0:
                    out[k] = None
                    i += 1
                    continue
                n = int.from_bytes(ans[i + 1:i + 5], "big")
                out[k] = self._decode(ans[i + 5:i + 5 + n], type)
                i += 5 + n
            return out
        ans = self._call("get", key)
        if not ans:
            return None
        return self._decode(ans[1:], type)

    async def put(self, key, value, expiration_ttl=None, expirationTtl=None):  # noqa: N803
        ttl = expiration_ttl or expirationTtl
        self._call("put", key, value, {"expirationTtl": ttl} if ttl else None)

    async def delete(self, key):
        self._call("delete", key)

    async def list(self, prefix="", limit=None, cursor=None):
        ans = self._call("list", "", None, {"prefix": prefix, "limit": limit, "cursor": cursor})
        return _json.loads(ans)


class _Env:
    """self.env: the code object's env values by attribute (text bindings
    as str, other JSON values decoded) and its KV bindings."""

    def __init__(self, values, kv):
        self.__dict__.update(values)
        for name in kv:
            self.__dict__[name] = _KV(name)

    def __getitem__(self, name):
        return self.__dict__[name]

    def __contains__(self, name):
        return name in self.__dict__

    def __repr__(self):
        return "<Env %s>" % sorted(self.__dict__)


class _Ctx:
    def wait_until(self, awaitable):
        _run(awaitable)

    waitUntil = wait_until  # noqa: N815

    def pass_through_on_exception(self):
        pass


class WorkerEntrypoint:
    """The base class of a Worker: subclass it as Default and define
    async def fetch(self, request)."""

    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


def _run(aw):
    """Runs an awaitable whose awaits complete at once."""
    if not hasattr(aw, "__await__"):
        return aw
    it = aw.__await__()
    try:
        while True:
            y = it.send(None)
            if y is not None:
                raise RuntimeError("a Worker may await only warren's APIs (fetch, KV, request bodies): %r would wait for an event loop" % (y,))
    except StopIteration as e:
        return e.value


def _handler(ns):
    """The main module's fetch handler, or None for a script. A module
    that names one that cannot be called is an error, not a script: it
    would answer ok with nothing, whatever the request."""
    d = ns.get("Default")
    if isinstance(d, type) and callable(getattr(d, "fetch", None)):
        return ("class", d)
    f = ns.get("on_fetch")
    if callable(f):
        return ("func", f)
    if "on_fetch" in ns:
        raise TypeError("on_fetch is not a function but %s: define def on_fetch(request, env), "
                        "or class Default(WorkerEntrypoint) with async def fetch(self, request)" % type(f).__name__)
    if isinstance(d, type) and issubclass(d, WorkerEntrypoint):
        raise TypeError("Default has no fetch method: define async def fetch(self, request) to answer requests")
    return None


class ScheduledController:
    """The first argument of a scheduled handler, as on Cloudflare: the
    cron expression that fired, the tick's time (ms since the epoch) and
    no_retry() (noRetry), which asks the scheduler not to retry a failed
    run."""

    type = "scheduled"

    def __init__(self, cron, scheduled_time):
        self.cron = cron
        self.scheduled_time = scheduled_time
        self.scheduledTime = scheduled_time  # noqa: N815 (JavaScript's name)

    def no_retry(self):
        _warren.call("noretry", b"")

    noRetry = no_retry  # noqa: N815


def _scheduled_handler(ns):
    d = ns.get("Default")
    if isinstance(d, type) and callable(getattr(d, "scheduled", None)):
        return ("class", d)
    f = ns.get("on_scheduled")
    if callable(f):
        return ("func", f)
    return None


def _serve_scheduled(ns, cfg):
    """Runs the main module's scheduled handler for the event in cfg:
    Default(ctx, env).scheduled(controller, env, ctx), or
    on_scheduled(controller, env, ctx) (or fewer arguments)."""
    handler = _scheduled_handler(ns)
    if handler is None:
        raise RuntimeError("the main module has no scheduled handler: define Default(WorkerEntrypoint) "
                           "with async def scheduled(self, controller, env, ctx), or on_scheduled(controller, env, ctx)")
    ev = cfg["scheduled"]
    controller = ScheduledController(ev.get("cron") or "", ev.get("scheduledTime") or 0)
    env = _Env(cfg.get("env") or {}, cfg.get("kv") or [])
    ctx = _Ctx()
    kind, h = handler
    if kind == "class":
        _run(h(ctx, env).scheduled(controller, env, ctx))
    else:
        import inspect
        n = len(inspect.signature(h).parameters)
        _run(h(*(controller, env, ctx)[:max(1, min(n, 3))]))


def _serve(handler, cfg):
    r = cfg["request"]
    req = Request(r.get("url") or "http://localhost/", r.get("method") or "GET", r.get("headers") or {},
                  _warren.call("body", b""), r.get("cf"))
    env = _Env(cfg.get("env") or {}, cfg.get("kv") or [])
    ctx = _Ctx()
    kind, h = handler
    if kind == "class":
        res = _run(h(ctx, env).fetch(req))
    else:
        import inspect
        n = len(inspect.signature(h).parameters)
        args = (req, env, ctx)[:max(1, min(n, 3))]
        res = _run(h(*args))
    if isinstance(res, str):
        res = Response(res)
    if not isinstance(res, Response):
        raise TypeError("fetch must return a workers.Response, not %s" % type(res).__name__)
    h = res.headers if isinstance(res.headers, Headers) else Headers(res.headers)
    out = {"status": res.status, "headers": dict(h.items())}
    if len(h._cookies) >= 2:
        # Each its own header line (the joined one cannot be split again).
        out["setCookie"] = h._cookies
    head = _json.dumps(out)
    try:
        _warren.call("respond", head.encode() + b"\n" + res._body)
    except OSError:
        # The host refused the response (a status or a header no HTTP
        # response has, a body past the bound) and ends the call with why.
        pass
