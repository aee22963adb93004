#!/usr/bin/env bash
# Create bench/.venv (once) and install the pinned benchmark requirements into it.
# Safe to re-run: an existing venv is reused and pip only installs what is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

# Quiet install; errors still go to stderr and fail the script (set -e).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

echo "bench venv ready: $venv/bin/python"
