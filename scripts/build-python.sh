#!/usr/bin/env bash
# build-python.sh: build warren's CPython for wasm32-wasi (docs/python.md).
#
# Sources come from Debian's package archive (deb-src, bookworm main):
# python3.11 (3.11.2) and zlib. The toolchain is Debian's clang-16, lld-16,
# llvm-16 and wasi-libc, installed with apt-get; the build Python is Debian's
# /usr/bin/python3.11 (the same version, as a cross build requires).
#
# Output, in OUT (default build/python, ignored by git):
#   python.wasm   CPython as a WASI reactor exporting warren_init and
#                 warren_run (scripts/python/warren_main.c), with the
#                 built-in module _warren for host calls
#   stdlib.zip    the standard library as .pyc only (compiled by the build
#                 Python; no tests, no idlelib/tkinter/ensurepip)
#   VERSION       what was built, from what
# The script does nothing when both artifacts are present and newer than its
# inputs; FORCE=1 rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/build/python}
WORK=${WORK:-$ROOT/build/python-work}
JOBS=${JOBS:-$(nproc)}
PYVER=3.11
SRCDIR=$ROOT/scripts/python

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "${FORCE:-}" ] && [ -s "$OUT/python.wasm" ] && [ -s "$OUT/stdlib.zip" ] &&
  [ -z "$(find "$SRCDIR" "$0" -newer "$OUT/python.wasm" -print -quit)" ]; then
  echo "build-python: $OUT is up to date"
  exit 0
fi

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

# --- toolchain and build Python, from apt -------------------------------
need=()
for c in clang-16 wasm-ld-16 llvm-ar-16 llvm-ranlib-16 dpkg-source; do
  command -v "$c" >/dev/null 2>&1 || need+=("$c")
done
[ -f /usr/include/wasm32-wasi/stdio.h ] || need+=(wasi-libc)
[ -f /usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a ] || need+=(rt)
[ -x /usr/bin/python3.11 ] || need+=(python3.11)
if [ ${#need[@]} -gt 0 ]; then
  echo "build-python: installing the toolchain with apt-get (missing: ${need[*]})"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    clang-16 lld-16 llvm-16 wasi-libc libclang-rt-16-dev-wasm32 python3.11 dpkg-dev make >/dev/null
fi
BUILD_PY=/usr/bin/python3.11
"$BUILD_PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'

# --- sources, from Debian's archive ------------------------------------
mkdir -p "$WORK/src"
cd "$WORK/src"
if ! ls python3.11_*.orig.tar.gz >/dev/null 2>&1 || ! ls zlib_*.orig.tar.* >/dev/null 2>&1; then
  if ! apt-get source --download-only python3.11 zlib >/dev/null 2>&1; then
    echo "build-python: adding a deb-src entry for bookworm main"
    $sudo tee /etc/apt/sources.list.d/warren-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    $sudo apt-get update -qq
    apt-get source --download-only python3.11 zlib
  fi
fi
PYTAR=$(ls python3.11_*.orig.tar.gz | head -1)
ZTAR=$(ls zlib_*.orig.tar.* | head -1)
PYSRC=$WORK/Python-$PYVER
ZSRC=$WORK/zlib
if [ ! -f "$PYSRC/configure" ]; then
  rm -rf "$PYSRC" && mkdir -p "$PYSRC"
  tar -xzf "$PYTAR" -C "$PYSRC" --strip-components=1
fi
if [ ! -f "$ZSRC/zlib.h" ]; then
  rm -rf "$ZSRC" && mkdir -p "$ZSRC"
  tar -xf "$ZTAR" -C "$ZSRC" --strip-components=1
fi

# --- sysroot: wasi-libc installs multiarch -----------------------------
SR=$WORK/sysroot
mkdir -p "$SR/include" "$SR/lib"
ln -sfn /usr/include/wasm32-wasi "$SR/include/wasm32-wasi"
ln -sfn /usr/lib/wasm32-wasi "$SR/lib/wasm32-wasi"
CC="clang-16 --target=wasm32-wasi --sysroot=$SR"

# --- zlib, static for wasm32 -------------------------------------------
if [ ! -f "$WORK/zlib-wasm/lib/libz.a" ]; then
  (cd "$ZSRC" && make distclean >/dev/null 2>&1 || true
   CC="$CC" AR=llvm-ar-16 RANLIB=llvm-ranlib-16 CFLAGS="-O2" CHOST=wasm32 \
     ./configure --static --prefix="$WORK/zlib-wasm" >/dev/null
   make -j"$JOBS" libz.a >/dev/null 2>&1
   make install >/dev/null)
fi

# --- CPython -------------------------------------------------------------
B=$WORK/build
# No -O in CFLAGS: configure's OPT (-DNDEBUG -fwrapv -O3) applies, and a
# CFLAGS level would override it. --enable-optimizations (PGO) cannot run a
# wasm32 binary during the build; wasm-opt -O3 on python.wasm measured no
# gain under wazero (docs/python.md, "Interpreter speed").
PY_CFLAGS="-Wno-error=int-conversion"
# A build configured with other flags (an earlier version of this script) is
# configured again.
CONFIG_ID="cflags=$PY_CFLAGS big-digits=30"
if [ -f "$B/Makefile" ] && [ "$(cat "$B/warren-config" 2>/dev/null)" != "$CONFIG_ID" ]; then
  rm -rf "$B"
fi
mkdir -p "$B"
cd "$B"
if [ ! -f Makefile ]; then
  CONFIG_SITE="$PYSRC/Tools/wasm/config.site-wasm32-wasi" \
  CC="$CC" CFLAGS="$PY_CFLAGS" \
  AR=llvm-ar-16 RANLIB=llvm-ranlib-16 LDSHARED=wasm-ld-16 \
  PKG_CONFIG_LIBDIR="$SR/lib/pkgconfig" \
  ZLIB_CFLAGS="-I$WORK/zlib-wasm/include" ZLIB_LIBS="-L$WORK/zlib-wasm/lib -lz" \
    "$PYSRC/configure" -C --host=wasm32-unknown-wasi --build="$("$PYSRC/config.guess")" \
      --with-build-python="$BUILD_PY" --disable-ipv6 --enable-big-digits=30 \
      --disable-test-modules >"$WORK/configure.log" 2>&1 ||
    { tail -30 "$WORK/configure.log"; exit 1; }
  echo "$CONFIG_ID" >warren-config
fi
# libpython (with the built-in modules) and the sysconfig data; python.wasm
# itself is linked below from warren_main.c instead of Programs/python.c.
make -j"$JOBS" libpython$PYVER.a pybuilddir.txt >"$WORK/make.log" 2>&1 ||
  { tail -40 "$WORK/make.log"; exit 1; }
# The link line of the Makefile's python.wasm, with warren's main and as a
# reactor (no _start; the host calls _initialize, then the exports).
cat >"$WORK/warren.mk" <<MK
warren.wasm: $SRCDIR/warren_main.c libpython$PYVER.a $WORK/warren.mk
	\$(CC) -c \$(PY_CORE_CFLAGS) -o warren_main.o $SRCDIR/warren_main.c
	\$(LINKCC) \$(PY_CORE_LDFLAGS) \$(LINKFORSHARED) -mexec-model=reactor -Wl,--export=__stack_pointer -o \$@ warren_main.o \$(BLDLIBRARY) \$(LIBS) \$(MODLIBS) \$(SYSLIBS)
MK
make -f Makefile -f "$WORK/warren.mk" warren.wasm >>"$WORK/make.log" 2>&1 ||
  { tail -20 "$WORK/make.log"; exit 1; }
llvm-strip-16 -o "$OUT/python.wasm.tmp" warren.wasm
mv "$OUT/python.wasm.tmp" "$OUT/python.wasm"

# --- the standard library, .pyc only -------------------------------------
"$BUILD_PY" "$SRCDIR/stdlib_zip.py" "$PYSRC/Lib" "$B/$(cat pybuilddir.txt)" "$OUT/stdlib.zip"
cat >"$OUT/VERSION" <<V
CPython $("$BUILD_PY" -c 'import sys; print(sys.version.split()[0])') for wasm32-wasi, from Debian's $PYTAR and $ZTAR
built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(clang-16 --version | head -1)
V
ls -l "$OUT"
