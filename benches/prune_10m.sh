#!/usr/bin/env bash
# The 10-million-row prune measurement (issue 13): does pruning a huge fire
# history slow the hot path of a busy node?
#
# It starts a private PostgreSQL (initdb + pg_ctl in a temporary folder, on
# a free loopback port, as user `postgres` when run as root, with
# pg_stat_statements), runs `cosched serve` with JOBS every-second noop
# jobs, seeds ROWS old `succeeded` fires by SQL (generate_series), then
# measures for SECONDS each:
#
#   before: the node firing while the prune lease is held by a stand-in
#           owner, so its pruner does nothing;
#   during: the lease freed and the node restarted, so its pruner removes
#           the seeded rows (1000 a transaction, 50 ms apart).
# Both phases run the default retention (`succeeded` kept 14 days; the
# seeded rows are 40 days old and more).
#
# Each phase reports, from a side connection timing the two lease SELECTs
# (triggers due, queued fires due; the node's own statement shapes without
# FOR UPDATE, so the probe takes no lock) every 100 ms: p50/p99/max; from
# pg_stat_statements: calls, mean and max of the node's lease UPDATEs; the
# node's fire lateness histogram (/metrics); and the fires removed.
#
# Usage: benches/prune_10m.sh [COSCHED_BINARY]   (default target/release/cosched)
# Environment: ROWS (10000000), JOBS (200), SECONDS (60), PGBIN
# (/usr/lib/postgresql/15/bin), KEEP=1 keeps the folder for a look after.
set -euo pipefail

BIN=${1:-target/release/cosched}
BIN=$(readlink -f "$BIN")
ROWS=${ROWS:-10000000}
JOBS=${JOBS:-200}
SECONDS_PER_PHASE=${SECONDS:-60}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DIR=$(mktemp -d /tmp/cosched-prune-XXXXXX)
chmod 755 "$DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
HTTP_PORT=$(free_port)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi

cleanup() {
  [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w start -o \
  "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements \
   -c pg_stat_statements.track=all -c fsync=on -c synchronous_commit=on" >/dev/null
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE cosched"
"${PSQL[@]}" -d cosched -c "CREATE EXTENSION pg_stat_statements"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/cosched"

config() { # $1: the [scheduler] keep_fires line
  {
    printf '[scheduler]\nmax_concurrent = 512\n%s\n\n[http]\nlisten = "127.0.0.1:%s"\n\n' "$1" "$HTTP_PORT"
    for i in $(seq 1 "$JOBS"); do
      printf '[[job]]\nname = "tick-%04d"\nkind = "noop"\nevery = "1s"\n\n' "$i"
    done
  } > "$DIR/jobs.toml"
}

start_node() {
  "$BIN" serve --config "$DIR/jobs.toml" > "$DIR/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the node did not start:"; cat "$DIR/node.log"; exit 1
}
stop_node() { kill "$NODE_PID"; wait "$NODE_PID" || true; NODE_PID=; }

# The jobs exist once a node reconciled the file.
config ''
start_node
stop_node

echo "seeding $ROWS old fires over $JOBS jobs ..."
T0=$(date +%s%3N)
"${PSQL[@]}" -d cosched <<SQL
INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, attempt, fence, status)
SELECT j.id, j.name, t, t, t, t + 5, 1, 1, 'succeeded'
FROM (SELECT id, name, row_number() OVER (ORDER BY id) - 1 AS k FROM jobs) j
JOIN LATERAL (
  SELECT $T0 - 40 * 86400000::bigint - g * 1000 AS t
  FROM generate_series(1, ($ROWS / $JOBS)::bigint) g
) s ON TRUE;
VACUUM ANALYZE fires;
SQL
echo "seeded in $(( ($(date +%s%3N) - T0) / 1000 )) s: $("${PSQL[@]}" -d cosched -Atc 'SELECT count(*) FROM fires') rows"

probe() { # side-connection timings of the two lease SELECTs, every 100 ms
  local n=$(( SECONDS_PER_PHASE * 10 ))
  {
    echo '\timing on'
    for _ in $(seq 1 "$n"); do
      echo "SELECT id FROM triggers WHERE state = 'waiting' AND pool IN ('default') AND next_fire_at <= (extract(epoch from clock_timestamp()) * 1000)::bigint + 25 AND (lease_until IS NULL OR lease_until < (extract(epoch from clock_timestamp()) * 1000)::bigint) ORDER BY priority DESC, CASE WHEN next_fire_at < (extract(epoch from clock_timestamp()) * 1000)::bigint - COALESCE(misfire_threshold_ms, 60000) THEN 1 ELSE 0 END, next_fire_at, id LIMIT 512;"
      echo "SELECT f.id FROM fires f JOIN jobs j ON j.id = f.job_id WHERE f.status = 'queued' AND f.due_at <= (extract(epoch from clock_timestamp()) * 1000)::bigint AND j.paused = FALSE AND j.pool IN ('default') ORDER BY j.priority DESC, f.due_at, f.id LIMIT 512;"
      echo "SELECT pg_sleep(0.1);"
    done
  } | "${PSQL[@]}" -d cosched -o /dev/null 2>&1 | awk '/^Time:/ {print $2}' > "$DIR/probe.raw"
  # Every third timing is the sleep.
  awk 'NR % 3 != 0' "$DIR/probe.raw" | sort -n > "$DIR/probe.sorted"
  awk '{a[NR]=$1} END {printf "  probe (%d lease SELECTs): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", NR, a[int(NR*0.5)], a[int(NR*0.99)], a[NR]}' "$DIR/probe.sorted"
}

phase() { # $1: name
  local deleted0 deleted1
  "${PSQL[@]}" -d cosched -c "SELECT pg_stat_statements_reset()" >/dev/null
  deleted0=$("${PSQL[@]}" -d cosched -Atc "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'fires'")
  curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" > "$DIR/metrics.$1.0"
  echo "== $1: $(cat /proc/loadavg)"
  probe
  deleted1=$("${PSQL[@]}" -d cosched -Atc "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'fires'")
  curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" > "$DIR/metrics.$1.1"
  "${PSQL[@]}" -d cosched -At -F ' ' -c "
    SELECT CASE WHEN query LIKE 'WITH due AS (SELECT id FROM triggers%' THEN 'lease triggers'
                WHEN query LIKE 'WITH due AS (SELECT f.id FROM fires%' THEN 'lease fires'
                ELSE 'prune delete' END,
           sum(calls), round((sum(total_exec_time) / sum(calls))::numeric, 3), round(max(max_exec_time)::numeric, 3)
    FROM pg_stat_statements
    WHERE query LIKE 'WITH due AS (SELECT%' OR query LIKE 'DELETE FROM fires%'
    GROUP BY 1 ORDER BY 1" | awk '{printf "  %s %s: %s calls, mean %s ms, max %s ms\n", $1, $2, $3, $4, $5}'
  echo "  fires removed: $(( deleted1 - deleted0 )); $(cat /proc/loadavg)"
  python3 - "$DIR/metrics.$1.0" "$DIR/metrics.$1.1" <<'PY'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'cosched_fire_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
d = [(k, b[k] - a.get(k, 0)) for k in b]
total = d[-1][1] if d else 0
def q(p):
    for k, n in d:
        if total and n >= p * total:
            return k
print(f"  fires started: {total}; lateness p50 <= {q(0.5)} s, p99 <= {q(0.99)} s")
PY
}

config ''
"${PSQL[@]}" -d cosched -c "INSERT INTO maintenance_leases (name, owner, lease_until) VALUES ('prune', 'bench-hold', 9000000000000)
  ON CONFLICT (name) DO UPDATE SET owner = 'bench-hold', lease_until = 9000000000000" >/dev/null
start_node
sleep 5
phase before
stop_node

# Free the lease; the restarted node's first pass takes it at once.
"${PSQL[@]}" -d cosched -c "UPDATE maintenance_leases SET lease_until = 0" >/dev/null
start_node
sleep 5
phase during
echo "  still to prune: $("${PSQL[@]}" -d cosched -Atc "SELECT count(*) FROM fires WHERE status = 'succeeded' AND scheduled_at < $T0 - 86400000")"
stop_node
