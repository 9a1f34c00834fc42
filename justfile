# ferry's everyday commands. `just ci` runs exactly what CI runs.

# Serve ./served on the default port, keeping the certificate in certs/.
serve root="served":
    mkdir -p {{root}}
    cargo run --release -- serve {{root}} --certs certs

# The test suite, as README.md gives it.
test:
    cargo test --workspace --locked

# What CI runs: formatting, lints with warnings as errors, and the tests.
ci:
    bash .ci/run

# Throughput on 127.0.0.1: 1 GiB down and up, 32 x 32 MiB, 1000 x 32 KiB.
bench *args:
    bash bench/run.sh {{args}}

# A quick smoke run of the benchmark with small sizes.
bench-quick:
    QUICK=1 RUNS=1 bash bench/run.sh

# ferry, scp and sftp side by side on 127.0.0.1 (needs sshd installed).
bench-compare:
    bash bench/compare.sh

# ferry through an emulated 50 ms, 100 Mbit/s link (needs root).
bench-wan *args:
    bash bench/wan.sh {{args}}

# ferry serving a bucket (SeaweedFS on 127.0.0.1) beside a local directory
# and beside rclone on the same bucket.
bench-s3:
    bash bench/s3.sh

# the S3 download far from its store (root; the wan tool)
bench-s3-wan:
    bash bench/s3-wan.sh

# A real S3 server on 127.0.0.1 for the S3 tests: `just seaweedfs start`,
# then `. target/seaweedfs/env`; `just seaweedfs stop`.
seaweedfs cmd="start":
    bash scripts/seaweedfs.sh {{cmd}}
