#!/usr/bin/env bash
# The advisory check: cargo-audit, installed here from crates.io (pinned,
# --locked) when missing, audits Cargo.lock against the vendored snapshot of
# the RustSec advisory database in .ci/audit/advisory-db, offline.
#
# CI cannot reach the advisory database's git host, so the snapshot is
# vendored and refreshed by hand (refresh.sh). This fails when a crate of
# Cargo.lock is not covered by the snapshot (refresh it), and when a
# dependency has a known vulnerability or is unsound; it warns when the
# snapshot is more than 90 days old.
set -euo pipefail
cd "$(dirname "$0")/../.."
DB=.ci/audit/advisory-db
VERSION=0.22.2
MAX_AGE_DAYS=90

if ! cargo audit --version 2> /dev/null | grep -qx "cargo-audit-audit $VERSION"; then
    echo "installing cargo-audit $VERSION from crates.io (takes a few minutes)"
    cargo install --locked --quiet --no-default-features cargo-audit --version "$VERSION"
fi

# Every crate of Cargo.lock must have been looked up in the snapshot.
missing=$(comm -23 \
    <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u) \
    <(sed -n 's/^covers //p' "$DB/SNAPSHOT" | sort -u))
if [[ -n $missing ]]; then
    echo "advisories: the snapshot does not cover these crates of Cargo.lock:" >&2
    sed 's/^/  /' <<< "$missing" >&2
    echo "refresh it: bash .ci/audit/refresh.sh /path/to/advisory-db (see .ci/audit/README.md)" >&2
    exit 1
fi

date=$(sed -n 's/^date //p' "$DB/SNAPSHOT")
age=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "advisory database snapshot of $date ($age days old)"
if (( age > MAX_AGE_DAYS )); then
    echo "warning: the snapshot is over $MAX_AGE_DAYS days old; refresh it (.ci/audit/README.md)" >&2
fi

cargo audit --no-fetch --no-yanked --db "$DB" --file Cargo.lock --deny unsound
