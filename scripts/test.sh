#!/usr/bin/env bash
# `make test` and `make obligations`.
#
#   scripts/test.sh test         lint, then the whole suite on SQLite, then on PostgreSQL 15
#   scripts/test.sh obligations  the @pytest.mark.obligation tests on PostgreSQL
#   scripts/test.sh with-services CMD...  CMD with the services up and TENANTRY_TEST_DB=postgresql,
#                                e.g. scripts/test.sh with-services .venv/bin/pytest tests/platform -x
#
# Both write docs/obligations.{md,json} from their PostgreSQL run. Services started here (a
# throwaway PostgreSQL cluster, redis-server, a moto S3 server) listen on free loopback ports
# and are stopped on exit, failure or interrupt included. Extra pytest arguments: PYTEST_ARGS.
# With CI=true a missing service fails the run instead of skipping the tests that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-test}
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PG_BIN=${TENANTRY_PG_BIN:-/usr/lib/postgresql/15/bin}
WORKERS=${TEST_WORKERS:-2}
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"

is_ci() { case "${CI:-}" in 1 | true | TRUE | True | yes) return 0 ;; *) return 1 ;; esac; }
note() { echo "test.sh: $*"; }
die() { echo "test.sh: $*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tenantry-test.XXXXXX)
chmod 755 "$WORK" # the postgres user must reach its data directory inside
PG_DATA=""
PIDS=()

cleanup() {
  local rc=$?
  set +e
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_postgres() {
  # PostgreSQL refuses to run as root; CI runs as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port, name, pid
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || die "$2 exited while starting; its log: $(cat "$WORK/$2.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$2 did not listen on 127.0.0.1:$1 within 10 s"
}

secret() { "$PY" -c 'import secrets; print(secrets.token_hex(16))'; }

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    is_ci && die "redis-server is missing (CI=true): run scripts/ensure-system-deps.sh as root"
    note "redis-server is missing: the Redis tests will be skipped"
    return 0
  fi
  local port; port=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$WORK/redis" \
    --logfile "$WORK/redis.log" --daemonize no >/dev/null 2>&1 &
  PIDS+=($!)
  wait_port "$port" redis $!
  export TENANTRY_TEST_REDIS_URL="redis://127.0.0.1:$port"
}

start_moto() {
  local port; port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" moto $!
  export TENANTRY_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
}

have_postgres() {
  [ -x "$PG_BIN/postgres" ] && return 0
  is_ci && die "PostgreSQL 15 is missing at $PG_BIN (CI=true): run scripts/ensure-system-deps.sh as root"
  note "PostgreSQL 15 is missing at $PG_BIN: the PostgreSQL run is skipped"
  return 1
}

start_postgres() {
  local dir="$WORK/pg" port super owner app
  port=$(free_port)
  super=$(secret) owner=$(secret) app=$(secret)
  mkdir -p "$dir/data" "$dir/run"
  echo "$super" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  chmod 700 "$dir/data"
  as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --no-locale --no-sync >"$WORK/initdb.log" 2>&1 || die "initdb failed: $(cat "$WORK/initdb.log")"
  PG_DATA="$dir/data"
  # A disposable cluster: durability off, speed on.
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || die "PostgreSQL did not start: $(cat "$dir/server.log")"
  PGPASSWORD="$super" "$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null <<SQL
-- Owns the schema and runs migrations; creates one database per test worker.
CREATE ROLE tenantry_owner LOGIN CREATEDB PASSWORD '$owner';
-- What the application connects as: owns nothing, cannot bypass row-level security.
CREATE ROLE tenantry_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '$app';
CREATE DATABASE tenantry OWNER tenantry_owner;
SQL
  export TENANTRY_TEST_DATABASE_URL="postgresql://tenantry_app:$app@127.0.0.1:$port/tenantry"
  export TENANTRY_TEST_MIGRATE_DATABASE_URL="postgresql://tenantry_owner:$owner@127.0.0.1:$port/tenantry"
}

# run_pytest LABEL [pytest args...]: pytest's own summary stays the last thing it prints.
run_pytest() {
  local label=$1 rc=0
  shift
  note "pytest on $label"
  "$PY" -m pytest -n "$WORKERS" -ra "$@" "${EXTRA[@]}" || rc=$?
  if [ "$rc" = 5 ]; then
    [ "$MODE" = obligations ] && return 0
    echo "test.sh: pytest collected no tests on $label; a run that tests nothing is not a pass." >&2
    return 1
  fi
  return "$rc"
}

elapsed() { echo "$(($(date +%s) - $1))s"; }

[ -x "$PY" ] || die "$PY is missing: run scripts/ensure-venv.sh (make does)"
t0=$(date +%s)
start_redis
start_moto
have_pg=no
if have_postgres; then
  start_postgres
  have_pg=yes
fi
timings="services $(elapsed "$t0")"

case "$MODE" in
test)
  t=$(date +%s)
  note "ruff check ."
  "$VENV/bin/ruff" check .
  timings="$timings, lint $(elapsed "$t")"

  t=$(date +%s)
  TENANTRY_TEST_DB=sqlite run_pytest SQLite
  timings="$timings, SQLite $(elapsed "$t")"

  if [ "$have_pg" = yes ]; then
    note "so far: $timings"
    TENANTRY_TEST_DB=postgresql run_pytest "PostgreSQL 15" --obligations-report=docs
  fi
  ;;
obligations)
  if [ "$have_pg" = yes ]; then
    TENANTRY_TEST_DB=postgresql run_pytest "PostgreSQL 15" -m obligation --obligations-report=docs
  else
    note "without PostgreSQL the PostgreSQL-only proofs are skipped, so they show as unproven"
    TENANTRY_TEST_DB=sqlite run_pytest SQLite -m obligation --obligations-report=docs
  fi
  ;;
with-services)
  shift
  [ $# -gt 0 ] || die "with-services needs a command"
  [ "$have_pg" = yes ] && export TENANTRY_TEST_DB=postgresql
  "$@"
  ;;
*) die "unknown mode $MODE (test or obligations)" ;;
esac
