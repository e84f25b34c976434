#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent; sourced by the other scripts).
# Installs the engine, server and client (and the dev tools when NST_DEV=1) from PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup: Python 3.11 or newer is needed (found $("$PY" --version 2>&1))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        # Debian ships venv support in a separate package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            rm -rf .venv && "$PY" -m venv .venv
        else
            echo "setup: '$PY -m venv' failed; on Debian run: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
fi

extras=server
[ "${NST_DEV:-0}" = 1 ] && extras=server,dev
echo "setup: installing the project into .venv ([$extras]; the first time downloads PyTorch, ~2 GB+)" >&2
# Some machines' pip configuration names local mirror folders that do not exist; hide that noise only.
quiet_pip() {
    .venv/bin/python -m pip --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
    return "${PIPESTATUS[0]}"
}
quiet_pip install --quiet -e ".[$extras]"
