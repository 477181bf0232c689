#!/usr/bin/env bash
# The system programs the test suite runs against: redis-server, Chromium, PostgreSQL 15.
# As root, missing ones are installed with apt-get; otherwise the command to run is printed.
# With CI=true anything still missing fails here, so the suite never skips it silently.
set -euo pipefail

PG_BIN=${TENANTRY_PG_BIN:-/usr/lib/postgresql/15/bin}
CHROMIUM=${TENANTRY_TEST_CHROMIUM:-/usr/bin/chromium}

is_ci() { case "${CI:-}" in 1 | true | TRUE | True | yes) return 0 ;; *) return 1 ;; esac; }

missing_packages() {
  local pkgs=()
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  [ -x "$CHROMIUM" ] || pkgs+=(chromium fonts-liberation)
  [ -x "$PG_BIN/postgres" ] || pkgs+=(postgresql-15)
  echo "${pkgs[@]}"
}

missing=$(missing_packages)
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "ensure-system-deps: installing $missing"
  apt-get update -qq
  pkgs=()
  for p in $missing; do
    # Debian 12 has postgresql-15; elsewhere the default `postgresql` may be what provides it.
    if [ "$p" = postgresql-15 ] && ! apt-cache show postgresql-15 >/dev/null 2>&1; then
      p=postgresql
    fi
    pkgs+=("$p")
  done
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  missing=$(missing_packages)
  [ -z "$missing" ] && exit 0
  echo "ensure-system-deps: still missing after apt-get: $missing" >&2
else
  echo "ensure-system-deps: missing system packages: $missing" >&2
  echo "ensure-system-deps: install them as root: apt-get update && apt-get install -y $missing" >&2
fi

if is_ci; then
  echo "ensure-system-deps: CI=true, so a missing dependency fails the run." >&2
  exit 1
fi
echo "ensure-system-deps: continuing; tests that need them will be skipped with the reason." >&2
