# Sourced by the benchmarks: a private sshd for side-by-side runs of scp and
# sftp, with throwaway keys; nothing of the system's ssh set-up is used.
#
#   start_sshd DIR ADDR PORT [PREFIX...]   PREFIX runs it elsewhere (wan exec b --)
# sets SSHD_PID and SSH_OPTS (an array for ssh, scp and sftp).

start_sshd() {
    local dir=$1 addr=$2 port=$3; shift 3
    local sshd=${SSHD:-/usr/sbin/sshd}
    [[ -x $sshd ]] || { echo "no sshd at $sshd (apt-get install openssh-server)" >&2; return 1; }
    mkdir -p /run/sshd "$dir"
    rm -f "$dir/host_key" "$dir/client_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    cat > "$dir/sshd_config" <<CFG
Port $port
ListenAddress $addr
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
PidFile $dir/sshd.pid
CFG
    "$@" "$sshd" -D -e -f "$dir/sshd_config" 2> "$dir/sshd.log" &
    SSHD_PID=$!
    SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
              -i "$dir/client_key" -c "${CIPHER:-aes128-gcm@openssh.com}" -o Compression=no)
}
