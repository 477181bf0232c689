#!/usr/bin/env bash
# `make run`: the embedded default (SQLite, inline jobs, local files and keys in instance/).
# Migrates, prints the one-time set-up link of the first staff account, runs the sweep loop in
# the background and serves http://127.0.0.1:5000 until interrupted; the loop stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."

FLASK=".venv/bin/flask --app wsgi"

$FLASK db upgrade
$FLASK tenantry bootstrap-staff

$FLASK tenantry sweep --every 60 &
sweep_pid=$!
trap 'kill "$sweep_pid" 2>/dev/null || true; wait "$sweep_pid" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$FLASK run --host 127.0.0.1 --port 5000
