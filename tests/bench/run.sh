#!/usr/bin/env bash
# One command for the whole benchmark: starts PostgreSQL and Redis (as the
# test suite does), builds Gatehouse in release mode, runs the oidc-provider
# peer (../shared/peers/oidc-provider) and then Gatehouse in both shapes
# under the same pinning, and prints one table with ratios to the peer.
#
#   tests/bench/run.sh              DUR=10 WARM=3 CONNS=32 by default
#   PEER=0 tests/bench/run.sh       skip the peer (no ratios)
#   PIN=0 tests/bench/run.sh        nothing pinned (peer included): both cores shared
#   ONLY=grpc_introspect,client_credentials tests/bench/run.sh   a subset
#   CACHE_SHAPES=1 tests/bench/run.sh   the production shape also on a Redis
#                                       Sentinel group and on the Redis Cluster
set -euo pipefail
cd "$(dirname "$0")/../.."
export DUR="${DUR:-10}" WARM="${WARM:-3}" CONNS="${CONNS:-32}"
PEER="${PEER:-1}"
PIN="${PIN:-1}"
PEER_DIR="${PEER_DIR:-../shared/peers/oidc-provider}"

source tests/services.sh
for tool in wrk curl taskset; do
  command -v "$tool" >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends wrk curl util-linux >/dev/null; break; }
done
cargo build --release --locked -p gatehouse -p gatehouse-bench

if [ "${CACHE_SHAPES:-0}" = 1 ]; then
  # A Sentinel group (master, replica, three sentinels) next to the suite's
  # Redis and Cluster, and a database per extra shape on the same PostgreSQL.
  SENTINEL_MASTER_PORT=$(free_port); SENTINEL_REPLICA_PORT=$(free_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$SENTINEL_MASTER_PORT" --save '' --appendonly no \
    --dir "$SVC_DIR" --pidfile "$SVC_DIR/redis-sm.pid" --logfile "$SVC_DIR/redis-sm.log"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$SENTINEL_REPLICA_PORT" --save '' --appendonly no \
    --replicaof 127.0.0.1 "$SENTINEL_MASTER_PORT" \
    --dir "$SVC_DIR" --pidfile "$SVC_DIR/redis-sr.pid" --logfile "$SVC_DIR/redis-sr.log"
  SENTINELS=()
  for n in 1 2 3; do
    port=$(free_port)
    printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor bench 127.0.0.1 %s 2\nsentinel down-after-milliseconds bench 1000\n' \
      "$port" "$SVC_DIR" "$SENTINEL_MASTER_PORT" > "$SVC_DIR/sentinel-$n.conf"
    redis-server "$SVC_DIR/sentinel-$n.conf" --sentinel --daemonize yes \
      --pidfile "$SVC_DIR/redis-sentinel-$n.pid" --logfile "$SVC_DIR/sentinel-$n.log"
    SENTINELS+=("127.0.0.1:$port")
  done
  for db in bench_sentinel bench_cluster; do
    runuser -u postgres -- "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $db" >/dev/null
  done
  PG_BASE="postgres://postgres@127.0.0.1:$PG_PORT"
  export BENCH_CACHE_SHAPES="production (sentinel)|$PG_BASE/bench_sentinel|redis+sentinel://$(IFS=,; echo "${SENTINELS[*]}")/bench;production (cluster)|$PG_BASE/bench_cluster|$TEST_REDIS_CLUSTER_URL"
fi

if [ "$PEER" = 1 ] && [ -f "$PEER_DIR/bench.sh" ]; then
  echo "running the peer (oidc-provider), ${DUR}s per scenario"
  PIN="$PIN" WORKDIR=/tmp/oidc-provider-bench bash "$PEER_DIR/bench.sh" > /tmp/oidc-provider-bench.log 2>&1 || { tail -20 /tmp/oidc-provider-bench.log; exit 1; }
  export PEER_SUMMARY=/tmp/oidc-provider-bench/results/summary.md
  # The peer rotating its refresh tokens (ROTATE=1), pinned as above, for
  # gatehouse-bench to drive: each connection follows its own chain, which
  # the peer's wrk scripts cannot.
  PEER_ROTATING_PORT=$(free_port)
  ( cd /tmp/oidc-provider-bench && ROTATE=1 PORT="$PEER_ROTATING_PORT" exec $( [ "$PIN" = 1 ] && echo "taskset -c ${SERVER_CPU:-1}" ) node runner.mjs ) \
    > /tmp/oidc-provider-rotating.log 2>&1 &
  PEER_ROTATING_PID=$!
  trap 'kill "$PEER_ROTATING_PID" 2>/dev/null; stop_services' EXIT
  for _ in $(seq 50); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$PEER_ROTATING_PORT/" && break; sleep 0.2; done
  export PEER_ROTATING_URL="http://127.0.0.1:$PEER_ROTATING_PORT" PEER_ROTATING_PID
fi

# The same pinning as the peer's bench.sh: server processes on CPU 1, the
# load generator on CPU 0 (PostgreSQL and Redis are not pinned). PIN=0 pins
# nothing, as the peer's PIN=0 does.
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-target/release/gatehouse}"
if [ "$PIN" = 1 ]; then
  export SERVER_CPU="${SERVER_CPU-1}"
  taskset -c "${CLIENT_CPU:-0}" target/release/gatehouse-bench
else
  SERVER_CPU= target/release/gatehouse-bench
fi
