#!/usr/bin/env bash
# Kafka + PostgreSQL for development, tests and CI, without Docker. Idempotent.
#
#   infra.sh up       fetch+start Kafka and start PostgreSQL (each a no-op when already running,
#                     or when TTS_KAFKA_BOOTSTRAP / TTS_DATABASE_URL already point at a live server)
#   infra.sh down     stop only what these scripts started (pid file / our data folder)
#   infra.sh status   state of both; exit 0 only when both answer
#   infra.sh env      print `export` lines; use as: eval "$(deploy/local/infra.sh env)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/local/lib.sh
source "$HERE/lib.sh"

KAFKA_BOOTSTRAP_DEFAULT="127.0.0.1:${TTS_KAFKA_PORT:-9092}"

external_kafka_ready() {
    [[ -n ${TTS_KAFKA_BOOTSTRAP:-} && ${TTS_KAFKA_BOOTSTRAP} != "$KAFKA_BOOTSTRAP_DEFAULT" ]] &&
        have_workspace_python &&
        run_python "$HERE/kafka_probe.py" "$TTS_KAFKA_BOOTSTRAP" 5 >/dev/null 2>&1
}

up() {
    if external_kafka_ready; then
        log "TTS_KAFKA_BOOTSTRAP answers; using it (no local broker started)"
    else
        "$HERE/kafka.sh" fetch
        "$HERE/kafka.sh" start
    fi
    "$HERE/postgres.sh" start
}

down() {
    # Each script stops only its own process; an external server named by env is never touched.
    local rc=0
    "$HERE/kafka.sh" stop || rc=1
    "$HERE/postgres.sh" stop || rc=1
    return $rc
}

status() {
    local rc=0
    "$HERE/kafka.sh" status || rc=$?
    "$HERE/postgres.sh" status || rc=$?
    return $rc
}

env_exports() {
    printf 'export TTS_KAFKA_BOOTSTRAP=%q\n' "${TTS_KAFKA_BOOTSTRAP:-$KAFKA_BOOTSTRAP_DEFAULT}"
    if [[ -n ${TTS_DATABASE_URL:-} ]]; then
        printf 'export TTS_DATABASE_URL=%q\n' "$TTS_DATABASE_URL"
    else
        printf 'export TTS_DATABASE_URL=%q\n' \
            "postgresql+asyncpg://postgres@127.0.0.1:${TTS_PG_PORT:-55432}/postgres"
    fi
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env) env_exports ;;
*)
    echo "usage: $0 {up|down|status|env}" >&2
    exit 2
    ;;
esac
