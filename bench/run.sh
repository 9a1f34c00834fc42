#!/usr/bin/env bash
# Benchmark ferry on 127.0.0.1: one big file down and up, many medium files
# down, many small files down. Prints a figures table. See bench/README.md.
#
# Needs only bash, coreutils and python3 (stdlib). /usr/bin/time (GNU) is used
# for client CPU time when present.
set -euo pipefail

# ---------------------------------------------------------------- settings --
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench}
RUNS=${RUNS:-3}
QUICK=${QUICK:-0}
CASES=${CASES:-"get put many small"}   # any subset, in any order
JOBS=${JOBS:-}                          # -j N for the glob cases; empty = ferry's default
CMD_TIMEOUT=${CMD_TIMEOUT:-600}         # seconds; bound on any one client command

if [[ $QUICK == 1 ]]; then
    : "${BIG_MIB:=64}" "${MANY_COUNT:=8}" "${MANY_MIB:=8}" "${SMALL_COUNT:=200}" "${SMALL_KIB:=32}"
else
    : "${BIG_MIB:=1024}" "${MANY_COUNT:=32}" "${MANY_MIB:=32}" "${SMALL_COUNT:=1000}" "${SMALL_KIB:=32}"
fi

die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in RUNS BIG_MIB MANY_COUNT MANY_MIB SMALL_COUNT SMALL_KIB CMD_TIMEOUT; do
    if ! is_uint "${!v}" || (( ${!v} == 0 )); then die "$v must be a positive integer (got '${!v}')"; fi
done
if [[ -n $JOBS ]]; then
    if ! is_uint "$JOBS" || (( JOBS == 0 )); then die "JOBS must be a positive integer (got '$JOBS')"; fi
fi
for c in $CASES; do
    case $c in get|put|many|small) ;; *) die "unknown case '$c' in CASES (use: get put many small)";; esac
done
command -v python3 >/dev/null || die "python3 not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"

# ------------------------------------------------------------------ binary --
if [[ -n ${FERRY_BIN:-} ]]; then
    FERRY=$FERRY_BIN
else
    log "building: cargo build --release --locked"
    (cd "$REPO_DIR" && cargo build --release --locked) || die "cargo build failed"
    FERRY=$REPO_DIR/target/release/ferry
fi
[[ $FERRY == /* ]] || FERRY=$PWD/$FERRY
[[ -x $FERRY ]] || die "ferry binary not found or not executable: $FERRY"

TIME_BIN=
if [[ -x /usr/bin/time ]] && /usr/bin/time -f '%U' -o /dev/null true 2>/dev/null; then
    TIME_BIN=/usr/bin/time
else
    log "GNU /usr/bin/time not available: client CPU time is not measured"
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ------------------------------------------------------------------ layout --
ROOT=$BENCH_DIR/root            # the served directory (source data + uploads)
CERTS=$BENCH_DIR/certs
OUT=${OUT_DIR:-$BENCH_DIR/out}  # downloads land here; OUT_DIR=/dev/shm/... takes the disk out
WORK=$BENCH_DIR/work            # per-script-run scratch: FERRY_HOME, logs
BIG_NAME=big-${BIG_MIB}M.bin
MANY_DIR=many-${MANY_COUNT}x${MANY_MIB}M
SMALL_DIR=small-${SMALL_COUNT}x${SMALL_KIB}K

mkdir -p "$ROOT" "$CERTS" "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK/home"
# A fresh client home each run: the server cert may have been regenerated.
export FERRY_HOME=$WORK/home

# --------------------------------------------------------------- test data --
need_bytes=$(( BIG_MIB * 1048576 * 2 + MANY_COUNT * MANY_MIB * 1048576 * 2 + SMALL_COUNT * SMALL_KIB * 1024 * 2 ))
python3 - "$BENCH_DIR" "$need_bytes" <<'PY' || die "not enough free disk space under BENCH_DIR"
import shutil, sys
free = shutil.disk_usage(sys.argv[1]).free
need = int(sys.argv[2])
if free < need:
    print(f"bench: need up to {need/2**30:.1f} GiB free in {sys.argv[1]}, have {free/2**30:.1f} GiB", file=sys.stderr)
    sys.exit(1)
PY

file_size() { stat -c %s "$1" 2>/dev/null || echo -1; }

make_big() {
    local f=$ROOT/$BIG_NAME bytes=$(( BIG_MIB * 1048576 ))
    if [[ $(file_size "$f") == "$bytes" ]]; then
        log "reusing $f"
        return
    fi
    log "generating $f ($BIG_MIB MiB of random bytes)"
    head -c "$bytes" /dev/urandom > "$f.tmp"
    mv "$f.tmp" "$f"
}

# make_set DIR COUNT BYTES_EACH: DIR holds exactly COUNT files f00000.bin … of BYTES_EACH.
make_set() {
    python3 - "$1" "$2" "$3" <<'PY'
import os, sys
d, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = [f"f{i:05d}.bin" for i in range(count)]
os.makedirs(d, exist_ok=True)
have = sorted(os.listdir(d))
if have == names and all(os.path.getsize(os.path.join(d, n)) == size for n in names):
    print(f"bench: reusing {d}", file=sys.stderr)
    sys.exit(0)
print(f"bench: generating {d} ({count} x {size} B of random bytes)", file=sys.stderr)
for n in have:
    p = os.path.join(d, n)
    if n not in names or os.path.getsize(p) != size or not os.path.isfile(p):
        if os.path.isdir(p) and not os.path.islink(p):
            import shutil; shutil.rmtree(p)
        else:
            os.remove(p)
chunk = 1 << 20
for n in names:
    p = os.path.join(d, n)
    if os.path.isfile(p) and os.path.getsize(p) == size:
        continue
    with open(p + ".tmp", "wb") as f:
        left = size
        while left:
            k = min(chunk, left)
            f.write(os.urandom(k))
            left -= k
    os.replace(p + ".tmp", p)
PY
}

want() { [[ " $CASES " == *" $1 "* ]]; }

if want get || want put; then make_big; fi
if want many; then make_set "$ROOT/$MANY_DIR" "$MANY_COUNT" $(( MANY_MIB * 1048576 )); fi
if want small; then make_set "$ROOT/$SMALL_DIR" "$SMALL_COUNT" $(( SMALL_KIB * 1024 )); fi
sync

# ------------------------------------------------------------------ server --
SERVER_PID=
SERVER_LOG=$WORK/server.log

cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        # Give it up to ~3 s to exit, then force.
        for _ in $(seq 30); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server admits only clients it knows: allow this run's client (made
# fresh in FERRY_HOME) in place of the previous run's. (A ferry older than
# client identities, given as FERRY_BIN for a comparison, has no `id`.)
if CLIENT_ID=$("$FERRY" id -q 2> /dev/null); then
    "$FERRY" revoke bench --certs "$CERTS" -q > /dev/null 2>&1 || true
    "$FERRY" allow "$CLIENT_ID" --name bench --certs "$CERTS" -q || die "cannot allow the bench client"
fi

log "starting: $FERRY serve $ROOT --listen 127.0.0.1:0 --certs $CERTS"
"$FERRY" serve "$ROOT" --listen 127.0.0.1:0 --certs "$CERTS" > "$SERVER_LOG" 2>&1 &
SERVER_PID=$!

PORT=
for _ in $(seq 100); do   # ~10 s
    if [[ $(cat "$SERVER_LOG") =~ listening\ on\ [^\ ]*:([0-9]+) ]]; then
        PORT=${BASH_REMATCH[1]}
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $PORT ]]; then
    printf -- '--- server output ---\n' >&2
    cat "$SERVER_LOG" >&2 || true
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        die "server printed no 'listening on ...:PORT' line within 10 s"
    fi
    die "server exited before printing 'listening on ...:PORT'"
fi
ADDR=127.0.0.1:$PORT
FPR=$(grep -o 'SHA256:[A-Za-z0-9+/=_-]*' "$SERVER_LOG" | head -n1 || true)
log "server pid $SERVER_PID on $ADDR ${FPR:+($FPR)}"

# Server CPU (user+sys) in seconds, from /proc; empty if unavailable.
server_cpu() {
    local stat f
    stat=$(cat "/proc/$SERVER_PID/stat" 2>/dev/null) || return 0
    # Fields from 3 on (comm, field 2, may hold spaces): utime (14) and
    # stime (15) are at indexes 11 and 12 here.
    read -r -a f <<< "${stat##*) }"
    python3 -c 'import sys; print((int(sys.argv[1]) + int(sys.argv[2])) / int(sys.argv[3]))' "${f[11]}" "${f[12]}" "$CLK_TCK"
}

# ------------------------------------------------------------------ timing --
# run_timed NAME CMD...: runs a client command under a timeout; sets LAST_WALL
# (seconds) and LAST_CPU (client user+sys seconds, or empty) and LAST_SCPU
# (server CPU seconds during the command, or empty). Fails loudly on error.
LAST_WALL='' LAST_CPU='' LAST_SCPU=''
run_timed() {
    local name=$1; shift
    local errf=$WORK/$name.stderr timef=$WORK/$name.time t0 t1 s0 s1 rc=0
    s0=$(server_cpu)
    t0=$(date +%s.%N)
    if [[ -n $TIME_BIN ]]; then
        "$TIME_BIN" -f '%U %S' -o "$timef" timeout "$CMD_TIMEOUT" "$@" > "$WORK/$name.stdout" 2> "$errf" || rc=$?
    else
        timeout "$CMD_TIMEOUT" "$@" > "$WORK/$name.stdout" 2> "$errf" || rc=$?
    fi
    t1=$(date +%s.%N)
    s1=$(server_cpu)
    if (( rc != 0 )); then
        printf -- '--- command (exit %s%s) ---\n' "$rc" \
            "$( (( rc == 124 )) && echo ", timed out after ${CMD_TIMEOUT}s")" >&2
        printf '%q ' "$@" >&2
        printf -- '\n--- its stderr ---\n' >&2
        tail -n 40 "$errf" >&2 || true
        printf -- '--- server log (tail) ---\n' >&2
        tail -n 20 "$SERVER_LOG" >&2 || true
        die "case $name: client command failed"
    fi
    LAST_WALL=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$t0" "$t1")
    LAST_CPU=
    if [[ -n $TIME_BIN && -s $timef ]]; then
        LAST_CPU=$(tail -n1 "$timef" | python3 -c 'import sys; u, s = sys.stdin.read().split()[:2]; print(f"{float(u) + float(s):.2f}")' 2>/dev/null || true)
    fi
    LAST_SCPU=
    if [[ -n $s0 && -n $s1 ]]; then
        LAST_SCPU=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$s0" "$s1")
    fi
}

median() { python3 -c 'import statistics, sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

# ------------------------------------------------------------ verification --
verify_file() {   # verify_file SRC DST
    [[ -f $2 ]] || { ls -la "$(dirname "$2")" >&2 || true; die "expected output file missing: $2"; }
    cmp -s "$1" "$2" || die "output differs from source: $2 vs $1"
}

verify_set() {    # verify_set SRCDIR DSTDIR: same names, same sizes, same bytes for a sample
    python3 - "$1" "$2" <<'PY' || die "downloaded set in $2 does not match $1"
import hashlib, os, sys
src, dst = sys.argv[1], sys.argv[2]
a, b = sorted(os.listdir(src)), sorted(os.listdir(dst))
if a != b:
    missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    print(f"bench: {len(b)} files in output, {len(a)} expected; "
          f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
          f"extra {extra[:5]}{'…' if len(extra) > 5 else ''}", file=sys.stderr)
    sys.exit(1)
for n in a:
    sa, sb = os.path.getsize(os.path.join(src, n)), os.path.getsize(os.path.join(dst, n))
    if sa != sb:
        print(f"bench: {n}: size {sb}, expected {sa}", file=sys.stderr)
        sys.exit(1)
k = min(len(a), 8)
sample = sorted({a[(i * (len(a) - 1)) // max(k - 1, 1)] for i in range(k)})
def h(p):
    d = hashlib.sha256()
    with open(p, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            d.update(blk)
    return d.hexdigest()
for n in sample:
    if h(os.path.join(src, n)) != h(os.path.join(dst, n)):
        print(f"bench: {n}: content differs", file=sys.stderr)
        sys.exit(1)
print(f"bench: verified {len(a)} files (names, sizes; sha256 of {len(sample)})", file=sys.stderr)
PY
}

reset_dir() { rm -rf "$1"; mkdir -p "$1"; sync; }
# Each run writes into a fresh directory and all runs' output is deleted only
# after the case: deleting files just before creating as many again makes
# ext4 skip the recently freed inodes and scan its bitmaps, which made the
# small-file case up to 3x slower from run to run.
fresh_dir() { mkdir -p "$1"; sync; }

# -------------------------------------------------------------------- cases --
ROWS=()
jflag=()
[[ -n $JOBS ]] && jflag=(-j "$JOBS")

# bench_case KEY LABEL SIZE_LABEL BYTES FILES
# Uses the functions case_prepare_KEY, case_cmd_KEY (fills CMD), case_verify_KEY.
bench_case() {
    local key=$1 label=$2 size_label=$3 bytes=$4 files=$5
    local walls=() cpus=() scpus=() i
    for (( i = 1; i <= RUNS; i++ )); do
        RUN=$i
        "case_prepare_$key"
        "case_cmd_$key"
        run_timed "$key" "${CMD[@]}"
        log "$label run $i/$RUNS: ${LAST_WALL} s${LAST_CPU:+, client cpu ${LAST_CPU} s}${LAST_SCPU:+, server cpu ${LAST_SCPU} s}"
        walls+=("$LAST_WALL")
        [[ -n $LAST_CPU ]] && cpus+=("$LAST_CPU")
        [[ -n $LAST_SCPU ]] && scpus+=("$LAST_SCPU")
        if (( i == 1 )); then "case_verify_$key"; fi
    done
    "case_cleanup_$key"   # leave no output behind
    local med mbs fps ccpu="-" ccpu_g="-" scpu="-" scpu_g="-"
    med=$(median "${walls[@]}")
    mbs=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.1f}")' "$bytes" "$med")
    fps=-
    if (( files > 1 )); then
        fps=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.0f}")' "$files" "$med")
    fi
    if (( ${#cpus[@]} == RUNS )); then
        ccpu=$(median "${cpus[@]}")
        ccpu_g=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) * 2**30 / int(sys.argv[2]):.2f}")' "$ccpu" "$bytes")
    fi
    if (( ${#scpus[@]} == RUNS )); then
        scpu=$(median "${scpus[@]}")
        scpu_g=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) * 2**30 / int(sys.argv[2]):.2f}")' "$scpu" "$bytes")
    fi
    ROWS+=("$(printf '%-12s | %-13s | %8s | %8s | %7s | %7s | %6s | %7s | %6s | %s' \
        "$label" "$size_label" "$med" "$mbs" "$fps" "$ccpu" "$ccpu_g" "$scpu" "$scpu_g" "${walls[*]}")")
}

# 1. one big file down
case_prepare_get()  { fresh_dir "$OUT/get/run$RUN"; }
case_cmd_get()      { CMD=("$FERRY" get "$ADDR" "/$BIG_NAME" -o "$OUT/get/run$RUN" --accept-new -q); }
case_verify_get()   { verify_file "$ROOT/$BIG_NAME" "$OUT/get/run$RUN/$BIG_NAME"; log "verified $BIG_NAME (cmp)"; }
case_cleanup_get()  { reset_dir "$OUT/get"; }

# 2. the same big file up
UPLOAD_SRC=$WORK/upload-src
case_prepare_put()  { fresh_dir "$ROOT/up/run$RUN"; }
case_cmd_put()      { CMD=("$FERRY" put "$ADDR" "$UPLOAD_SRC/$BIG_NAME" --to "/up/run$RUN" --accept-new -q); }
case_verify_put()   { verify_file "$ROOT/$BIG_NAME" "$ROOT/up/run$RUN/$BIG_NAME"; log "verified uploaded $BIG_NAME (cmp)"; }
case_cleanup_put()  { reset_dir "$ROOT/up"; }

# 3. many medium files down (remote glob)
case_prepare_many() { fresh_dir "$OUT/many/run$RUN"; }
case_cmd_many()     { CMD=("$FERRY" get "$ADDR" "/$MANY_DIR/*" -o "$OUT/many/run$RUN" "${jflag[@]}" --accept-new -q); }
case_verify_many()  { verify_set "$ROOT/$MANY_DIR" "$OUT/many/run$RUN"; }
case_cleanup_many() { reset_dir "$OUT/many"; }

# 4. many small files down (remote glob)
case_prepare_small() { fresh_dir "$OUT/small/run$RUN"; }
case_cmd_small()     { CMD=("$FERRY" get "$ADDR" "/$SMALL_DIR/*" -o "$OUT/small/run$RUN" "${jflag[@]}" --accept-new -q); }
case_verify_small()  { verify_set "$ROOT/$SMALL_DIR" "$OUT/small/run$RUN"; }
case_cleanup_small() { reset_dir "$OUT/small"; }

for c in $CASES; do
    case $c in
    get)
        bench_case get "get big" "1 x ${BIG_MIB} MiB" $(( BIG_MIB * 1048576 )) 1 ;;
    put)
        # Upload from outside the served root (a hard link, so no copy), so the
        # server never reads the file it is writing.
        mkdir -p "$UPLOAD_SRC"
        ln -f "$ROOT/$BIG_NAME" "$UPLOAD_SRC/$BIG_NAME" 2>/dev/null || cp "$ROOT/$BIG_NAME" "$UPLOAD_SRC/$BIG_NAME"
        # mkdir fails if /up already exists: that is fine.
        timeout 30 "$FERRY" mkdir "$ADDR" /up --accept-new -q > /dev/null 2>&1 || true
        [[ -d $ROOT/up ]] || die "remote mkdir /up did not create $ROOT/up"
        bench_case put "put big" "1 x ${BIG_MIB} MiB" $(( BIG_MIB * 1048576 )) 1
        rm -f "$UPLOAD_SRC/$BIG_NAME" ;;
    many)
        bench_case many "get many" "${MANY_COUNT} x ${MANY_MIB} MiB" $(( MANY_COUNT * MANY_MIB * 1048576 )) "$MANY_COUNT" ;;
    small)
        bench_case small "get small" "${SMALL_COUNT} x ${SMALL_KIB} KiB" $(( SMALL_COUNT * SMALL_KIB * 1024 )) "$SMALL_COUNT" ;;
    esac
done

# ------------------------------------------------- quinn's own perf tool --
# With QUINN_PERF (a quinn-perf binary, built from quinn's perf/ crate), the
# same run measures quinn moving bytes memory to memory on 127.0.0.1, so
# ferry's figures can be read as a ratio of it: one stream (requests of
# PERF_MIB back to back) and PERF_STREAMS streams (as many requests of 4 MiB
# at once). quinn-perf counts only requests that finished within PERF_SECS,
# so requests are kept small against it.
PERF_ROWS=()
PERF_MBS=()      # MB/s per perf case, in order: 1 stream, N streams
PERF_SECS=${PERF_SECS:-8}
PERF_MIB=${PERF_MIB:-32}
PERF_STREAMS=${PERF_STREAMS:-32}
perf_case() {    # perf_case LABEL STREAMS MIB
    local label=$1 streams=$2 mib=$3 i walls=() mbs=() ccpus=() scpus=() port=14433
    for (( i = 1; i <= RUNS; i++ )); do
        "$QUINN_PERF" server --listen "127.0.0.1:$port" > "$WORK/perf-server.log" 2>&1 &
        local spid=$! s0 s1 out
        sleep 0.5
        s0=$(pid_cpu "$spid")
        out=$WORK/perf-client.out
        "$TIME_BIN" -f '%U %S' -o "$WORK/perf.time" timeout $(( PERF_SECS + 30 )) \
            "$QUINN_PERF" client "127.0.0.1:$port" --bi-requests "$streams" \
            --download-size "${mib}M" --upload-size 0 --duration "$PERF_SECS" \
            --interval "$PERF_SECS" > "$out" 2>&1 || die "quinn-perf client failed: $(tail -3 "$out")"
        s1=$(pid_cpu "$spid")
        kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
        # "RPS: r (n requests in t s)": n requests of mib MiB in t seconds.
        local n t
        read -r n t < <(grep -o 'RPS: [0-9.]* ([0-9]* requests in [0-9.]*s)' "$out" | tail -1 \
            | sed -E 's/.*\(([0-9]+) requests in ([0-9.]+)s\)/\1 \2/')
        [[ -n $n && $n != 0 ]] || die "quinn-perf finished no request: $(tail -5 "$out")"
        local bytes=$(( n * mib * 1048576 ))
        local rate ccpu scpu
        rate=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.1f}")' "$bytes" "$t")
        ccpu=$(tail -n1 "$WORK/perf.time" | python3 -c 'import sys; u, s = sys.stdin.read().split()[:2]; print(float(u) + float(s))')
        scpu=$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$s0" "$s1")
        log "$label run $i/$RUNS: $rate MB/s, client cpu $ccpu s, server cpu $scpu s for $bytes bytes"
        mbs+=("$rate")
        ccpus+=("$(python3 -c 'import sys; print(float(sys.argv[1]) * 2**30 / int(sys.argv[2]))' "$ccpu" "$bytes")")
        scpus+=("$(python3 -c 'import sys; print(float(sys.argv[1]) * 2**30 / int(sys.argv[2]))' "$scpu" "$bytes")")
    done
    local med cg sg
    med=$(median "${mbs[@]}"); cg=$(median "${ccpus[@]}"); sg=$(median "${scpus[@]}")
    PERF_MBS+=("$med")
    PERF_ROWS+=("$(printf '%-22s | %8.1f | %6.2f | %6.2f | %s' "$label" "$med" "$cg" "$sg" "${mbs[*]}")")
}
pid_cpu() {      # pid_cpu PID: user+sys seconds of a process, from /proc
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    read -r -a f <<< "${stat##*) }"
    python3 -c 'import sys; print((int(sys.argv[1]) + int(sys.argv[2])) / int(sys.argv[3]))' "${f[11]}" "${f[12]}" "$CLK_TCK"
}
if [[ -n ${QUINN_PERF:-} ]]; then
    [[ -x $QUINN_PERF ]] || die "QUINN_PERF=$QUINN_PERF is not an executable"
    [[ -n $TIME_BIN ]] || die "QUINN_PERF needs GNU /usr/bin/time for the client's CPU time"
    perf_case "quinn-perf 1 stream" 1 "$PERF_MIB"
    perf_case "quinn-perf $PERF_STREAMS streams" "$PERF_STREAMS" 4
fi

# ------------------------------------------------------------------- report --
printf '\nferry bench: %s, 127.0.0.1, %s run(s) each, median of wall clock; MB/s = 10^6 B/s%s\n' \
    "$("$FERRY" --version 2>/dev/null || basename "$FERRY")" "$RUNS" "${JOBS:+, -j $JOBS}"
printf 'cpu: user+sys seconds (median); cpu/GiB: cpu seconds per GiB moved; server cpu from /proc\n\n'
header=$(printf '%-12s | %-13s | %8s | %8s | %7s | %7s | %6s | %7s | %6s | %s' \
    "case" "size" "median s" "MB/s" "files/s" "cli cpu" "c/GiB" "srv cpu" "s/GiB" "raw wall s")
printf '%s\n%s\n' "$header" "$(printf '%s' "$header" | tr -c '|' '-')"
for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done

if (( ${#PERF_ROWS[@]} > 0 )); then
    printf '\nquinn-perf (%s), same run, memory to memory, %s s per run; MB/s median\n\n' "$QUINN_PERF" "$PERF_SECS"
    header=$(printf '%-22s | %8s | %6s | %6s | %s' "case" "MB/s" "c/GiB" "s/GiB" "raw MB/s")
    printf '%s\n%s\n' "$header" "$(printf '%s' "$header" | tr -c '|' '-')"
    for r in "${PERF_ROWS[@]}"; do printf '%s\n' "$r"; done
    # ferry as a share of quinn: get big vs 1 stream, get many vs N streams.
    printf '\n'
    for r in "${ROWS[@]}"; do
        label=$(printf '%s' "$r" | cut -d'|' -f1 | xargs)
        mbs=$(printf '%s' "$r" | cut -d'|' -f4 | xargs)
        case $label in
            "get big")  ref=${PERF_MBS[0]} ;;
            "get many") ref=${PERF_MBS[1]:-} ;;
            *) ref= ;;
        esac
        [[ -n $ref ]] && python3 -c 'import sys; print(f"{sys.argv[1]}: {float(sys.argv[2]) / float(sys.argv[3]):.2f}x of quinn-perf")' "$label" "$mbs" "$ref"
    done
fi
