# Starts what the test suite needs: a throw-away Redis and PostgreSQL on free
# loopback ports, installed from Debian's packages when missing, and a
# six-node Redis Cluster (three masters, one replica each). Sourced by
# tests/run.sh; exports TEST_REDIS_URL, TEST_REDIS_CLUSTER_URL and
# TEST_DATABASE_URL and stops them all on exit.
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

# A cluster node also listens 10000 above its port (the cluster bus): both
# free, both below the ephemeral range.
cluster_port() { python3 -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randrange(10000, 20000)
    if free(p) and free(p + 10000):
        print(p); break'; }
CLUSTER_NODES=()
for _ in 1 2 3 4 5 6; do
  port=$(cluster_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file "$SVC_DIR/cluster-$port.conf" --cluster-node-timeout 1000 \
    --dir "$SVC_DIR" --pidfile "$SVC_DIR/cluster-$port.pid" --logfile "$SVC_DIR/cluster-$port.log"
  CLUSTER_NODES+=("127.0.0.1:$port")
done
for node in "${CLUSTER_NODES[@]}"; do
  for _ in $(seq 100); do redis-cli -p "${node#*:}" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done
redis-cli --cluster create "${CLUSTER_NODES[@]}" --cluster-replicas 1 --cluster-yes >"$SVC_DIR/cluster-create.log" \
  || { echo "the redis cluster was not created"; cat "$SVC_DIR/cluster-create.log"; exit 1; }
for node in "${CLUSTER_NODES[@]}"; do
  for _ in $(seq 200); do redis-cli -p "${node#*:}" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
done
export TEST_REDIS_CLUSTER_URL="redis+cluster://${CLUSTER_NODES[0]},${CLUSTER_NODES[1]},${CLUSTER_NODES[2]}"

PG_PORT=$(free_port)
install -d -o postgres -g postgres "$SVC_DIR/pg"
# initdb refuses to run as root, so PostgreSQL runs as its own user.
runuser -u postgres -- "$PGBIN/initdb" -D "$SVC_DIR/pg/data" -U postgres --auth=trust \
  --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SVC_DIR/pg/data" -l "$SVC_DIR/pg/log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SVC_DIR/pg -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_preload_libraries=pg_stat_statements" \
  start >/dev/null
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

stop_services() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SVC_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  for pid in "$SVC_DIR"/redis*.pid "$SVC_DIR"/cluster-*.pid; do
    if [ -f "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
  rm -rf "$SVC_DIR" 2>/dev/null || true
}
trap stop_services EXIT
echo "redis on $TEST_REDIS_URL, a redis cluster on $TEST_REDIS_CLUSTER_URL, postgres on $TEST_DATABASE_URL"
