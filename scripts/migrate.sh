#!/usr/bin/env bash
# Create and migrate one database per service on the configured PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${TTS_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:55432/postgres}
server=${base%/*}
for svc in auth-broker catalog-sync order-ingest shipment-notifier; do
  TTS_DATABASE_URL="$server/${svc//-/_}" uv run --no-sync "$svc" migrate
done
