#!/usr/bin/env bash
# Local PostgreSQL 15 for development and tests, without Docker.
#
#   postgres.sh start    use TTS_DATABASE_URL if it answers; else initdb once, start on
#                        127.0.0.1:55432, wait until ready, create one database per service
#   postgres.sh stop     fast shutdown of the server in our data folder; safe to repeat
#   postgres.sh status   exit 0 when the server answers, 3 when stopped
#   postgres.sh url      print the server-level SQLAlchemy URL (asyncpg driver)
#
# Environment: TTS_DATABASE_URL, TTS_PG_PORT (55432), TTS_LOCAL_DIR (.local).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN=${TTS_PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$PG_BIN:$PATH"
PG_PORT=${TTS_PG_PORT:-55432}
PG_HOST=127.0.0.1
SOCKET_DIR=/tmp
LOCAL_URL="postgresql+asyncpg://postgres@$PG_HOST:$PG_PORT/postgres"
SERVICE_DBS=(auth_broker catalog_sync order_ingest shipment_notifier)
LOGFILE="$TTS_LOG_DIR/postgres.log"

# Server tools refuse to run as root, so as root they run as the unprivileged postgres user.
if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# The data folder lives in .local/pg/data unless the postgres user cannot reach it (e.g. a
# checkout under a 0700 home folder); then it goes to /var/tmp, and .local/pg/data-location says so.
data_dir() {
    local preferred="$TTS_LOCAL_DIR/pg"
    mkdir -p "$preferred"
    if [[ $(id -u) != 0 ]] || runuser -u postgres -- test -x "$preferred" 2>/dev/null; then
        echo "$preferred/data"
    else
        local key
        key=$(printf '%s' "$TTS_LOCAL_DIR" | cksum | cut -d' ' -f1)
        echo "/var/tmp/tts-local-pg-$key/data"
    fi
}
PGDATA_DIR=$(data_dir)

# libpq does not know SQLAlchemy's "+driver" suffix.
libpq_url() { sed -E 's#^postgresql\+[a-z0-9]+://#postgresql://#' <<<"$1"; }

external_url_ready() {
    [[ -n ${TTS_DATABASE_URL:-} ]] &&
        pg_isready -q -t 3 -d "$(libpq_url "$TTS_DATABASE_URL")" >/dev/null 2>&1
}

local_ready() { pg_isready -q -t 2 -h "$PG_HOST" -p "$PG_PORT" -U postgres >/dev/null 2>&1; }

ours_running() {
    [[ -f $PGDATA_DIR/postmaster.pid ]] && as_pg pg_ctl -D "$PGDATA_DIR" status >/dev/null 2>&1
}

init_cluster() {
    [[ -f $PGDATA_DIR/PG_VERSION ]] && return 0
    log "initdb into $PGDATA_DIR"
    mkdir -p "$PGDATA_DIR"
    if [[ $(id -u) == 0 ]]; then
        chown postgres: "$PGDATA_DIR" "$(dirname "$PGDATA_DIR")"
    fi
    chmod 700 "$PGDATA_DIR"
    # --no-locale: byte-order collation, identical on every machine; tests must not depend on locale.
    as_pg initdb -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --no-locale >/dev/null ||
        die "initdb failed"
    if [[ $PGDATA_DIR != "$TTS_LOCAL_DIR/pg/data" ]]; then
        echo "$PGDATA_DIR" >"$TTS_LOCAL_DIR/pg/data-location"
    fi
}

create_service_dbs() {
    local db
    for db in "${SERVICE_DBS[@]}"; do
        if [[ -z $(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAXc \
            "select 1 from pg_database where datname = '$db'") ]]; then
            log "creating database $db"
            # Two callers may race here (parallel test sessions); a lost race is fine.
            createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$db" 2>/dev/null ||
                psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAXc \
                    "select 1 from pg_database where datname = '$db'" | grep -q 1 ||
                die "could not create database $db"
        fi
    done
}

start() {
    # Our own server first: TTS_DATABASE_URL often just names it (after `eval "$(infra.sh env)"`).
    take_lock postgres
    if ! ours_running && external_url_ready; then
        log "TTS_DATABASE_URL answers; using it (nothing started)"
        return 0
    fi
    if [[ -n ${TTS_DATABASE_URL:-} ]] && ! ours_running; then
        log "TTS_DATABASE_URL is set but does not answer; starting the local server on $PG_HOST:$PG_PORT"
    fi
    if ours_running; then
        log "already running on $PG_HOST:$PG_PORT (data: $PGDATA_DIR)"
    else
        if port_in_use "$PG_PORT"; then
            die "port $PG_PORT is in use by another process ($(port_owner "$PG_PORT")), not by the server in $PGDATA_DIR. Stop it, or set TTS_DATABASE_URL to it, or choose TTS_PG_PORT."
        fi
        init_cluster
        mkdir -p "$TTS_LOG_DIR"
        log "starting postgres on $PG_HOST:$PG_PORT (data: $PGDATA_DIR, log: $LOGFILE)"
        # No `pg_ctl -l`: the log is opened here, by the calling user, so the postgres user needs no
        # write access to .local/logs. The server inherits the descriptor.
        # Test-box sizing: many services and test workers each hold a pool; durability stays default.
        as_pg pg_ctl -D "$PGDATA_DIR" -w -t 60 -o \
            "-p $PG_PORT -k $SOCKET_DIR -c listen_addresses=$PG_HOST -c max_connections=300 -c shared_buffers=256MB" \
            start >>"$LOGFILE" 2>&1 </dev/null 9>&- || {
            tail -n 30 "$LOGFILE" >&2
            die "postgres did not start"
        }
    fi
    local i
    for i in $(seq 1 60); do
        local_ready && break
        ((i == 60)) && die "postgres did not become ready on $PG_HOST:$PG_PORT"
        sleep 0.5
    done
    create_service_dbs
    log "postgres is ready: $LOCAL_URL"
}

stop() {
    take_lock postgres
    if ours_running; then
        log "stopping postgres (data: $PGDATA_DIR)"
        as_pg pg_ctl -D "$PGDATA_DIR" stop -m fast -w -t 60 >/dev/null || {
            local pid
            pid=$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
            [[ -n $pid ]] && stop_pid "$pid" postgres 5
        }
    else
        log "not running"
    fi
}

status() {
    if ours_running && local_ready; then
        echo "postgres: running and answering on $PG_HOST:$PG_PORT (data: $PGDATA_DIR)"
    elif ours_running; then
        echo "postgres: running but NOT answering on $PG_HOST:$PG_PORT"
        return 1
    elif external_url_ready; then
        echo "postgres: external server at TTS_DATABASE_URL answers"
    else
        echo "postgres: stopped"
        return 3
    fi
}

url() {
    if external_url_ready; then
        echo "$TTS_DATABASE_URL"
    else
        echo "$LOCAL_URL"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
url) url ;;
*)
    echo "usage: $0 {start|stop|status|url}" >&2
    exit 2
    ;;
esac
