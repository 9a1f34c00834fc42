#!/usr/bin/env bash
# ferry and its peers over an emulated WAN (shared/tools/wan): two network
# namespaces joined by a forwarder with delay, loss, a rate limit and a
# one-BDP drop-tail queue. Needs root, ip, /dev/net/tun, python3.
#
#   bash bench/wan.sh                        # the table of issue 10, ferry + installed peers
#   LINKS="50:100:0.01" CASES=big TOOLS=ferry RUNS=5 bash bench/wan.sh
#
# LINKS: space-separated RTT_MS:RATE_MBIT:LOSS (loss as a fraction).
# CASES: small (200 x 32 KiB), medium (16 x 4 MiB), big (1 x 64 MiB), and
#        tiny (5000 files of 1-4 KiB; peers only with TINY_PEERS=1, sftp
#        would take many minutes), all downloads.
# SHARE=1: after the table, one ferry download shares the clean 50 ms link
#        with one TCP flow (iperf3, reverse, so both go b -> a) under each of
#        SHARE_CC (default "bbr cubic"): prints how they split the link.
# TOOLS: ferry sftp lftp rclone qcp; those not installed are skipped (sftp,
#        lftp and rclone go through a private sshd, bench/sshd.sh).
# Each cell: median wall time of RUNS runs (RUNS_PEERS for peers), % of link
# = (bytes / rate + one RTT) / wall, and the queue drops the emulator counted
# during the runs (both directions, median). A command that exceeds
# CMD_TIMEOUT seconds counts as "timeout" and ends that cell.
# Commands run under `ip netns exec NAME-a` directly: `wan exec` starts Python
# first, which adds about 0.18 s to every command.
set -euo pipefail
cd "$(dirname "$0")/.."

WAN=${WAN:-$(cd .. && pwd)/shared/tools/wan}
LINKS=${LINKS:-"50:100:0 50:100:0.01 200:100:0.03"}
CASES=${CASES:-"small medium big tiny"}
TOOLS=${TOOLS:-"ferry sftp lftp rclone qcp"}
RUNS=${RUNS:-3}
RUNS_PEERS=${RUNS_PEERS:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-90}
NAME=${WAN_NAME:-ferrybench}
DIR=${BENCH_DIR:-/tmp/ferry-wan}
FERRY_ARGS=${FERRY_ARGS:-}
PORT_FERRY=4433
PORT_SSH=2222
ADDR_B=10.213.0.2

[[ -x $WAN ]] || { echo "wan tool not found at $WAN (set WAN=)" >&2; exit 1; }
(( EUID == 0 )) || { echo "bench/wan.sh needs root (network namespaces)" >&2; exit 1; }
if [[ -z ${FERRY_BIN:-} ]]; then
    cargo build --release --locked >&2
    FERRY_BIN=$PWD/target/release/ferry
fi

# ---------------------------------------------------------------- data --
mkdir -p "$DIR/root" "$DIR/certs"
make_set() { # dir count bytes
    local d=$DIR/root/$1 n=$2 b=$3
    if [[ $(find "$d" -type f -size "${b}c" 2>/dev/null | wc -l) != "$n" ]]; then
        rm -rf "$d"; mkdir -p "$d"
        for i in $(seq 1 "$n"); do head -c "$b" /dev/urandom > "$d/f$i.bin"; done
    fi
}
make_set small 200 32768
make_set medium 16 $((4 << 20))
make_set big 1 $((64 << 20))
[[ -n ${SHARE:-} ]] && make_set share 1 $((96 << 20))
# tiny: 5000 files of 1-4 KiB (sizes fixed by a seed, so every run moves
# the same 12.8 MB).
if [[ $(find "$DIR/root/tiny" -type f 2>/dev/null | wc -l) != 5000 ]]; then
    rm -rf "$DIR/root/tiny"; mkdir -p "$DIR/root/tiny"
    python3 - "$DIR/root/tiny" <<'PY'
import os, random, sys
rng = random.Random(5000)
for i in range(1, 5001):
    with open(os.path.join(sys.argv[1], f"f{i}.bin"), "wb") as f:
        f.write(os.urandom(rng.randint(1024, 4096)))
PY
fi
TINY_BYTES=$(find "$DIR/root/tiny" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
declare -A BYTES=([small]=$((200 * 32768)) [medium]=$((16 << 22)) [big]=$((64 << 20)) [tiny]=$TINY_BYTES)

# ----------------------------------------------------------- processes --
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    "$WAN" down --name "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_a() { ip netns exec "$NAME-a" "$@"; }
in_b() { ip netns exec "$NAME-b" "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }

# The server admits only clients it knows: allow this client.
FERRY_HOME=$DIR/home "$FERRY_BIN" revoke bench --certs "$DIR/certs" -q > /dev/null 2>&1 || true
FERRY_HOME=$DIR/home "$FERRY_BIN" allow "$(FERRY_HOME=$DIR/home "$FERRY_BIN" id -q)" \
    --name bench --certs "$DIR/certs" -q

queue_drops() {
    "$WAN" status --name "$NAME" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["status"]["directions"]
print(sum(v["queue_drops"] for v in d.values()))'
}

start_ferry() {
    ip netns exec "$NAME-b" "$FERRY_BIN" serve "$DIR/root" --listen "$ADDR_B:$PORT_FERRY" --certs "$DIR/certs" \
        > "$DIR/ferry-server.out" 2> "$DIR/ferry-server.err" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$DIR/ferry-server.out" 2>/dev/null && return; sleep 0.1; done
    cat "$DIR/ferry-server.err" >&2; return 1
}

SSH_READY=0
start_ssh() {
    # shellcheck source=bench/sshd.sh
    source bench/sshd.sh
    start_sshd "$DIR/ssh" "$ADDR_B" "$PORT_SSH" ip netns exec "$NAME-b" || return 1
    PIDS+=("$SSHD_PID")
    for _ in $(seq 50); do
        in_a timeout 5 ssh -p "$PORT_SSH" "${SSH_OPTS[@]}" -o BatchMode=yes "root@$ADDR_B" true 2>/dev/null \
            && { SSH_READY=1; return 0; }
        sleep 0.2
    done
    echo "sshd did not come up; see $DIR/ssh/sshd.log" >&2
    return 1
}

# ------------------------------------------------------ one download each --
# tool_CASE OUT: download the case's files into OUT.
src_of() { case $1 in big) echo "$DIR/root/big/f1.bin";; *) echo "$DIR/root/$1";; esac; }
run_ferry() { # case out
    local what; case $1 in big) what=/big/f1.bin;; *) what="/$1/*";; esac
    # shellcheck disable=SC2086
    in_a env FERRY_HOME="$DIR/home" timeout "$CMD_TIMEOUT" "$FERRY_BIN" get "$ADDR_B:$PORT_FERRY" "$what" \
        -o "$2" --accept-new -q $FERRY_ARGS
}
run_sftp() {
    local what; case $1 in big) what=$(src_of big);; *) what="$(src_of "$1")/*";; esac
    printf 'get %s %s/\n' "$what" "$2" > "$DIR/sftp.batch"
    in_a timeout "$CMD_TIMEOUT" sftp -q -b "$DIR/sftp.batch" -P "$PORT_SSH" "${SSH_OPTS[@]}" "root@$ADDR_B" > /dev/null
}
run_lftp() { # 4 files in parallel, as the issue measured
    local ssh="ssh -a -x -p $PORT_SSH ${SSH_OPTS[*]}" cmd
    case $1 in
    big) cmd="get $(src_of big) -o $2/f1.bin" ;;
    *) cmd="mirror --parallel=4 $(src_of "$1") $2" ;;
    esac
    in_a timeout "$CMD_TIMEOUT" lftp -c "set sftp:connect-program '$ssh'; open -u root, sftp://$ADDR_B:$PORT_SSH; $cmd" > /dev/null
}
run_rclone() { # 4 transfers, rclone's default
    in_a timeout "$CMD_TIMEOUT" rclone copy --transfers 4 -q \
        ":sftp,host=$ADDR_B,port=$PORT_SSH,user=root,key_file=$DIR/ssh/client_key,shell_type=unix:$(src_of "$1")" "$2"
}
run_qcp() { # qcp starts its own server over ssh (qcp must be on PATH there: same machine)
    # NOTE: untested here (qcp was not installed when this was written).
    local what; case $1 in big) what=$(src_of big);; *) return 2;; esac
    cat > "$DIR/ssh/config" <<CFG
Host $ADDR_B
  Port $PORT_SSH
  User root
  IdentityFile $DIR/ssh/client_key
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
CFG
    in_a timeout "$CMD_TIMEOUT" qcp --ssh-config "$DIR/ssh/config" "$ADDR_B:$what" "$2/f1.bin" > /dev/null
}

verify() { # case out
    local src; src=$(src_of "$1")
    if [[ $1 == big ]]; then cmp -s "$src" "$2/f1.bin"; else diff -rq "$src" "$2" > /dev/null; fi
}

ROWS=()
cell() { # link-label rtt_ms rate case tool runs
    local label=$1 rtt=$2 rate=$3 case=$4 tool=$5 runs=$6
    local walls=() drops=() r out t0 t1 q0 q1 rc status=ok
    for r in $(seq 1 "$runs"); do
        out=$DIR/out/$tool-$case-$r
        rm -rf "$out"; mkdir -p "$out"
        q0=$(queue_drops); t0=$(date +%s.%N)
        rc=0
        "run_$tool" "$case" "$out" 2> "$DIR/$tool.err" || rc=$?
        if (( rc != 0 )); then
            case $rc in 124) status=timeout ;; 2) status=n/a ;; *) status=failed ;; esac
            break
        fi
        t1=$(date +%s.%N); q1=$(queue_drops)
        verify "$case" "$out" || { status=corrupt; break; }
        walls+=("$(python3 -c "print(f'{$t1 - $t0:.2f}')")")
        drops+=($((q1 - q0)))
        rm -rf "$out"
    done
    rm -rf "$DIR/out"
    ROWS+=("$(python3 - "$label" "$case" "$tool" "$status" "${BYTES[$case]}" "$rate" "$rtt" "${walls[*]:-}" "${drops[*]:-}" <<'PY'
import statistics, sys
label, case, tool, status, nbytes, rate, rtt, walls, drops = sys.argv[1:]
walls = [float(w) for w in walls.split()]
drops = [int(d) for d in drops.split()]
if status != "ok" or not walls:
    print(f"{label:<22} {case:<7} {tool:<7} {status:>8}")
    sys.exit()
link = int(nbytes) * 8 / (float(rate) * 1e6) + float(rtt) / 1000
med = statistics.median(walls)
print(f"{label:<22} {case:<7} {tool:<7} {med:8.2f} {link / med * 100:7.1f} "
      f"{statistics.median(drops):7.0f}   {' '.join(f'{w:.2f}' for w in walls)}")
PY
)")
    printf '%s\n' "${ROWS[-1]}" >&2
}

for link in $LINKS; do
    IFS=: read -r rtt rate loss <<< "$link"
    label="${rtt} ms ${rate} Mbit/s ${loss}"
    "$WAN" up --name "$NAME" --delay-ms "$(python3 -c "print($rtt / 2)")" --rate-mbit "$rate" \
        --loss "$loss" --max-seconds 3600 >&2
    start_ferry
    for tool in $TOOLS; do
        case $tool in
        ferry) ;;
        sftp | lftp | rclone | qcp)
            have "$tool" || { echo "skipping $tool: not installed" >&2; continue; }
            (( SSH_READY )) || start_ssh || { echo "skipping $tool: no sshd" >&2; continue; } ;;
        *) echo "unknown tool $tool" >&2; continue ;;
        esac
        for case in $CASES; do
            [[ $case == tiny && $tool != ferry && -z ${TINY_PEERS:-} ]] && continue
            runs=$RUNS; [[ $tool == ferry ]] || runs=$RUNS_PEERS
            cell "$label" "$rtt" "$rate" "$case" "$tool" "$runs"
        done
    done
    cleanup
    SSH_READY=0
done

printf '\nferry %s over shared/tools/wan; median of %s runs (peers: %s), timeout %s s per command\n' \
    "$("$FERRY_BIN" --version | cut -d' ' -f2)" "$RUNS" "$RUNS_PEERS" "$CMD_TIMEOUT"
printf '%% of link = (bytes / rate + 1 RTT) / wall; qdrops = bottleneck queue drops per run (median); load %s\n\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %-7s %-7s %8s %7s %7s   %s\n' "link (RTT rate loss)" case tool "wall s" "% link" qdrops "runs"
for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done

# ------------------------------------------------- sharing with TCP --
# One ferry download of 96 MiB starts 5 s into a 60 s TCP flow (iperf3 -R:
# the server in b sends, like ferry's server) on the clean 50 ms, 100 Mbit/s
# link; each one's rate over the time both ran.
share() { # cc
    local cc=$1 t_launch t0 t1 rc=0
    "$WAN" up --name "$NAME" --delay-ms 25 --rate-mbit 100 --loss 0 --max-seconds 600 >&2
    start_ferry
    in_b iperf3 -s -1 -p 5201 > "$DIR/iperf-server.log" 2>&1 &
    PIDS+=($!)
    sleep 1
    t_launch=$(date +%s.%N)
    in_a iperf3 -c "$ADDR_B" -p 5201 -R -C "$cc" -t 60 -i 1 -J > "$DIR/iperf.json" 2> "$DIR/iperf.err" &
    local iperf=$!
    sleep 5
    rm -rf "$DIR/out"; mkdir -p "$DIR/out"
    t0=$(date +%s.%N)
    in_a env FERRY_HOME="$DIR/home" timeout 55 "$FERRY_BIN" get "$ADDR_B:$PORT_FERRY" /share/f1.bin \
        -o "$DIR/out" --accept-new -q || rc=$?
    t1=$(date +%s.%N)
    wait "$iperf" || true
    cmp -s "$DIR/root/share/f1.bin" "$DIR/out/f1.bin" || rc=1
    rm -rf "$DIR/out"
    python3 - "$cc" "$rc" "$t_launch" "$t0" "$t1" $((96 << 20)) "$DIR/iperf.json" <<'PY'
import json, sys
cc, rc, launch, t0, t1, nbytes, path = sys.argv[1:]
launch, t0, t1, nbytes = float(launch), float(t0), float(t1), int(nbytes)
ferry = "timeout" if rc != "0" else f"{nbytes * 8 / (t1 - t0) / 1e6:5.1f}"
try:
    intervals = json.load(open(path))["intervals"]
except (OSError, ValueError, KeyError):
    intervals = []
a, b = t0 - launch, t1 - launch
during = [i["sum"]["bits_per_second"] for i in intervals if i["sum"]["start"] >= a and i["sum"]["end"] <= b]
tcp = f"{sum(during) / len(during) / 1e6:5.1f}" if during else "  n/a"
print(f"ferry + TCP {cc:<6}  ferry {ferry} Mbit/s  TCP {tcp} Mbit/s  over {t1 - t0:.1f} s")
PY
    cleanup
}
if [[ -n ${SHARE:-} ]]; then
    have iperf3 || { echo "SHARE needs iperf3" >&2; exit 1; }
    printf '\nsharing the clean 50 ms, 100 Mbit/s link with one TCP flow (iperf3 -R); load %s\n' \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
    for cc in ${SHARE_CC:-bbr cubic}; do share "$cc"; done
fi
