#!/usr/bin/env bash
# ferry against scp and sftp on 127.0.0.1, same data, same run.
#
#   bash bench/compare.sh        (needs /usr/sbin/sshd: apt-get install openssh-server)
#
# Starts its own sshd on 127.0.0.1:$SSH_PORT with a throwaway host key and
# client key (nothing of the system's is used or changed) and its own
# `ferry serve`, runs each case RUNS times per tool and prints the median wall
# time. Data comes from bench/run.sh's directory (run that first, or set
# BENCH_DIR); ssh uses AES-128-GCM, the fastest cipher it has here.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench}
ROOT=$BENCH_DIR/root
RUNS=${RUNS:-3}
SSH_PORT=${SSH_PORT:-2222}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
[[ -f $ROOT/big-1024M.bin && -d $ROOT/many-32x32M && -d $ROOT/small-1000x32K ]] \
    || { echo "run bash bench/run.sh first to make the data in $ROOT" >&2; exit 1; }
if [[ -z ${FERRY_BIN:-} ]]; then
    cargo build --release --locked >&2
    FERRY_BIN=$PWD/target/release/ferry
fi

W=$(mktemp -d /tmp/ferry-compare.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/out"
# shellcheck source=bench/sshd.sh
source bench/sshd.sh
start_sshd "$W/ssh" 127.0.0.1 "$SSH_PORT"
PIDS+=("$SSHD_PID")

export FERRY_HOME=$W/home
"$FERRY_BIN" allow "$("$FERRY_BIN" id -q)" --name bench --certs "$W/certs" -q
"$FERRY_BIN" serve "$ROOT" --listen 127.0.0.1:0 --certs "$W/certs" > "$W/ferry.out" 2> "$W/ferry.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$W/ferry.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o 'listening on [^ ]*' "$W/ferry.out" | sed 's/.*://')
for _ in $(seq 50); do ssh -p "$SSH_PORT" "${SSH_OPTS[@]}" root@127.0.0.1 true 2>/dev/null && break; sleep 0.1; done

time_it() { # label cmd... -> prints median seconds
    local label=$1; shift
    local t=() r dir
    for (( r = 1; r <= RUNS; r++ )); do
        dir=$W/out/$label-$r
        mkdir -p "$dir"; sync
        local s e
        s=$(date +%s%N)
        (cd "$dir" && "$@" > /dev/null 2> "$W/err") || { echo "$label failed: $(tail -3 "$W/err")" >&2; return 1; }
        e=$(date +%s%N)
        t+=("$(( (e - s) / 1000000 ))")
    done
    rm -rf "$W"/out/*
    printf '%s\n' "${t[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

row() { # case bytes
    local name=$1 bytes=$2 ferry scp sftp
    case $name in
        big)   ferry=$(time_it ferry-big "$FERRY_BIN" get "127.0.0.1:$PORT" /big-1024M.bin -o . --accept-new -q)
               scp=$(time_it scp-big scp -q -P "$SSH_PORT" "${SSH_OPTS[@]}" "root@127.0.0.1:$ROOT/big-1024M.bin" .)
               printf 'get %s\n' "$ROOT/big-1024M.bin" > "$W/batch" ;;
        many)  ferry=$(time_it ferry-many "$FERRY_BIN" get "127.0.0.1:$PORT" '/many-32x32M/*' -o . --accept-new -q)
               scp=$(time_it scp-many scp -q -P "$SSH_PORT" "${SSH_OPTS[@]}" "root@127.0.0.1:$ROOT/many-32x32M/*" .)
               printf 'get %s/*\n' "$ROOT/many-32x32M" > "$W/batch" ;;
        small) ferry=$(time_it ferry-small "$FERRY_BIN" get "127.0.0.1:$PORT" '/small-1000x32K/*' -o . --accept-new -q)
               scp=$(time_it scp-small scp -q -P "$SSH_PORT" "${SSH_OPTS[@]}" "root@127.0.0.1:$ROOT/small-1000x32K/*" .)
               printf 'get %s/*\n' "$ROOT/small-1000x32K" > "$W/batch" ;;
    esac
    sftp=$(time_it "sftp-$name" sftp -q -b "$W/batch" -P "$SSH_PORT" "${SSH_OPTS[@]}" root@127.0.0.1)
    python3 - "$name" "$bytes" "$ferry" "$scp" "$sftp" <<'PY'
import sys
name, n = sys.argv[1], int(sys.argv[2])
cells = []
for ms in sys.argv[3:]:
    s = int(ms) / 1000
    cells.append(f"{s:7.3f} s {n / s / 1e6:7.1f} MB/s")
print(f"{name:<6} | " + " | ".join(cells))
PY
}

echo "127.0.0.1, median of $RUNS, MB/s = 10^6 B/s, ssh cipher $CIPHER"
echo "case   | ferry                  | scp                    | sftp"
row big $((1 << 30))
row many $((32 << 25))
row small $((1000 << 15))
