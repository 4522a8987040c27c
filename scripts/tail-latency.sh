#!/usr/bin/env bash
# Interleaved A/B of hello through POST /v1/run (docs/performance.md,
# "Tail latency"): every configuration's node starts at once (idle nodes
# cost nothing), then wrk drives each in turn, ROUNDS times, so that a
# noisy neighbour hits all configurations alike. Each configuration is
# "label|env|binary|node flags|command run once the node is up (PID is its
# pid)". With STAGES=1 and binaries built with -tags warren_stages it
# prints each node's per-stage timing (internal/stagetime) at the end.
#
#   scripts/tail-latency.sh 4 16 3 "base|X=1|/tmp/warren-old||" "new|X=1|bin/warren||"
set -u
rounds=$1 conns=$2 secs=$3
shift 3
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
body='{"code":{"mainModule":"main.js","modules":{"main.js":{"js":"export default { fetch() { return new Response(\"hi\") } }"}}}}'
lua=$(mktemp)
trap 'rm -f "$lua"' EXIT
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local errs = summary.errors.status + summary.errors.read + summary.errors.connect + summary.errors.write + summary.errors.timeout
  io.write(string.format("rate=%.0f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f errors=%d\n", summary.requests/(summary.duration/1e6),
    latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000, latency:percentile(99.9)/1000, latency.max/1000, errs))
end
LUA
labels=() ports=() pids=() dirs=() posts=()
for cfg in "$@"; do
	IFS='|' read -r label envs bin flags post <<<"$cfg"
	d=$(mktemp -d)
	port=$((20000 + RANDOM % 20000))
	# shellcheck disable=SC2086 # envs and flags are word lists
	env $envs "$bin" node --no-auth --data "$d" --listen 127.0.0.1:0 --api "127.0.0.1:$port" $flags >"$d/node.log" 2>&1 &
	pids+=($!) labels+=("$label") ports+=("$port") dirs+=("$d") posts+=("$post")
done
for j in "${!pids[@]}"; do
	for _ in $(seq 200); do curl -sf "http://127.0.0.1:${ports[$j]}/healthz" >/dev/null && break; sleep 0.1; done
	wrk -t1 -c"$conns" -d2s -s "$lua" "http://127.0.0.1:${ports[$j]}/v1/run" >/dev/null # warm up
	[ -n "${posts[$j]}" ] && ${posts[$j]//PID/${pids[$j]}}
done
for r in $(seq "$rounds"); do
	for j in "${!pids[@]}"; do
		[ -n "${STAGES:-}" ] && kill -USR1 "${pids[$j]}"
		res=$(wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:${ports[$j]}/v1/run" | grep rate=)
		echo "${labels[$j]} c$conns r$r $res load=$(cut -d' ' -f1 /proc/loadavg)"
	done
done
for j in "${!pids[@]}"; do
	[ -n "${STAGES:-}" ] && kill -USR2 "${pids[$j]}" && sleep 0.3
	kill -INT "${pids[$j]}"
done
wait
for j in "${!pids[@]}"; do
	grep '^STAGE' "${dirs[$j]}/node.log" | sed "s/^/${labels[$j]} /"
	rm -rf "${dirs[$j]}"
done
