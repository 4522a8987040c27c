#!/usr/bin/env bash
# make run: run the example Workers through the embedded runtime (each call
# in a fresh isolate inside a sandbox worker process) and say what to try next.
set -u
bin=${1:-bin/warren}
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; echo "(exit status $?)"; }

step "$bin" run examples/hello.ts
step "$bin" run --path /greet/Ada examples/router/main.ts
step "$bin" run --json --path /hash -d 'warren' examples/router/main.ts
step "$bin" run --path /fail examples/router/main.ts
step "$bin" run --cpu-ms 50 examples/spin.js
step "$bin" run --memory-mb 64 examples/membomb.js

cat <<EOT

Each call above ran in a fresh isolate in a sandbox worker process; the
hostile ones (spin.js, membomb.js) were stopped at their limits.
Next:
  $bin run --json examples/hello.ts        # the whole result: logs, telemetry
  $bin run --help                          # methods, headers, bodies, limits, --allow-net
  make test                                # the test suite
  make bench                               # benchmarks -> bench/results.json
EOT
