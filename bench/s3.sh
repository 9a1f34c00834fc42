#!/usr/bin/env bash
# ferry serving an S3 bucket (SeaweedFS on 127.0.0.1, started by
# scripts/seaweedfs.sh) beside ferry serving a local directory and beside
# rclone against the same bucket: one big file down and up, many small
# files down. Prints a table of medians. See bench/README.md.
#
# Needs bash, coreutils, python3; rclone for its column (apt-get install
# rclone), which is left out when rclone is missing.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench-s3}
RUNS=${RUNS:-3}
BIG_MIB=${BIG_MIB:-1024}
SMALL_COUNT=${SMALL_COUNT:-1000}
SMALL_KIB=${SMALL_KIB:-32}
JOBS=${JOBS:-32}                  # files in flight: ferry -j, rclone --transfers
CMD_TIMEOUT=${CMD_TIMEOUT:-900}

die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }

if [[ -n ${FERRY_BIN:-} ]]; then
    FERRY=$FERRY_BIN
else
    log "building: cargo build --release --locked"
    (cd "$REPO_DIR" && cargo build --release --locked) || die "cargo build failed"
    FERRY=$REPO_DIR/target/release/ferry
fi
RCLONE=$(command -v rclone || true)
[[ -n $RCLONE ]] || log "rclone not found: its column is left out (apt-get install rclone)"

DATA=$BENCH_DIR/data
ROOT=$BENCH_DIR/root
OUT=$BENCH_DIR/out
WORK=$BENCH_DIR/work
SW=$BENCH_DIR/seaweedfs
rm -rf "$ROOT" "$OUT" "$WORK"
mkdir -p "$DATA/small" "$ROOT" "$OUT" "$WORK/home"
export FERRY_HOME=$WORK/home

# ------------------------------------------------------------------- data --
big=$DATA/big.bin
if [[ $(stat -c %s "$big" 2>/dev/null || echo 0) != $(( BIG_MIB << 20 )) ]]; then
    log "generating $big ($BIG_MIB MiB)"
    head -c $(( BIG_MIB << 20 )) /dev/urandom > "$big"
fi
if [[ $(find "$DATA/small" -type f | wc -l) != "$SMALL_COUNT" ]]; then
    log "generating $SMALL_COUNT x $SMALL_KIB KiB"
    rm -rf "$DATA/small" && mkdir -p "$DATA/small"
    for i in $(seq -f '%05g' 1 "$SMALL_COUNT"); do
        head -c $(( SMALL_KIB << 10 )) /dev/urandom > "$DATA/small/f$i.bin"
    done
fi
cp "$big" "$ROOT/big.bin"
cp -r "$DATA/small" "$ROOT/small"

# ---------------------------------------------------------------- servers --
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    "$REPO_DIR/scripts/seaweedfs.sh" stop "$SW" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT

"$REPO_DIR/scripts/seaweedfs.sh" start "$SW"
# shellcheck source=/dev/null
. "$SW/env"
BUCKET=$FERRY_TEST_S3_BUCKET

# serve NAME ROOT [ARGS...]: starts a server, sets ADDR and SERVER_PID.
serve() {
    local name=$1 root=$2; shift 2
    local logf=$WORK/$name.log
    AWS_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_KEY \
        "$FERRY" serve "$root" --listen 127.0.0.1:0 --certs "$WORK/certs" "$@" > "$logf" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        if [[ $(cat "$logf") =~ listening\ on\ [^\ ]*:([0-9]+) ]]; then
            ADDR=127.0.0.1:${BASH_REMATCH[1]}
            return
        fi
        sleep 0.1
    done
    cat "$logf" >&2
    die "$name server did not start"
}
# The servers admit only clients they know: allow this run's client (made
# fresh in FERRY_HOME) in their shared state directory. (A ferry older than
# client identities, given as FERRY_BIN, has no `id`.)
if CLIENT_ID=$("$FERRY" id -q 2> /dev/null); then
    "$FERRY" allow "$CLIENT_ID" --name bench --certs "$WORK/certs" -q || die "cannot allow the bench client"
fi
serve local "$ROOT"
LOCAL=$ADDR LOCAL_PID=$SERVER_PID
serve s3 "s3://$BUCKET/bench" --s3-endpoint "$FERRY_TEST_S3_ENDPOINT"
S3=$ADDR S3_PID=$SERVER_PID

export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=SeaweedFS
export RCLONE_CONFIG_SW_ENDPOINT=$FERRY_TEST_S3_ENDPOINT
export RCLONE_CONFIG_SW_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY
export RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_KEY
rclone() { env -u AWS_CA_BUNDLE "$RCLONE" --config /dev/null "$@"; }

ferry() { timeout "$CMD_TIMEOUT" "$FERRY" "$@" --accept-new -q; }

log "seeding the bucket through ferry (not timed)"
ferry put "$S3" "$big" --to /
ferry put "$S3" -r "$DATA/small" --to / -j "$JOBS"

cpu() {   # CPU seconds (user+sys) of a PID so far
    python3 - "$1" <<'PY'
import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))
PY
}

# timed PID CMD...: runs CMD, prints "WALL SERVER_CPU" (PID 0: no server).
timed() {
    local pid=$1; shift
    local c0=0 c1=0 t0 t1
    [[ $pid == 0 ]] || c0=$(cpu "$pid")
    t0=$(date +%s.%N)
    "$@" > "$WORK/last.out" 2>&1 || { cat "$WORK/last.out" >&2; die "failed: $*"; }
    t1=$(date +%s.%N)
    [[ $pid == 0 ]] || c1=$(cpu "$pid")
    python3 -c 'import sys; a=[float(x) for x in sys.argv[1:]]; print(f"{a[1]-a[0]:.3f} {a[3]-a[2]:.2f}")' "$t0" "$t1" "$c0" "$c1"
}

# case NAME BYTES PID PREP CMD...: RUNS runs of CMD after PREP; records the
# median wall time and the median server CPU.
declare -A RESULT
bench_case() {
    local name=$1 bytes=$2 pid=$3 prep=$4; shift 4
    local walls=() cpus=() w c
    for _ in $(seq "$RUNS"); do
        eval "$prep"
        sync
        read -r w c < <(timed "$pid" "$@")
        walls+=("$w") cpus+=("$c")
    done
    RESULT[$name]=$(python3 - "$bytes" "${walls[@]}" -- "${cpus[@]}" <<'PY'
import statistics, sys
args = sys.argv[1:]
n = int(args[0]); cut = args.index("--")
walls = [float(x) for x in args[1:cut]]; cpus = [float(x) for x in args[cut + 1:]]
w = statistics.median(walls)
c = statistics.median(cpus)
cpu = f", server {c:.1f} s CPU" if c > 0 else ""
print(f"{w:.2f} s, {n / w / 1e6:.0f} MB/s{cpu}")
PY
)
    log "$name: ${RESULT[$name]}"
}

BIG_BYTES=$(( BIG_MIB << 20 ))
SMALL_BYTES=$(( SMALL_COUNT * SMALL_KIB << 10 ))
reset_out='rm -rf "$OUT" && mkdir -p "$OUT"'

same_big() { cmp "$big" "$OUT/big.bin" || die "$1: the download differs"; }
same_small() { diff -r "$DATA/small" "$OUT/small" >/dev/null || die "$1: the downloads differ"; }

bench_case down-local "$BIG_BYTES" "$LOCAL_PID" "$reset_out" ferry get "$LOCAL" /big.bin -o "$OUT"
same_big down-local
bench_case down-s3 "$BIG_BYTES" "$S3_PID" "$reset_out" ferry get "$S3" /big.bin -o "$OUT"
same_big down-s3
bench_case up-local "$BIG_BYTES" "$LOCAL_PID" : ferry put "$LOCAL" "$big" --to / --ignore-times
bench_case up-s3 "$BIG_BYTES" "$S3_PID" : ferry put "$S3" "$big" --to / --ignore-times
bench_case small-local "$SMALL_BYTES" "$LOCAL_PID" "$reset_out" ferry get "$LOCAL" -r /small -o "$OUT" -j "$JOBS"
same_small small-local
bench_case small-s3 "$SMALL_BYTES" "$S3_PID" "$reset_out" ferry get "$S3" -r /small -o "$OUT" -j "$JOBS"
same_small small-s3
if [[ -n $RCLONE ]]; then
    bench_case down-rclone "$BIG_BYTES" 0 "$reset_out" rclone copyto "sw:$BUCKET/bench/big.bin" "$OUT/big.bin"
    same_big down-rclone
    bench_case up-rclone "$BIG_BYTES" 0 : rclone copyto "$big" "sw:$BUCKET/rclone/big.bin" --ignore-times
    bench_case small-rclone "$SMALL_BYTES" 0 "$reset_out" rclone copy "sw:$BUCKET/bench/small" "$OUT/small" \
        --transfers "$JOBS" --checkers "$JOBS"
    same_small small-rclone
fi

printf '\n| %s | ferry, local dir | ferry, S3 (SeaweedFS) | rclone, same bucket |\n| --- | --- | --- | --- |\n' \
    "medians of $RUNS, 127.0.0.1"
for c in down up small; do
    case $c in
        down) label="$BIG_MIB MiB down" ;;
        up) label="$BIG_MIB MiB up" ;;
        small) label="$SMALL_COUNT x $SMALL_KIB KiB down" ;;
    esac
    printf '| %s | %s | %s | %s |\n' "$label" "${RESULT[$c-local]}" "${RESULT[$c-s3]}" "${RESULT[$c-rclone]:-n/a}"
done
