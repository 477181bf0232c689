# Tenantry. Everything runs from a clean Debian machine (root installs system packages).
#   make run          the app on http://127.0.0.1:5000 (SQLite, inline jobs, files in instance/)
#   make test         lint, then the suite on SQLite and on PostgreSQL 15, with Redis, S3 and Chromium
#   make obligations  docs/obligations.md and .json: which promise is proven by which passing test
#   make lint         ruff only

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help venv system-deps run test obligations lint

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

venv:
	@scripts/ensure-venv.sh

system-deps:
	@scripts/ensure-system-deps.sh

run: venv
	@scripts/run.sh

test: venv system-deps
	@scripts/test.sh test

obligations: venv system-deps
	@scripts/test.sh obligations

lint: venv
	.venv/bin/ruff check .
