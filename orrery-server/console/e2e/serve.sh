#!/bin/sh
# Starts `orrery serve` for the end-to-end tests: a fresh data directory, an administrator
# (admin@example.com / e2e-admin-password), cheap password hashing and generous auth limits.
# Without SMTP the server logs every mail; the log ($E2E_SERVER_LOG) is where the tests read
# the links mails carry.
set -eu
port=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=${ORRERY_BIN:-$here/../../../target/debug/orrery}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export ORRERY_DATA_DIR="$dir"
export ORRERY_BIND="127.0.0.1:$port"
export ORRERY_PUBLIC_URL="http://127.0.0.1:$port"
export ORRERY_ARGON2_MEMORY_KIB=1024
export ORRERY_ARGON2_ITERATIONS=1
export ORRERY_AUTH_REQUESTS_PER_MINUTE=1000
export ORRERY_ANONYMOUS_REQUESTS_PER_MINUTE=10000
printf 'e2e-admin-password\n' | "$bin" admin create-user --email admin@example.com --name Admin --role admin --password-stdin >/dev/null
log=${E2E_SERVER_LOG:-$here/../artifacts/server.log}
mkdir -p "$(dirname "$log")"
: >"$log"
"$bin" serve >>"$log" 2>&1
