#!/usr/bin/env bash
# Load test: hello-world requests/s and latency of three servers, in the same run, on the same
# machine, with the same client, reported as ratios:
#   - wasmhost serve, serving tests/guests/plain-wasip2 (a plain wasi:http/proxy hello);
#   - wasmtime serve -S cli 48.0.8, default configuration, serving the same component;
#   - a native hyper hello server doing the same work (host/examples/native_hello.rs);
#   - wasmhost serve again with `--log off`, for the cost of default (info) logging.
# Client: wrk -t2 -c64, keep-alive, 8 s per run; 3 rounds, interleaved; the median is reported.
# Also samples each server's RSS idle and during the load (VmRSS from /proc).
# Not run in CI. Installs wrk (Debian) and wasmtime-cli 48.0.8 (crates.io, into
# target/bench-tools) when missing.
#
#   bash benches/load_test.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-8}
tools=$PWD/target/bench-tools

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[ -x "$tools/bin/wasmtime" ] || cargo install -q wasmtime-cli --version 48.0.8 --locked --root "$tools"
source benches/common.sh
build_host_and_guests --example native_hello
wasm=$(guest_wasm plain_wasip2)

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
write_app "$work/wasmhost.toml" load-test "/..." hello "$wasm"

declare -A addr pid
start() { # name, address, command...
    local name=$1 a=$2; shift 2
    "$@" >"$work/$name.log" 2>&1 &
    pid[$name]=$!; pids+=($!); addr[$name]=$a
    until curl -fs -o /dev/null "http://$a/hello"; do
        kill -0 "${pid[$name]}" 2>/dev/null || { cat "$work/$name.log"; exit 1; }
        sleep 0.05
    done
}
start native 127.0.0.1:3101 target/release/examples/native_hello 127.0.0.1:3101
start wasmtime 127.0.0.1:3102 "$tools/bin/wasmtime" serve -S cli --addr 127.0.0.1:3102 "$wasm"
start wasmhost 127.0.0.1:3103 target/release/wasmhost serve "$work/wasmhost.toml" \
    --listen 127.0.0.1:3103 --cache-dir "$work/cache"
start wasmhost-off 127.0.0.1:3104 target/release/wasmhost serve "$work/wasmhost.toml" \
    --listen 127.0.0.1:3104 --cache-dir "$work/cache" --log off
servers=(native wasmtime wasmhost wasmhost-off)

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }   # KiB
# wrk's latency lines look like "    99%    4.56ms"; print that value in ms.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

declare -A results idle load
for name in "${servers[@]}"; do idle[$name]=$(rss "${pid[$name]}"); done
for round in $(seq "$rounds"); do
    for name in "${servers[@]}"; do
        ( sleep $((seconds / 2)); rss "${pid[$name]}" >"$work/$name.rss" ) &
        sampler=$!
        out=$(wrk -t2 -c64 -d"${seconds}s" --latency "http://${addr[$name]}/hello")
        wait "$sampler"
        load[$name]=$(cat "$work/$name.rss")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
        p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
        errors=$(awk '/Non-2xx|Socket errors/' <<<"$out")
        [ -z "$errors" ] || echo "round $round $name: $errors" >&2
        results[$name]+="$rps $p50 $p99"$'\n'
        echo "round $round $name: $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v c="$2" 'NF {print $c}' <<<"${results[$1]}" | median; }
printf '\n%-12s %12s %10s %10s %12s %12s\n' server "requests/s" "p50 ms" "p99 ms" "RSS idle MiB" "RSS load MiB"
for name in "${servers[@]}"; do
    printf '%-12s %12.0f %10.3f %10.3f %12.1f %12.1f\n' "$name" "$(col "$name" 1)" "$(col "$name" 2)" \
        "$(col "$name" 3)" "$(awk -v v="${idle[$name]}" 'BEGIN{print v/1024}')" "$(awk -v v="${load[$name]}" 'BEGIN{print v/1024}')"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "wasmhost / wasmtime serve: $(ratio "$(col wasmhost 1)" "$(col wasmtime 1)")x requests/s"
echo "wasmhost / native hyper:   $(ratio "$(col wasmhost 1)" "$(col native 1)") of its requests/s"
echo "p99: wasmhost $(col wasmhost 3) ms, wasmtime serve $(col wasmtime 3) ms"
echo "wasmhost default logging / logging off: $(ratio "$(col wasmhost 1)" "$(col wasmhost-off 1)") of its requests/s"
