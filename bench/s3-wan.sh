#!/usr/bin/env bash
# A bucket far away: SeaweedFS behind an emulated WAN link (shared/tools/wan)
# and a ferry gateway on the near side, where its clients are. Measures
# `ferry get` of one large object through that gateway; with FERRY_BIN_B,
# a second binary's gateway on the same bucket, runs interleaved (A/B), so
# the machine's load hits both alike. See bench/README.md.
#
# Needs root (network namespaces), python3, and the wan tool (WAN=...).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

WAN=${WAN:-$REPO_DIR/../shared/tools/wan}
BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench-s3wan}
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
DELAY_MS=${DELAY_MS:-10}          # one way: RTT 2 x DELAY_MS
LOSS=${LOSS:-0.001}
RATE_MBIT=${RATE_MBIT:-0}         # 0 = unlimited
STORE_CC=${STORE_CC:-reno}        # the store's TCP congestion control
CMD_TIMEOUT=${CMD_TIMEOUT:-600}
NAME=ferrys3

die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }

[[ -x $WAN ]] || die "no wan tool at $WAN (set WAN=)"
if [[ -n ${FERRY_BIN:-} ]]; then
    FERRY=$FERRY_BIN
else
    log "building: cargo build --release --locked"
    (cd "$REPO_DIR" && cargo build --release --locked) || die "cargo build failed"
    FERRY=$REPO_DIR/target/release/ferry
fi
BINS=("$FERRY")
[[ -z ${FERRY_BIN_B:-} ]] || BINS+=("$FERRY_BIN_B")

SW=$BENCH_DIR/seaweedfs
WORK=$BENCH_DIR/work
rm -rf "$WORK" && mkdir -p "$WORK/home" "$WORK/out"
export FERRY_HOME=$WORK/home

PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    "$REPO_DIR/scripts/seaweedfs.sh" stop "$SW" || true
    "$WAN" down --name "$NAME" > /dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT

data=$BENCH_DIR/data-$SIZE_MIB.bin
[[ $(stat -c %s "$data" 2>/dev/null || echo 0) == $(( SIZE_MIB << 20 )) ]] ||
    head -c $(( SIZE_MIB << 20 )) /dev/urandom > "$data"

# Install SeaweedFS while this namespace still reaches PyPI; start it in
# side b of the link, on that side's loopback.
"$REPO_DIR/scripts/seaweedfs.sh" start "$SW" && "$REPO_DIR/scripts/seaweedfs.sh" stop "$SW"
"$WAN" up --name "$NAME" --delay-ms "$DELAY_MS" --loss "$LOSS" --rate-mbit "$RATE_MBIT" \
    --max-seconds 3600 > /dev/null
ip netns exec "$NAME-b" sysctl -qw net.ipv4.tcp_congestion_control="$STORE_CC" ||
    die "cannot use $STORE_CC in the namespace (see net.ipv4.tcp_allowed_congestion_control)"
"$WAN" exec --name "$NAME" b -- "$REPO_DIR/scripts/seaweedfs.sh" start "$SW"
# shellcheck source=/dev/null
. "$SW/env"
PORT=${FERRY_TEST_S3_ENDPOINT##*:}
# weed listens on b's loopback: relay b's link address to it.
ip netns exec "$NAME-b" python3 - "$PORT" <<'PY' &
import asyncio, sys
port = int(sys.argv[1])
async def pipe(r, w):
    try:
        while data := await r.read(1 << 18):
            w.write(data)
            await w.drain()
    finally:
        w.close()
async def relay(r, w):
    tr, tw = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.gather(pipe(r, tw), pipe(tr, w), return_exceptions=True)
async def main():
    await asyncio.start_server(relay, "10.213.0.2", port)
    await asyncio.sleep(3600)
asyncio.run(main())
PY
PIDS+=($!)
ENDPOINT=http://10.213.0.2:$PORT

near() { ip netns exec "$NAME-a" "$@"; }
ID=$(near "$FERRY" id -q)
"$FERRY" allow "$ID" --name bench --certs "$WORK/certs" -q
ADDRS=()
for i in "${!BINS[@]}"; do
    logf=$WORK/gateway-$i.log
    near env AWS_ACCESS_KEY_ID="$FERRY_TEST_S3_ACCESS_KEY" \
        AWS_SECRET_ACCESS_KEY="$FERRY_TEST_S3_SECRET_KEY" \
        "${BINS[$i]}" serve "s3://$FERRY_TEST_S3_BUCKET/wan" --s3-endpoint "$ENDPOINT" \
        --listen 127.0.0.1:0 --certs "$WORK/certs" > "$logf" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do
        [[ $(cat "$logf") =~ listening\ on\ [^\ ]*:([0-9]+) ]] && break
        sleep 0.1
    done
    [[ $(cat "$logf") =~ listening\ on\ [^\ ]*:([0-9]+) ]] || { cat "$logf" >&2; die "gateway $i did not start"; }
    ADDRS+=("127.0.0.1:${BASH_REMATCH[1]}")
done
ferry() { near timeout "$CMD_TIMEOUT" "$FERRY" "$@" --accept-new -q; }

log "seeding $SIZE_MIB MiB through the link (not timed)"
ferry put "${ADDRS[0]}" "$data" --to /
log "link: RTT $(( 2 * DELAY_MS )) ms, loss $LOSS, rate ${RATE_MBIT:-0} Mbit/s (0 = unlimited), store's TCP $STORE_CC"
declare -A TIMES
for run in $(seq "$RUNS"); do
    for i in "${!BINS[@]}"; do
        rm -f "$WORK/out/"*
        t0=$(date +%s.%N)
        ferry get "${ADDRS[$i]}" "/$(basename "$data")" -o "$WORK/out/"
        t1=$(date +%s.%N)
        cmp -s "$WORK/out/$(basename "$data")" "$data" || die "the download differs from the source"
        t=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$t1")
        log "${BINS[$i]} run $run: $t s"
        TIMES[$i]="${TIMES[$i]:-} $t"
    done
done
printf '\n| %s MiB down, RTT %s ms, loss %s, store TCP %s | median | MB/s | runs (s) |\n| --- | --- | --- | --- |\n' \
    "$SIZE_MIB" "$(( 2 * DELAY_MS ))" "$LOSS" "$STORE_CC"
for i in "${!BINS[@]}"; do
    python3 - "${BINS[$i]}" "$SIZE_MIB" ${TIMES[$i]} <<'PY'
import statistics, sys
name, mib, times = sys.argv[1], int(sys.argv[2]), [float(t) for t in sys.argv[3:]]
m = statistics.median(times)
print(f"| {name} | {m:.2f} s | {(mib << 20) / m / 1e6:.1f} | {' '.join(sys.argv[3:])} |")
PY
done
