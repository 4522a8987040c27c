"""js: the parts of Pyodide's ``js`` module that Cloudflare's Python Workers
examples use, over warren's ``workers`` module:

    from js import Response
    async def on_fetch(request, env):
        return Response.new("Hello World!")

Response.new(body, init) with init a dict of status and headers,
Response.json(data), fetch(url, init), Headers, console.log/info/warn/error
(to the logs), JSON.parse/stringify. There is no JavaScript here: anything
else of ``js`` is missing (an ImportError names it).
"""
import json as _json
import sys as _sys

import workers as _w

Headers = _w.Headers


class Response(_w.Response):
    """workers.Response with Pyodide's constructor: Response.new(body, init)."""

    @classmethod
    def new(cls, body=None, init=None):
        init = _init(init)
        return cls(body, status=init.get("status", 200), headers=init.get("headers"))


def _init(init):
    if init is None:
        return {}
    if isinstance(init, dict):
        return init
    # An object with attributes (a SimpleNamespace, as to_js would give).
    return {k: getattr(init, k) for k in ("status", "headers", "method", "body") if hasattr(init, k)}


async def fetch(url, init=None):
    init = _init(init)
    return await _w.fetch(url, method=init.get("method", "GET"), headers=init.get("headers"), body=init.get("body"))


class _Console:
    @staticmethod
    def _out(stream, args):
        print(*args, file=stream)

    def log(self, *args):
        self._out(_sys.stdout, args)

    info = debug = log

    def warn(self, *args):
        self._out(_sys.stderr, args)

    error = warn


console = _Console()


class JSON:
    parse = staticmethod(_json.loads)

    @staticmethod
    def stringify(value, *args):
        return _json.dumps(value)
