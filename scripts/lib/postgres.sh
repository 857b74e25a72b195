# Starts and stops a throwaway PostgreSQL cluster for tests and benchmarks. Source this file,
# then:
#
#   dir=$(mktemp -d)
#   url=$(postgres_start "$dir") || echo "no postgres"   # postgres://postgres@127.0.0.1:PORT/postgres
#   ...
#   tls_url=$(postgres_tls "$dir")                        # TLS on too; prints postgres://…localhost…
#   postgres_stop "$dir"
#
# The cluster runs as the `postgres` user (initdb refuses root), listens on a free loopback
# port and keeps nothing durable (fsync off): it is thrown away with its directory.

# The directory holding initdb and pg_ctl: PATH first, then Debian's versioned folders.
postgres_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# Installs PostgreSQL from Debian's packages when no server binaries are found (needs root).
postgres_install() {
  postgres_bindir >/dev/null && return 0
  [[ $(id -u) == 0 ]] || return 1
  command -v apt-get >/dev/null || return 1
  echo "installing postgresql from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  postgres_bindir >/dev/null
}

# A TCP port nobody listens on right now.
postgres_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres user when we are root, else as ourselves.
postgres_as() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# postgres_start DIR: creates and starts a cluster in DIR/data; prints its URL. When run as root,
# DIR is given to the postgres user, and every folder above it must let that user through (a
# fresh `mktemp -d` under /tmp does).
postgres_start() {
  local dir=$1 bin port
  bin=$(postgres_bindir) || postgres_install || return 1
  bin=$(postgres_bindir) || return 1
  port=$(postgres_free_port) || return 1
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then
    # The cluster's parent must be reachable by the postgres user.
    chmod 755 "$dir"
    chown postgres: "$dir"
  fi
  postgres_as "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 \
    --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  postgres_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; return 1; }
  echo "$port" >"$dir/port"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

# postgres_tls DIR: turns TLS on in the cluster postgres_start made in DIR, with a throwaway CA
# (DIR/tls/ca.crt) and a server certificate for localhost and 127.0.0.1 signed by it, plus an
# unrelated CA (DIR/tls/wrong-ca.crt) for tests that must fail verification. Plain connections
# keep working. Prints the cluster's URL with host localhost (for verify-full); the caller adds
# sslmode and sslrootcert.
postgres_tls() {
  local dir=$1 bin port tls=$1/tls
  bin=$(postgres_bindir) || return 1
  port=$(cat "$dir/port" 2>/dev/null) || return 1
  mkdir -p "$tls"
  (
    cd "$tls" || exit 1
    # Elliptic-curve keys: a few milliseconds each, where RSA takes a noticeable fraction of a
    # second on a slow machine.
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
      -subj "/CN=orrery test CA" -keyout ca.key -out ca.crt &&
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
      -subj "/CN=orrery wrong CA" -keyout wrong-ca.key -out wrong-ca.crt &&
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -subj "/CN=localhost" -keyout server.key -out server.csr &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt
  ) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; return 1; }
  cp "$tls/server.crt" "$tls/server.key" "$dir/data/"
  chmod 600 "$dir/data/server.key"
  [[ $(id -u) == 0 ]] && chown postgres: "$dir/data/server.crt" "$dir/data/server.key" && chmod 755 "$tls"
  # ssl takes effect on reload; server.crt and server.key are its defaults' names.
  echo "ssl = on" >>"$dir/data/postgresql.conf"
  postgres_as "$bin/pg_ctl" -D "$dir/data" reload >/dev/null || return 1
  echo "postgres://postgres@localhost:$port/postgres"
}

# postgres_stop DIR: stops the cluster in DIR/data and removes DIR.
postgres_stop() {
  local dir=$1 bin
  bin=$(postgres_bindir) || return 0
  [[ -d "$dir/data" ]] && postgres_as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
