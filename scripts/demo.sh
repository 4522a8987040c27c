#!/usr/bin/env bash
# make run: start a 3-node mesh on this machine, run the example Workers
# against different nodes (one spills to peers because its node is full),
# and leave the mesh running with the next commands to try.
set -u
bin=${1:-bin/warren}
dir=${TESTNET_DIR:-.testnet}
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; echo "(exit status $?)"; }
shown() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; echo; }

"$bin" testnet down --dir "$dir" >/dev/null 2>&1
bold "Starting a 3-node mesh (2 slots each) in $dir ..."
"$bin" testnet up -n 3 --dir "$dir" -- --slots 2 || exit 1
# Client commands mint their API tokens from the mesh secret ($WARREN_SECRET).
export WARREN_SECRET="$dir/secret"
n1=$("$bin" testnet url --dir "$dir" n1); n2=$("$bin" testnet url --dir "$dir" n2); n3=$("$bin" testnet url --dir "$dir" n3)

# The dashboard's URL carries an admin token in its fragment (#token=...),
# which never reaches a server: the page keeps it for the tab and removes it
# from the address bar.
dash="$n1/#token=$("$bin" token create --admin --name dashboard --ttl 24h)"
bold "The dashboard (members, RTTs, live invocations, Raft groups, a snippet runner): open"
echo "  $dash"
echo "  now, to watch the invocations below land on different nodes."

step "$bin" members --node "$n1"
step "$bin" run --node "$n1" examples/hello.ts
step "$bin" run --node "$n2" --path /greet/Ada examples/router/main.ts
step "$bin" run --node "$n3" --path /fail examples/router/main.ts
step "$bin" run --node "$n3" --cpu-ms 50 examples/spin.js
bold "Python, in a fresh CPython-on-WASI instance per call (started from a memory snapshot):"
step "$bin" run --node "$n2" -d '3 1 4 1 5 9 2 6' examples/python/stats.py

bold "Six 800 ms jobs sent to n1 at once by one client: a node lets one client hold 1 of its 2 slots"
bold "(the other stays free for other clients), so the jobs spread over the mesh and queue for room"
for i in 1 2 3 4 5 6; do
  "$bin" run --node "$n1" --path '/?ms=800' examples/busy.js 2>&1 | grep '^\[warren\]' &
done
wait

bold "KV replicated across the mesh: written through n1, read at once through n3"
# A new mesh places its Raft groups a few seconds after it forms.
for _ in $(seq 1 60); do "$bin" kv put --node "$n1" greetings hello 'hi there' 2>/dev/null && break; sleep 0.5; done
printf '\n\033[1m$ %s\033[0m\n' "$bin kv get --node $n3 greetings hello"
"$bin" kv get --node "$n3" greetings hello; echo
bold "A Worker counting its visits in KV, called through each node in turn"
step "$bin" run --node "$n1" --kv VISITS=visits examples/counter.js
step "$bin" run --node "$n2" --kv VISITS=visits examples/counter.js
step "$bin" run --node "$n3" --kv VISITS=visits examples/counter.js
bold "Deployed by name through n1, served as plain HTTP by n2 (no token: it is the Worker's public face)"
step "$bin" deploy --node "$n1" --kv VISITS=visits counter examples/counter.js
printf '\n\033[1m$ %s\033[0m\n' "curl $n2/w/counter/"
curl -s "$n2/w/counter/"
bold "A chat room as a Durable Object: one live object in the mesh, its messages replicated"
step "$bin" deploy --node "$n1" --do ROOMS=Room chat examples/chat.js
shown curl -s -d '{"from":"ada","text":"hello from n1"}' "$n1/w/chat/lobby"
shown curl -s -d '{"from":"bob","text":"hi from n2"}' "$n2/w/chat/lobby"
shown curl -s "$n3/w/chat/lobby?since=0"
bold "Notes per user as Durable Objects with SQL (ctx.storage.sql): a SQLite database each, replicated"
step "$bin" deploy --node "$n1" --do NOTES=Notes notes examples/notes.js
shown curl -s -d 'buy milk' "$n1/w/notes/ada"
shown curl -s -d 'call bob' "$n2/w/notes/ada"
shown curl -s "$n3/w/notes/ada?q=milk"
bold "A streamed answer (server-sent events): each word reaches curl as the Worker writes it"
step "$bin" deploy --node "$n1" stream examples/stream.js
shown curl -sN "$n3/w/stream/?q=warren"
bold "Where the KV store's Raft groups live (first lines):"
"$bin" groups --node "$n2" | head -8

bold "The embedded runtime, no mesh involved:"
step "$bin" run examples/hello.ts
bold "with a KV namespace kept on disk (.warren/state/kv): the count goes on across runs"
step "$bin" run --kv VISITS=visits examples/counter.js
step "$bin" run --kv VISITS=visits examples/counter.js

cat <<EOT

The mesh is still running ($dir/testnet.json). Its API needs a token: the
commands below mint one from the mesh secret, so first
  export WARREN_SECRET=$dir/secret
Next:
  open the dashboard (any node serves one at /; this URL carries a 24 h admin token):
    $dash
  $bin members --node $n1
  $bin run --node $n2 --json examples/router/main.ts
  $bin kv list --node $n2 greetings
  curl $n3/w/counter/                                            # the deployed Worker, through any node
  curl "$n2/w/chat/lobby?since=1"                                 # the chat room's messages after the first
  curl -d 'water plants' "$n3/w/notes/bob"; curl "$n1/w/notes/bob" # notes in a Durable Object's SQLite database
  curl -N "$n2/w/stream/?q=agents"                                # a streamed answer, word by word
  $bin run examples/stream.js                                    # the same, printed as it comes
  $bin run --var GREETING=Hello examples/python/worker.py         # a Python Worker (docs/python.md)
  $bin testnet stop --dir $dir n1; curl "$n2/w/chat/lobby?since=0" # the room outlives any one node
  $bin groups --node $n1                                         # replicas, leaders, terms, lag
  $bin tail --node $n1                                           # every invocation of the mesh, live (Ctrl-C ends it)
  MCP: point an agent's client at $n1/mcp (streamable HTTP) with the header
       "Authorization: Bearer \$($bin token create --kv notes:rw --name agent)"   # tools run_code, members, kv_*
  $bin testnet stop --dir $dir n3 && $bin members --node $n1   # watch n3 go dead; KV keeps serving:
  $bin run --node $n1 --kv VISITS=visits examples/counter.js
  $bin testnet start --dir $dir n3
  $bin testnet pause --dir $dir n2   # SIGSTOP: a wedged host; then: testnet resume --dir $dir n2
  $bin token create --kv visits:r --name reader   # a token that may only read the visits namespace
  make stop                                                      # end the mesh
EOT
