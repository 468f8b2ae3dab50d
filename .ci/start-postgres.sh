#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print how to use and stop it.
# usage: eval "$(bash .ci/start-postgres.sh)"   (sets NBTRACK_TEST_PG_URL and NBTRACK_PG_STOP)
# A server already listening on the port is never reused: it may hold another run's data.
# NBTRACK_PG_DURABLE=1: stock durability (fsync=on, synchronous_commit=on), as a team would run it
# (benchmarks/bench_team.py measures on both); by default fsync=off, for fast tests.
set -euo pipefail
PORT=${NBTRACK_PG_PORT:-54329}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
  # pick the next free port rather than reuse a stale server
  for p in $(seq $((PORT + 1)) $((PORT + 50))); do
    if ! "$PGBIN/pg_isready" -h 127.0.0.1 -p "$p" -q 2>/dev/null; then PORT=$p; break; fi
  done
fi
FSYNC="-c fsync=off"
if [ "${NBTRACK_PG_DURABLE:-0}" = 1 ]; then FSYNC=""; fi
DATA=$(mktemp -d "/tmp/nbtrack-pg-$PORT.XXXXXX")
chown postgres "$DATA"
su postgres -c "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D $DATA -l $DATA/server.log -w -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 $FSYNC -c max_connections=200' start" >/dev/null
echo "export NBTRACK_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "export NBTRACK_PG_STOP=\"su postgres -c '$PGBIN/pg_ctl -D $DATA -m fast -w stop' >/dev/null 2>&1; rm -rf $DATA\""
