# Starts what the test suite needs: a throw-away Redis and PostgreSQL on free
# loopback ports, installed from Debian's packages when missing. Sourced by
# tests/run.sh; exports TEST_REDIS_URL and TEST_DATABASE_URL and stops both on exit.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SVC_DIR=$(mktemp -d /tmp/gatehouse-svc.XXXXXX)
chmod 755 "$SVC_DIR"

REDIS_PORT=$(free_port)
redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
  --dir "$SVC_DIR" --pidfile "$SVC_DIR/redis.pid" --logfile "$SVC_DIR/redis.log"
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping | grep -q PONG || { echo "redis did not start"; cat "$SVC_DIR/redis.log"; exit 1; }
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
export TEST_REDIS_PORT="$REDIS_PORT"

PG_PORT=$(free_port)
install -d -o postgres -g postgres "$SVC_DIR/pg"
# initdb refuses to run as root, so PostgreSQL runs as its own user.
runuser -u postgres -- "$PGBIN/initdb" -D "$SVC_DIR/pg/data" -U postgres --auth=trust \
  --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SVC_DIR/pg/data" -l "$SVC_DIR/pg/log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SVC_DIR/pg -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

stop_services() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SVC_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  if [ -f "$SVC_DIR/redis.pid" ]; then kill "$(cat "$SVC_DIR/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$SVC_DIR" 2>/dev/null || true
}
trap stop_services EXIT
echo "redis on $TEST_REDIS_URL, postgres on $TEST_DATABASE_URL"
