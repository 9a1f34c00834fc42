#!/usr/bin/env bash
# Refreshes the vendored advisory snapshot (.ci/audit/advisory-db) from a
# copy of the RustSec advisory database (rustsec/advisory-db, a git clone or
# mirror), keeping the advisories of the crates in Cargo.lock.
#
#   bash .ci/audit/refresh.sh /path/to/advisory-db
#
# Run it when Cargo.lock gains a crate (check.sh then fails and says so),
# and now and then for new advisories (check.sh prints the snapshot's age).
set -euo pipefail
SRC=${1:?usage: bash .ci/audit/refresh.sh /path/to/advisory-db (a git clone or mirror)}
cd "$(dirname "$0")/../.."
DB=.ci/audit/advisory-db

git -C "$SRC" rev-parse --verify -q HEAD > /dev/null || { echo "refresh: $SRC is not a git repository" >&2; exit 1; }
commit=$(git -C "$SRC" rev-parse HEAD)
date=$(git -C "$SRC" log -1 --format=%cs HEAD)
mapfile -t crates < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u)

rm -rf "$DB"
mkdir -p "$DB/crates"
kept=0
for name in "${crates[@]}"; do
    if git -C "$SRC" cat-file -e "HEAD:crates/$name" 2> /dev/null; then
        git -C "$SRC" archive HEAD "crates/$name" | tar -x -C "$DB"
        kept=$((kept + 1))
    fi
done
# Its licence (CC0, with CC-BY-4.0 for the advisories that say so, each
# carrying its source URL for attribution).
git -C "$SRC" archive HEAD LICENSE.txt LICENSES | tar -x -C "$DB"
{
    echo "# A trimmed snapshot of the RustSec advisory database (rustsec/advisory-db),"
    echo "# made by .ci/audit/refresh.sh: the advisories of the crates listed below."
    echo "commit $commit"
    echo "date $date"
    printf 'covers %s\n' "${crates[@]}"
} > "$DB/SNAPSHOT"
echo "refresh: $DB: ${#crates[@]} crates checked, $kept with advisories, database of $date (${commit:0:12})"
