#!/usr/bin/env bash
# Workflow benchmark (issue 19's Performance section), on the release binary and the embedded
# sled store, driven through tests/guests/wf-client (`POST /start/:workflow`, `GET /status/:id`):
#
# 1. Chain throughput and latency: INSTANCES instances of `wf-chain` (activities a → b → c of
#    `wf-activities`, input `{}`: no count_url) started by curl with STARTERS transfers in
#    flight (`?id=cN`, so the ids are known); the script waits until the
#    `wasmhost_workflow_instances_total{event="completed"}` counter of the admin listener says
#    all have completed, then reads every instance's status. From the server-side times:
#    workflows/s = INSTANCES ÷ (last `lastUpdatedTime` − first `createdTime`), activity
#    steps/s = 3 × that, and p50/p99 of (`lastUpdatedTime` − `createdTime`) per instance (ms).
# 2. Turn cost against history length: `wf-fanout` with n = 5, 50, 500 (`activity: "echo"`),
#    RUNS instances of each, one at a time, on a server logging
#    `wasmhost::trigger::workflow=debug`. Each instance's last turn replays 2n + 1 events
#    (started, n scheduled, n completed); its `turn replayed ... events=N us=T` line gives T (read
#    the record and history, replay in a fresh instance; the commit is not in T). Reports the
#    median and p99 of T over the last turns, per n. With `perf` installed (and permitted), the
#    same phase also counts the server's sync calls and their time (`perf trace -s`; sled's
#    flush is a `sync_file_range` of its log on Linux): the cost of the commits, which T
#    leaves out.
#
# Not run in CI.
#
#   bash benches/workflow_load.sh [INSTANCES] [STARTERS] [RUNS]     (defaults: 2000 4 20)
set -euo pipefail
cd "$(dirname "$0")/.."
instances=${1:-2000}
starters=${2:-4}
runs=${3:-20}

source benches/common.sh
build_host_and_guests
bin=$PWD/target/release/wasmhost

work=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The app: wf-client on `/...` (granted both workflows), `chain` and `fanout`, and the
# activities they call, all in `wf-activities`.
cat >"$work/wasmhost.toml" <<TOML
manifest_version = 1
[application]
name = "workflow-bench"

[[trigger.http]]
route = "/..."
component = "client"

[[trigger.workflow]]
name = "chain"
component = "chain"
activities = ["a", "b", "c"]

[[trigger.workflow]]
name = "fanout"
component = "fanout"
activities = ["echo"]

$(for a in a b c echo; do printf '[[trigger.activity]]\nname = "%s"\ncomponent = "activities"\n\n' "$a"; done)
[component.client]
source = "$(guest_wasm wf_client)"
workflows = ["chain", "fanout"]

[component.chain]
source = "$(guest_wasm wf_chain)"

[component.fanout]
source = "$(guest_wasm wf_fanout)"

[component.activities]
source = "$(guest_wasm wf_activities)"
TOML

addr=127.0.0.1:3201
admin=127.0.0.1:3202

# serve [ENV=VALUE...]: a server on a fresh workflow store (the compile cache is kept).
serve() {
    [ -z "$pid" ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work/.wasmhost/workflows"
    env "$@" "$bin" serve "$work/wasmhost.toml" --listen "$addr" --admin-listen "$admin" \
        --cache-dir "$work/cache" --no-access-log >"$work/server.log" 2>&1 &
    pid=$!
    until curl -fs -o /dev/null "http://$admin/.well-known/wasmhost/ready"; do
        kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
        sleep 0.05
    done
}

# ended WORKFLOW: instances of WORKFLOW completed or failed so far (admin metrics).
ended() {
    curl -fs "http://$admin/metrics" | awk -v w="workflow=\"$1\"" '
        /^wasmhost_workflow_instances_total/ && index($0, w) && /event="(completed|failed)"/ { n += $NF }
        END { print n + 0 }'
}

# wait_ended WORKFLOW N: until N instances of WORKFLOW have ended (at most 10 min).
wait_ended() {
    local deadline=$((SECONDS + 600))
    until [ "$(ended "$1")" -ge "$2" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "$1: $(ended "$1") of $2 ended after 10 min" >&2; exit 1; }
        sleep 0.05
    done
}

# quantiles: "median p99 count" of the numbers on stdin (nearest rank).
quantiles() {
    sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "- - 0"; exit }
        p50 = a[int((NR + 1) / 2)]; r = int(NR * 0.99 + 0.999); if (r < 1) r = 1
        print p50, a[r], NR }'
}

# 1. The chain.
serve
echo "chain: starting $instances instances, $starters at a time" >&2
codes=$(curl -s --no-progress-meter -Z --parallel-max "$starters" -X POST -H 'content-type: application/json' -d '{}' \
    -o /dev/null -w '%{http_code}\n' "http://$addr/start/chain?id=c[1-$instances]" | sort | uniq -c)
grep -qx " *$instances 202" <<<"$codes" || { echo "start answers: $codes" >&2; exit 1; }
wait_ended chain "$instances"
mkdir "$work/status"
curl -s --no-progress-meter -Z --parallel-max 4 -o "$work/status/#1.json" "http://$addr/status/c[1-$instances]"
# RFC 3339 with milliseconds (`2026-12-02T14:18:00.123Z`) to ms since the epoch.
jq -r 'def ms: (.[0:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber);
       [.runtimeStatus, (.createdTime | ms), (.lastUpdatedTime | ms)] | @tsv' \
    "$work"/status/*.json >"$work/chain.tsv"
not_completed=$(awk '$1 != "Completed"' "$work/chain.tsv" | wc -l)
read -r first last < <(awk 'NR == 1 { f = $2; l = $3 } { if ($2 < f) f = $2; if ($3 > l) l = $3 } END { print f, l }' "$work/chain.tsv")
read -r c50 c99 _ < <(awk '{ print $3 - $2 }' "$work/chain.tsv" | quantiles)
span_ms=$((last - first))
chain_rate=$(awk -v n="$instances" -v ms="$span_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
steps_rate=$(awk -v n="$instances" -v ms="$span_ms" 'BEGIN { printf "%.0f", 3 * n * 1000 / ms }')

# 2. Turn cost after ~10, ~100, ~1 000 events.
serve RUST_LOG=wasmhost::trigger::workflow=debug
tracer=
if command -v perf >/dev/null && perf trace -s -e fsync -o /dev/null -- true 2>/dev/null; then
    perf trace -s -e fsync,fdatasync,sync_file_range -p "$pid" -o "$work/fsync.txt" &
    tracer=$!
    sleep 0.5
fi
started=0
for n in 5 50 500; do
    echo "fanout n=$n: $runs instances, one at a time" >&2
    for run in $(seq "$runs"); do
        curl -fs -o /dev/null -X POST -H 'content-type: application/json' \
            -d "{\"n\": $n, \"activity\": \"echo\"}" "http://$addr/start/fanout?id=f$n-$run"
        started=$((started + 1))
        wait_ended fanout "$started"
    done
done
turns=$(grep -c 'turn replayed' "$work/server.log")
if [ -n "$tracer" ]; then
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
fi

echo
echo "## Chain (wf-chain, 3 activities, sled): $instances instances, $starters starters"
echo "instances not Completed: $not_completed"
echo "first created → last updated: $span_ms ms"
echo "workflows/s: $chain_rate"
echo "activity steps/s: $steps_rate (target ≥ 1000)"
echo "start → completion: p50 $c50 ms, p99 $c99 ms"
echo
echo "## Turn cost (wf-fanout, echo; last turn of each instance; $runs instances per n; $turns turns in all)"
printf '%-6s %-8s %10s %10s %6s\n' n events "median µs" "p99 µs" turns
for n in 5 50 500; do
    events=$((2 * n + 1))
    read -r t50 t99 count < <(sed -n "s/.*turn replayed.*events=$events us=\([0-9]*\).*/\1/p" "$work/server.log" | quantiles)
    printf '%-6s %-8s %10s %10s %6s\n' "$n" "$events" "$t50" "$t99" "$count"
done
if [ -n "$tracer" ]; then
    echo
    echo "## Sync calls during the fan-out phase, every thread (perf trace -s)"
    # perf trace -s prints a table per thread: syscall, calls, errors, total ms, min, avg, max.
    awk '$1 ~ /^(fsync|fdatasync|sync_file_range)$/ { n[$1] += $2; ms[$1] += $4 }
        END { for (c in n) printf "%-16s %8d calls %10.1f ms in all %8.3f ms each\n", c, n[c], ms[c], ms[c] / n[c] }' \
        "$work/fsync.txt"
fi
