#!/usr/bin/env bash
# Isolation under load: what an infinite-loop guest costs the other requests.
#   - wasmhost serve (release) serves tests/guests/hostile on /h/...;
#   - wrk -t1 -c16 --latency on GET /h/ok (a well-behaved request) for SECONDS, alone;
#   - the same while a second wrk keeps 4 requests in flight to /h/loop, each spinning until
#     its CPU deadline (1 s) and answered 504;
#   - RSS (VmRSS) before and after.
# Prints requests/s, p50 and p99 of /h/ok in both runs, and their ratio.
# Not run in CI. Installs wrk (Debian) when missing.
#
#   bash benches/isolation_load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
source benches/common.sh
build_host_and_guests
wasm=$(guest_wasm hostile)

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
write_app "$work/wasmhost.toml" isolation "/h/..." hostile "$wasm"
port=3061
RUST_LIB_BACKTRACE=0 target/release/wasmhost serve "$work" --listen 127.0.0.1:$port \
    --cache-dir "$work/cache" --log warn >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^Serving' "$work/log" && break; sleep 0.1; done
url=http://127.0.0.1:$port
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

wrk -t1 -c16 -d2s "$url/h/ok" >/dev/null   # warm up
rss_before=$(rss)
wrk -t1 -c16 -d"${seconds}s" --latency "$url/h/ok" >"$work/alone"
wrk -t1 -c4 -d"$((seconds + 2))s" --timeout 5s "$url/h/loop" >"$work/loop" &
loop=$!
sleep 1
wrk -t1 -c16 -d"${seconds}s" --latency "$url/h/ok" >"$work/busy"
wait "$loop"
sleep 1
rss_after=$(rss)

field() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
echo "| run | /h/ok requests/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| alone | $(rate "$work/alone") | $(field "$work/alone" 50%) | $(field "$work/alone" 99%) |"
echo "| with 4 looping guests | $(rate "$work/busy") | $(field "$work/busy" 50%) | $(field "$work/busy" 99%) |"
echo
echo "looping requests: $(awk '/requests in/ {print $1}' "$work/loop") answered; non-2xx: $(awk '/Non-2xx/ {print $5}' "$work/loop")"
echo "non-2xx on /h/ok: alone $(awk '/Non-2xx/ {print $5}' "$work/alone")0, busy $(awk '/Non-2xx/ {print $5}' "$work/busy")0 (a trailing 0 means none)"
echo "RSS: ${rss_before} KiB before, ${rss_after} KiB after"
