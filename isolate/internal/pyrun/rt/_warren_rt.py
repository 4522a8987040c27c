"""warren's Python runtime: runs one call of a code object.

Imported once, when the interpreter starts, before the host takes its memory
snapshot; run() is then called once per fresh instance. It asks the host for
the call (host op "start"), makes the code object's .py modules importable
by name, runs the main module as __main__, and, when the main module defines
a Worker (on_fetch, or a class Default with fetch), calls it with the
request and sends the response (host op "respond"). An uncaught exception is
printed to stderr as a traceback that names the author's files and lines,
and reported to the host (op "exception").
"""
import _warren
import os
import sys
import json
import linecache
import traceback
import importlib.abc
import importlib.machinery
import importlib.util

# The common modules, imported once so that a call finds them in the
# snapshot. Each of these is cheap to keep and slow to import under wasm.
import base64, binascii, collections, dataclasses, datetime, functools  # noqa: E401,F401
import hashlib, io, itertools, math, operator, re, string, struct  # noqa: E401,F401
import textwrap, time, types, typing, urllib.parse  # noqa: E401,F401
import workers  # noqa: F401

_RT_FILE = __file__  # its frames are left out of tracebacks
_RT_DIR = _RT_FILE.rsplit("/", 1)[0] + "/"  # and those of workers.py and js.py


def _sleep(secs):
    """time.sleep through the host: WASI's absolute-time clock sleep,
    which CPython uses, is not supported by the runtime. The wall-time
    limit bounds it; the CPU limit does not count it."""
    if not isinstance(secs, (int, float)):
        raise TypeError("'%s' object cannot be interpreted as an integer or float" % type(secs).__name__)
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    if secs > 0:
        _warren.call("sleep", repr(float(secs)).encode())


time.sleep = _sleep


class _Quitter:
    """exit() and quit(), which site.py would add (the runtime runs
    without site)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Use %s() to exit" % self.name

    def __call__(self, code=None):
        raise SystemExit(code)


import builtins  # noqa: E402
builtins.exit, builtins.quit = _Quitter("exit"), _Quitter("quit")

# What _report needs, held here: the author's code may replace the modules'
# attributes.
_dumps = json.dumps
_format_exception = traceback.format_exception
_TracebackType = types.TracebackType
_call = _warren.call


class _CodeFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the code object's .py modules: "util.py" as util,
    "pkg/__init__.py" as the package pkg, "pkg/mod.py" as pkg.mod (a
    folder without __init__.py is a namespace-like package)."""

    def __init__(self, names):
        self.modules = {}  # module name -> (file name, is package)
        self.dirs = set()
        for n in names:
            if not n.endswith(".py"):
                continue
            parts = n[:-3].split("/")
            if not all(p.isidentifier() for p in parts):
                continue
            for i in range(1, len(parts)):
                self.dirs.add(".".join(parts[:i]))
            if parts[-1] == "__init__" and len(parts) > 1:
                self.modules[".".join(parts[:-1])] = (n, True)
            else:
                self.modules[".".join(parts)] = (n, False)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.modules:
            fname, pkg = self.modules[fullname]
            spec = importlib.machinery.ModuleSpec(fullname, self, origin=fname, is_package=pkg)
            spec.has_location = True
            return spec
        if fullname in self.dirs:
            spec = importlib.machinery.ModuleSpec(fullname, self, origin=None, is_package=True)
            return spec
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__spec__.name
        if name not in self.modules:
            module.__path__ = []
            return
        fname, pkg = self.modules[name]
        if pkg:
            module.__path__ = []
        module.__file__ = fname
        code = _compile(fname)
        exec(code, module.__dict__)


def _source(fname):
    return _warren.call("file", fname.encode()).decode("utf-8")


def _compile(fname):
    src = _source(fname)
    # linecache serves the source lines of tracebacks.
    linecache.cache[fname] = (len(src), None, src.splitlines(True), fname)
    return compile(src, fname, "exec", dont_inherit=True)


def _report(exc):
    """Prints exc's traceback without the runtime's own frames (those of
    the files in its folder: this one, workers.py, js.py) and sends it to
    the host."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_RT_DIR):
            frames.append(tb)
        tb = tb.tb_next
    tb = None
    for f in reversed(frames):
        tb = _TracebackType(tb, f.tb_frame, f.tb_lasti, f.tb_lineno)
    exc.__traceback__ = tb
    lines = _format_exception(exc)
    text = "".join(lines)
    sys.stderr.write(text)
    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", "__main__"):
        name = type(exc).__module__ + "." + name
    _call("exception", _dumps({
        "name": name,
        "message": str(exc),
        "stack": text,
    }).encode())


def _reseed():
    # The snapshot froze every module's state, random's included: a call
    # that uses random must not see the numbers of the call before it.
    r = sys.modules.get("random")
    if r is not None:
        r.seed()


def run():
    cfg = json.loads(_warren.call("start", b""))
    _reseed()
    os.chdir("/code")
    finder = _CodeFinder(cfg["files"])
    sys.meta_path.insert(0, finder)
    status = 0
    try:
        main = types.ModuleType("__main__")
        main.__file__ = cfg["main"]
        main.__builtins__ = __builtins__
        sys.modules["__main__"] = main
        code = _compile(cfg["main"])
        exec(code, main.__dict__)
        if cfg.get("scheduled") is not None:
            workers._serve_scheduled(main.__dict__, cfg)
        else:
            handler = workers._handler(main.__dict__)
            if handler is not None:
                workers._serve(handler, cfg)
    except SystemExit as e:
        c = e.code
        if c is None:
            status = 0
        elif isinstance(c, int):
            status = c & 0xFF
        else:
            sys.stderr.write(str(c) + "\n")
            status = 1
    except BaseException as e:  # noqa: B036 (the author's KeyboardInterrupt too)
        _report(e)
        status = 1
    finally:
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: B036
            pass
        try:
            sys.stderr.flush()
        except BaseException:  # noqa: B036
            pass
    return status
