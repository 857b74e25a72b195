# Starts and stops a throwaway Redis for tests. Source this file, then:
#
#   url=$(redis_start "$dir") || echo "no redis"   # redis://127.0.0.1:PORT/
#   ...
#   redis_stop "$dir"
#
# Nothing is persisted (no RDB, no AOF); it is thrown away with its directory.

redis_install() {
  command -v redis-server >/dev/null && return 0
  [[ $(id -u) == 0 ]] || return 1
  command -v apt-get >/dev/null || return 1
  echo "installing redis-server from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
}

# redis_start DIR: starts redis-server on a free loopback port with its pid file in DIR; prints
# its URL.
redis_start() {
  local dir=$1 port
  redis_install || return 1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >&2 || return 1
  local _
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && { echo "redis://127.0.0.1:$port/"; return 0; }
    sleep 0.1
  done
  return 1
}

redis_stop() {
  local dir=$1
  [[ -f "$dir/redis.pid" ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
  rm -rf "$dir"
}
