#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print its URL.
# usage: eval "$(bash .ci/start-postgres.sh)"   (sets NBTRACK_TEST_PG_URL)
set -euo pipefail
PORT=${NBTRACK_PG_PORT:-54329}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
DATA=${NBTRACK_PG_DATA:-/tmp/nbtrack-pg-$PORT}
if ! "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
  rm -rf "$DATA" && mkdir -p "$DATA" && chown postgres "$DATA"
  su postgres -c "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
  su postgres -c "$PGBIN/pg_ctl -D $DATA -l $DATA/server.log -w -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start" >/dev/null
fi
echo "export NBTRACK_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
