#!/usr/bin/env bash
# ferry over an emulated WAN (shared/tools/wan): two network namespaces joined
# by a forwarder with delay, loss and a rate limit. Needs root, ip, /dev/net/tun.
#
#   bash bench/wan.sh                      # 50 ms RTT, 100 Mbit/s, no loss
#   DELAY_MS=25 RATE_MBIT=100 LOSS=0.01 bash bench/wan.sh
#
# Cases: 200 x 32 KiB files down (one glob), one 64 MiB file down. Prints wall
# time and the share of the link's own time (bytes / rate) that ferry reached.
# COMPARE=1 also runs sftp for the same cases through the same link (needs
# /usr/sbin/sshd; sftp takes minutes for the small files).
set -euo pipefail
cd "$(dirname "$0")/.."

WAN=${WAN:-$(cd .. && pwd)/shared/tools/wan}
DELAY_MS=${DELAY_MS:-25}
RATE_MBIT=${RATE_MBIT:-100}
LOSS=${LOSS:-0}
RUNS=${RUNS:-3}
NAME=ferrybench
DIR=${BENCH_DIR:-/tmp/ferry-wan}
SMALL_COUNT=${SMALL_COUNT:-200}
BIG_MIB=${BIG_MIB:-64}

[[ -x $WAN ]] || { echo "wan tool not found at $WAN (set WAN=)" >&2; exit 1; }
if [[ -z ${FERRY_BIN:-} ]]; then
    cargo build --release --locked >&2
    FERRY_BIN=$PWD/target/release/ferry
fi

mkdir -p "$DIR/root/small" "$DIR/certs"
if [[ ! -f $DIR/root/big.bin ]] || (( $(stat -c %s "$DIR/root/big.bin") != BIG_MIB << 20 )); then
    head -c $((BIG_MIB << 20)) /dev/urandom > "$DIR/root/big.bin"
fi
if (( $(find "$DIR/root/small" -type f | wc -l) != SMALL_COUNT )); then
    rm -rf "$DIR/root/small"; mkdir -p "$DIR/root/small"
    for i in $(seq 1 "$SMALL_COUNT"); do head -c 32768 /dev/urandom > "$DIR/root/small/f$i.bin"; done
fi

SERVER_PID=
SSHD_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
    "$WAN" down --name "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The server admits only clients it knows: allow this client.
FERRY_HOME=$DIR/home "$FERRY_BIN" revoke bench --certs "$DIR/certs" -q > /dev/null 2>&1 || true
FERRY_HOME=$DIR/home "$FERRY_BIN" allow "$(FERRY_HOME=$DIR/home "$FERRY_BIN" id -q)" \
    --name bench --certs "$DIR/certs" -q

"$WAN" up --name "$NAME" --delay-ms "$DELAY_MS" --rate-mbit "$RATE_MBIT" --loss "$LOSS" --max-seconds 1800 >&2
"$WAN" exec --name "$NAME" b -- "$FERRY_BIN" serve "$DIR/root" --listen 10.213.0.2:4433 --certs "$DIR/certs" \
    > "$DIR/server.out" 2> "$DIR/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$DIR/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$DIR/server.out" || { cat "$DIR/server.err" >&2; exit 1; }

export FERRY_HOME=$DIR/home
ferry_get() { # out args...
    local out=$1; shift
    "$WAN" exec --name "$NAME" a -- "$FERRY_BIN" get 10.213.0.2:4433 "$@" -o "$out" --accept-new -q
}
sftp_get() { # out remote-path
    printf 'get %s %s\n' "$2" "$1" > "$DIR/sftp.batch"
    "$WAN" exec --name "$NAME" a -- sftp -q -b "$DIR/sftp.batch" -P 2222 "${SSH_OPTS[@]}" root@10.213.0.2 > /dev/null
}
run_case() { # label bytes tool args...
    local label=$1 bytes=$2 tool=$3; shift 3
    local times=()
    for r in $(seq 1 "$RUNS"); do
        local out="$DIR/out/${label// /_}-$r"
        mkdir -p "$out"
        local t0 t1
        t0=$(date +%s.%N)
        "$tool" "$out" "$@"
        t1=$(date +%s.%N)
        times+=("$(python3 -c "print(f'{$t1 - $t0:.2f}')")")
    done
    rm -rf "$DIR/out"
    local med
    med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
    python3 - "$label" "$bytes" "$med" "${times[*]}" <<PY
import sys
label, nbytes, med, raw = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
link = nbytes * 8 / ($RATE_MBIT * 1e6)
print(f"{label:<16} {nbytes/2**20:8.1f} MiB  median {med:6.2f} s  link time {link:5.2f} s  "
      f"{link/med*100:5.1f} % of link  goodput {nbytes*8/med/1e6:6.1f} Mbit/s  runs: {raw}")
PY
}

echo "ferry over wan: RTT $((2 * DELAY_MS)) ms, ${RATE_MBIT} Mbit/s, loss $LOSS, $RUNS runs"
run_case "small ${SMALL_COUNT}x32K" $((SMALL_COUNT * 32768)) ferry_get '/small/*'
run_case "big ${BIG_MIB}M" $((BIG_MIB << 20)) ferry_get /big.bin
if [[ ${COMPARE:-0} == 1 ]]; then
    # shellcheck source=bench/sshd.sh
    source bench/sshd.sh
    start_sshd "$DIR/ssh" 10.213.0.2 2222 "$WAN" exec --name "$NAME" b --
    sleep 1
    run_case "sftp small" $((SMALL_COUNT * 32768)) sftp_get "$DIR/root/small/*"
    run_case "sftp big" $((BIG_MIB << 20)) sftp_get "$DIR/root/big.bin"
fi
"$WAN" status --name "$NAME" | grep -iE "lost|drop|late" || true
