#!/usr/bin/env bash
# Memory: wasmhost's RSS idle and with N instances alive at once, and what one instance costs
# beyond its guest's own linear memory.
#
# Serves tests/guests/hostile (release build of wasmhost); N clients each send
# `GET /h/sleep/4000`, so N instances stay alive, blocked in the host, for 4 s; RSS is read
# 2 s in. /proc/<pid>/smaps splits it: the pooling allocator's linear-memory region (the
# largest mapping by far: one slot of address space per memory) against everything else.
# Per instance = (RSS at N - RSS idle) / N, for both parts. Not run in CI.
#
#   bash benches/memory.sh [N...]     (default: 64 256)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("${@:-64}")
[ $# -gt 0 ] || counts=(64 256)
source benches/common.sh
build_host_and_guests
wasm=$(guest_wasm hostile)

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
write_app "$work/wasmhost.toml" memory "/h/..." hostile "$wasm"
RUST_LIB_BACKTRACE=0 target/release/wasmhost serve "$work/wasmhost.toml" --listen 127.0.0.1:3105 \
    --cache-dir "$work/cache" --max-concurrent-requests 1000 >"$work/log" 2>&1 &
server=$!
until curl -fs -o /dev/null http://127.0.0.1:3105/h/ok; do sleep 0.05; done
for _ in $(seq 20); do curl -fs -o /dev/null http://127.0.0.1:3105/h/ok; done

# Prints "total_kib pool_kib": all of VmRSS, and the Rss of the pooling allocator's memory
# region: the largest run of adjacent mappings (mprotect splits the one reservation into a
# mapping per accessible slot and the guard regions around it, and copy-on-write maps each
# component's memory image into its slots from a memfd).
measure() {
    python3 - "$server" <<'PY'
import sys
pid = sys.argv[1]
maps = []  # [lo, hi, rss_kib]
for line in open(f"/proc/{pid}/smaps"):
    head = line.split()
    if "-" in head[0] and ":" not in head[0]:
        lo, hi = (int(x, 16) for x in head[0].split("-"))
        maps.append([lo, hi, 0])
    elif head[0] == "Rss:":
        maps[-1][2] = int(head[1])
total = sum(m[2] for m in maps)
runs, run = [], None
for lo, hi, rss in maps:
    if run and run[1] == lo:
        run[1], run[2] = hi, run[2] + rss
    else:
        run = [lo, hi, rss]
        runs.append(run)
biggest = max(runs, key=lambda r: r[1] - r[0])
print(total, biggest[2])
PY
}

read -r idle_total idle_pool <<<"$(measure)"
printf '%-10s %12s %16s %18s %22s\n' instances "RSS MiB" "linear mem MiB" "KiB/instance" "KiB/instance, no mem"
printf '%-10s %12.1f %16.1f %18s %22s\n' 0 "$(bc -l <<<"$idle_total/1024")" "$(bc -l <<<"$idle_pool/1024")" - -
for n in "${counts[@]}"; do
    for _ in $(seq "$n"); do curl -fs -o /dev/null http://127.0.0.1:3105/h/sleep/4000 & done
    sleep 2
    read -r total pool <<<"$(measure)"
    wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
    printf '%-10s %12.1f %16.1f %18.1f %22.1f\n' "$n" "$(bc -l <<<"$total/1024")" "$(bc -l <<<"$pool/1024")" \
        "$(bc -l <<<"($total-$idle_total)/$n")" "$(bc -l <<<"(($total-$pool)-($idle_total-$idle_pool))/$n")"
    sleep 1
done
