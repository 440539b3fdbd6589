#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
command -v java >/dev/null || { echo "setup: Java 17+ is required (java not found)" >&2; exit 1; }
uv sync --all-packages --frozen --quiet
bash deploy/local/kafka.sh fetch
