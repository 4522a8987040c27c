#!/bin/sh
# Regenerates the expected outputs of the Python corpus (python_test.go)
# with Debian's native python3.11, the version warren's python.wasm is.
set -e
cd "$(dirname "$0")"
for f in *.py; do
  n=${f%.py}
  if [ -f "$n.in" ]; then in=$n.in; else in=/dev/null; fi
  /usr/bin/python3.11 -I "$f" <"$in" >"$n.want" 2>/dev/null
done
