#!/usr/bin/env bash
# Creates .venv when it is missing and installs the project with its test extras into it.
# The install is skipped while pyproject.toml is unchanged since the last successful one:
# its sha256 is kept in .venv/.tenantry-installed (content, not mtime, so checkouts do not fool it).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
stamp="$VENV/.tenantry-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) .[test]"

if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's python3 keeps venv/ensurepip in a separate package.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "ensure-venv: installing python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "ensure-venv: $PYTHON cannot create virtual environments; install python3-venv (as root)." >&2
      exit 1
    fi
  fi
  echo "ensure-venv: creating $VENV with $("$PYTHON" -V 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi

echo "ensure-venv: installing the project and its test dependencies into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
echo "$want" > "$stamp"
