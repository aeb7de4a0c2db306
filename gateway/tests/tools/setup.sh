#!/usr/bin/env bash
# Creates (once) the Python virtualenv the gateway's client tests use: the
# official `openai` SDK and schemathesis, from PyPI. Prints the venv's path.
# Override the location with SHEETMESH_VENV.
set -euo pipefail
venv="${SHEETMESH_VENV:-$HOME/.cache/sheetmesh-venv}"
stamp="$venv/.sheetmesh-ready-v1"
if [ ! -f "$stamp" ]; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        else
            echo "missing: python3-venv — install it (Debian/Ubuntu: sudo apt-get install python3-venv) and run again" >&2
            exit 1
        fi
    fi
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openai>=1.40,<3" "schemathesis>=4,<5" >&2
    touch "$stamp"
fi
echo "$venv"
