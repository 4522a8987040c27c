"""stdlib_zip.py LIB BUILDLIB OUT: the standard library as a .pyc-only zip.

Run by scripts/build-python.sh with the build Python (3.11, the version of
the target). Every module of LIB (and the sysconfig data of BUILDLIB) is
compiled to a .pyc in the legacy place (os.pyc next to where os.py was), so
that the read-only mount needs no __pycache__ and no sources; tracebacks
name /lib/python3.11/<module>.py. Entries carry a fixed date so that the
zip is reproducible.
"""
import importlib._bootstrap_external as ext
import os
import sys
import zipfile

# Parts of the standard library that cannot work in a WASI sandbox (GUI,
# package installers, the test suite) or are only development tools.
SKIP = {
    "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
    "distutils", "venv", "pydoc_data", "__phello__", "turtle.py",
    "site-packages", "msilib", "curses", "dbm", "sqlite3", "ctypes",
    "multiprocessing", "asyncio/windows_events.py",
}
DATE = (2023, 2, 8, 0, 0, 0)


def pyc(path, name):
    with open(path, "rb") as f:
        src = f.read()
    code = compile(src, name, "exec", dont_inherit=True, optimize=0)
    return bytes(ext._code_to_timestamp_pyc(code, 0, len(src)))


def add(zf, arc, data):
    info = zipfile.ZipInfo(arc, DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def main(lib, buildlib, out):
    n = 0
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        for root, dirs, files in os.walk(lib):
            rel = os.path.relpath(root, lib)
            rel = "" if rel == "." else rel + "/"
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "tests")
                             and (rel + d) not in SKIP and d not in SKIP)
            for f in sorted(files):
                if not f.endswith(".py") or (rel + f) in SKIP or f in SKIP:
                    continue
                arc = rel + f[:-3] + ".pyc"
                add(zf, arc, pyc(os.path.join(root, f), "/lib/python3.11/" + rel + f))
                n += 1
        for f in sorted(os.listdir(buildlib)):
            if f.startswith("_sysconfigdata") and f.endswith(".py"):
                add(zf, f[:-3] + ".pyc", pyc(os.path.join(buildlib, f), "/lib/python3.11/" + f))
                n += 1
        info = zipfile.ZipInfo("lib-dynload/", DATE)
        info.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(info, b"")
    os.replace(tmp, out)
    print(f"stdlib_zip: {n} modules in {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:])
