#!/usr/bin/env bash
# Start-to-first-response of `wasmhost serve`: the time from exec to the first 200 answer, for
# apps of 1, 10 and 50 components (distinct copies of apps/hello, one route each), with a cold
# compile cache (empty directory) and a warm one. Prints the median of N runs of each
# (default 5). Not run in CI; results go in BENCHMARKS.md.
#
#   bash benches/start_to_first_response.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p wasmhost
cargo build -q -p wasmhost-tests   # its build script builds every guest component
bin=$PWD/target/release/wasmhost
hello=$PWD/target/guests/wasm32-wasip2/release/hello.wasm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# An app of N components. Each is hello.wasm plus a custom section naming it, so every one has
# its own bytes and its own compile-cache entry, as N different components would.
make_app() {
    local n=$1 dir=$work/app$1
    mkdir -p "$dir"
    printf 'manifest_version = 1\n[application]\nname = "c%s"\n' "$n" >"$dir/wasmhost.toml"
    for i in $(seq "$n"); do
        python3 - "$hello" "$dir/c$i.wasm" "c$i" <<'PY'
import sys
src, dst, name = sys.argv[1:]
def leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
payload = leb(len(name)) + name.encode() + b"wasmhost-bench"
open(dst, "wb").write(open(src, "rb").read() + b"\x00" + leb(len(payload)) + payload)
PY
        printf '[[trigger.http]]\nroute = "/c%s/:name"\ncomponent = "c%s"\n[component.c%s]\nsource = "c%s.wasm"\n' \
            "$i" "$i" "$i" "$i" >>"$dir/wasmhost.toml"
    done
    echo "$dir"
}

# One run: start the server on a random port, poll until it answers 200, print elapsed µs.
one() {
    local dir=$1 port=$((20000 + RANDOM % 20000)) start end pid
    start=$(date +%s%N)
    "$bin" serve "$dir" --listen "127.0.0.1:$port" --cache-dir "$dir/cache" --log warn >/dev/null 2>&1 &
    pid=$!
    until curl -fs -o /dev/null "http://127.0.0.1:$port/c1/x"; do sleep 0.001; done
    end=$(date +%s%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo $(((end - start) / 1000))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-11s %16s %16s\n' components "cold cache ms" "warm cache ms"
for n in 1 10 50; do
    dir=$(make_app "$n")
    cold=$(for _ in $(seq "$runs"); do rm -rf "$dir/cache"; one "$dir"; done | median)
    warm=$(for _ in $(seq "$runs"); do one "$dir"; done | median)
    printf '%-11s %16.1f %16.1f\n' "$n" "$(awk -v v="$cold" 'BEGIN{print v/1000}')" "$(awk -v v="$warm" 'BEGIN{print v/1000}')"
done
