#!/bin/sh
# Starts `orrery serve` for the end-to-end tests: a fresh data directory, an administrator
# (admin@example.com / e2e-admin-password), cheap password hashing and generous auth limits.
#
# Billing goes to the API tests' Stripe emulator (the `stripe_emulator` example beside the
# binary), whose Checkout and portal pages the browser visits. Mail goes to a real SMTP server,
# aiosmtpd from the Python in $ORRERY_TEST_PYTHON (default python3), which writes a Maildir
# ($E2E_MAILDIR); without aiosmtpd (allowed outside CI only) the server logs every mail
# instead. The tests read mails from whichever there is. The log ($E2E_SERVER_LOG) is JSON.
set -eu
port=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=${ORRERY_BIN:-$here/../../../target/debug/orrery}
emulator=${bin%/*}/examples/stripe_emulator
python=${ORRERY_TEST_PYTHON:-python3}
maildir=${E2E_MAILDIR:-$here/../artifacts/maildir}
log=${E2E_SERVER_LOG:-$here/../artifacts/server.log}
dir=$(mktemp -d)
children=

stop() {
  for pid in $children; do
    kill "$pid" 2>/dev/null || true
  done
  wait || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# started LINES FILE PID WHAT: waits until the process PID has written LINES lines to FILE
# (made empty before PID started: the background job's redirection may come later); fails with
# its standard error (FILE.err) when it exits first or takes over 30 s.
started() {
  i=0
  while [ "$(wc -l <"$2")" -lt "$1" ]; do
    if ! kill -0 "$3" 2>/dev/null || [ "$i" -ge 300 ]; then
      echo "e2e/serve.sh: $4 did not start:" >&2
      cat "$2.err" >&2
      exit 1
    fi
    i=$((i + 1))
    sleep 0.1
  done
}

mkdir "$dir/data"
export ORRERY_DATA_DIR="$dir/data"
export ORRERY_BIND="127.0.0.1:$port"
export ORRERY_PUBLIC_URL="http://127.0.0.1:$port"
export ORRERY_ARGON2_MEMORY_KIB=1024
export ORRERY_ARGON2_ITERATIONS=1
export ORRERY_AUTH_REQUESTS_PER_MINUTE=1000
export ORRERY_ANONYMOUS_REQUESTS_PER_MINUTE=10000
export ORRERY_LOG_FORMAT=json
printf 'e2e-admin-password\n' | "$bin" admin create-user --email admin@example.com --name Admin --role admin --password-stdin >/dev/null

if [ ! -x "$emulator" ]; then
  echo "e2e/serve.sh: no Stripe emulator at $emulator (cargo build -p orrery-server --bin orrery --examples)" >&2
  exit 1
fi
: >"$dir/stripe.env"
"$emulator" "http://127.0.0.1:$port/api/billing/webhook" >"$dir/stripe.env" 2>"$dir/stripe.env.err" &
children="$children $!"
started 5 "$dir/stripe.env" $! "the Stripe emulator"

# The Maildir of an earlier run goes; the tests take a Maildir as the sign that SMTP is on.
rm -rf "$maildir/new" "$maildir/cur" "$maildir/tmp"
: >"$dir/smtp.env"
if "$python" -c 'import aiosmtpd' 2>/dev/null; then
  "$python" "$here/smtp-sink.py" "$maildir" >"$dir/smtp.env" 2>"$dir/smtp.env.err" &
  children="$children $!"
  started 1 "$dir/smtp.env" $! "the SMTP sink (aiosmtpd)"
elif [ -n "${CI:-}" ]; then
  echo "e2e/serve.sh: CI is set but $python has no aiosmtpd (set ORRERY_TEST_PYTHON, or run scripts/test-all)" >&2
  exit 1
else
  echo "e2e/serve.sh: WARNING: $python has no aiosmtpd (set ORRERY_TEST_PYTHON): mails go to the server log" >&2
fi

# ORRERY_STRIPE_… and ORRERY_SMTP_URL, as the emulator and the sink printed them.
set -a
. "$dir/stripe.env"
. "$dir/smtp.env"
set +a

mkdir -p "$(dirname "$log")"
: >"$log"
"$bin" serve >>"$log" 2>&1 &
children="$children $!"
wait $!
