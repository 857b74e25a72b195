#!/usr/bin/env bash
# The storage benchmark behind BENCHMARKS.md. Starts a throwaway PostgreSQL (like
# scripts/test-all), measures its read path with `pgbench -S` (8 clients, prepared statements),
# then runs `benches/benches/store.rs` on SQLite and on that PostgreSQL in interleaved rounds:
# the store and bare sqlx issuing the same statements take turns, so a busy machine slows them
# alike, and each ratio is the median of the rounds' ratios.
#
#   benches/store/run.sh               pgbench and the ratio table (about 6 minutes on 2 cores)
#   benches/store/run.sh --criterion   also criterion's absolute figures (15 minutes more)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/postgres.sh

# Its own folder under the temporary directory: the postgres user must reach it.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/orrery-bench-pg.XXXXXX")
trap 'postgres_stop "$pg_dir"' EXIT
url=$(postgres_start "$pg_dir")
echo "PostgreSQL at $url"
bin=$(postgres_bindir)
pgbench=$(command -v pgbench || echo "$bin/pgbench")

# 1,000,000 accounts (scale 10): primary-key lookups in a table far larger than what is read.
"$pgbench" -i -s 10 -q "$url" 2>&1 | tail -1
"$pgbench" -S -M prepared -c 8 -j 2 -T 30 -n "$url"

cargo bench -p orrery-benches --bench store --no-run
ORRERY_STORE_BENCH_ROUNDS=1 ORRERY_BENCH_POSTGRES_URL=$url \
  cargo bench -p orrery-benches --bench store

if [[ "${1:-}" == "--criterion" ]]; then
  ORRERY_BENCH_POSTGRES_URL=$url cargo bench -p orrery-benches --bench store
fi
