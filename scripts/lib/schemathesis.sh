# The API fuzzer stage of scripts/test-all: schemathesis (pinned in
# orrery-server/tests/schemathesis/requirements.txt) against a live `orrery serve` with every
# check on. Sourced; defines `schemathesis_stage`.
#
#   ORRERY_SCHEMATHESIS_EXAMPLES   test cases per operation and phase (default 25)
#   ORRERY_SCHEMATHESIS_SECONDS    time budget of the whole run (default 180)
#
# The server is the debug binary cargo test built, on a fresh SQLite database, with billing
# against the Stripe emulator of the API tests (built by cargo test as an example), cheap
# password hashing and rate limits out of the way (429s would hide everything else). An
# ordinary account (free plan, no trial, so plan limits answer 402) and an admin (for
# /api/admin) authenticate the requests. Any finding fails the stage; the reports (JUnit, and
# NDJSON to replay with `schemathesis replay`) stay in OUT_DIR.

# schemathesis_stage VENV BIN_DIR OUT_DIR: installs schemathesis into VENV, starts the emulator
# and the server from BIN_DIR (target/debug), fuzzes, stops them.
schemathesis_stage() {
  local venv=$1 bin=$2 out=$3 here=orrery-server/tests/schemathesis
  local examples=${ORRERY_SCHEMATHESIS_EXAMPLES:-25} seconds=${ORRERY_SCHEMATHESIS_SECONDS:-180}
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  if ! cmp -s "$here/requirements.txt" "$venv/.schemathesis-requirements"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.schemathesis-requirements"
  fi

  local dir port url emu_pid server_pid status=0
  dir=$(mktemp -d "${TMPDIR:-/tmp}/orrery-schemathesis.XXXXXX")
  port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url=http://127.0.0.1:$port
  "$bin/examples/stripe_emulator" "$url/api/billing/webhook" >"$dir/stripe.env" 2>"$dir/stripe.log" &
  emu_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(wc -l <"$dir/stripe.env") -ge 5 ]] && break
    sleep 0.1
  done
  (
    set -a
    # shellcheck disable=SC1091
    source "$dir/stripe.env"
    set +a
    export ORRERY_DATA_DIR=$dir/data ORRERY_BIND=127.0.0.1:$port ORRERY_PUBLIC_URL=$url
    export ORRERY_ARGON2_MEMORY_KIB=64 ORRERY_ARGON2_ITERATIONS=1
    export ORRERY_AUTH_REQUESTS_PER_MINUTE=1000000 ORRERY_ANONYMOUS_REQUESTS_PER_MINUTE=1000000
    export ORRERY_LIMITS_SCALE=1000000 ORRERY_TRIAL_DAYS=0 ORRERY_ACCESS_TOKEN_MINUTES=60
    printf 'fuzz-admin-password\n' | "$bin/orrery" admin create-user --email admin@example.com \
      --name Admin --role admin --password-stdin >/dev/null
    exec "$bin/orrery" serve
  ) >"$dir/server.log" 2>&1 &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    curl -sf "$url/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done

  local token='import json, sys; print(json.load(sys.stdin)["token"])'
  ORRERY_FUZZ_USER_TOKEN=$(curl -sf -H 'content-type: application/json' \
    -d '{"email":"fuzz@example.com","password":"fuzz-user-password","name":"Fuzz"}' \
    "$url/api/auth/signup" | "$venv/bin/python" -c "$token") || status=1
  ORRERY_FUZZ_ADMIN_TOKEN=$(curl -sf -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","password":"fuzz-admin-password"}' \
    "$url/api/auth/signin" | "$venv/bin/python" -c "$token") || status=1
  if [[ $status == 0 ]]; then
    mkdir -p "$out"
    # From OUT_DIR, where schemathesis keeps its cache of failures to replay (.schemathesis/).
    local config
    config=$(cd "$here" && pwd)
    (
      cd "$out"
      ORRERY_FUZZ_USER_TOKEN=$ORRERY_FUZZ_USER_TOKEN ORRERY_FUZZ_ADMIN_TOKEN=$ORRERY_FUZZ_ADMIN_TOKEN \
        SCHEMATHESIS_HOOKS=hooks PYTHONPATH=$config NO_COLOR=1 \
        "$venv/bin/schemathesis" --config-file "$config/schemathesis.toml" run "$url/openapi.json" \
        --checks all --exclude-checks positive_data_acceptance \
        --max-examples "$examples" --max-time "$seconds" --workers 1 \
        --report junit,ndjson --report-dir "$out"
    ) 2>&1 | tee "$dir/schemathesis.out" || status=$?
    # A fuzzer whose credentials stopped working passes while testing nothing behind them. Only
    # the routes that take their credentials in the body (a password or a refresh token no
    # fuzzer can have) may answer 401 alone.
    local refused
    refused=$(awk '/^40[13] [A-Za-z]+ \(/ { on = 1; next }
                   on && /^  - / { print substr($0, 5); next }
                   { on = 0 }' "$dir/schemathesis.out" |
      grep -vx -e 'POST /api/auth/refresh' -e 'POST /api/auth/signin' || true)
    if [[ -n "$refused" ]]; then
      printf 'schemathesis lost its credentials; only 401/403 from:\n%s\n' "$refused" >&2
      status=1
    fi
  else
    echo "the fuzzer's accounts could not be made (server log: $dir/server.log)" >&2
  fi
  kill "$server_pid" "$emu_pid" 2>/dev/null || true
  wait "$server_pid" "$emu_pid" 2>/dev/null || true
  if [[ $status != 0 ]]; then
    cp "$dir/server.log" "$out/server.log" 2>/dev/null || true
    echo "schemathesis found problems; the server's log is in $out/server.log" >&2
  fi
  rm -rf "$dir"
  return "$status"
}
