#!/usr/bin/env bash
# The whole local stack: Kafka + PostgreSQL (via infra.sh) and every service plus the TikTok Shop
# sandbox under supervisord (config: deploy/local/supervisord.conf).
#
#   stack.sh up               start everything (idempotent), wait until every /healthz answers
#   stack.sh down             stop the programs and supervisord, then the Kafka/PostgreSQL that
#                             `up` started (servers that were already running are left alone)
#   stack.sh status           supervisord's view of each program, each /healthz, Kafka, PostgreSQL
#   stack.sh logs [NAME] [-f] last lines of every log, or of one program (-f: follow)
#   stack.sh ctl ARGS...      any supervisorctl command, e.g. `stack.sh ctl restart order-ingest`
#
# Environment: TTS_STACK_WAIT_SECONDS (90), plus everything infra.sh reads, and the programs'
# ports: TTS_SANDBOX_PORT (8180), TTS_AUTH_BROKER_PORT (8101), TTS_CATALOG_SYNC_PORT (8102),
# TTS_ORDER_INGEST_PORT (8103), TTS_SHIPMENT_NOTIFIER_PORT (8104), TTS_CONSOLE_PORT (8105),
# TTS_PROMETHEUS_PORT (9090). Prometheus (Debian's package, deploy/local/prometheus.sh) runs
# beside the services when it is installed or installable; TTS_STACK_PROMETHEUS=0 leaves it out.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/local/lib.sh
source "$HERE/lib.sh"

CONF="$HERE/supervisord.conf"
RUN_DIR="$TTS_LOCAL_DIR/run"
SUP_PIDFILE="$RUN_DIR/supervisord.pid"
# Which of kafka/postgres `up` had to start, so `down` stops those and nothing else.
STARTED_MARKER="$RUN_DIR/stack-started-infra"
WAIT_SECONDS=${TTS_STACK_WAIT_SECONDS:-90}
# The programs' ports (supervisord.conf reads them, and the URLs built from them, as %(ENV_...)s).
export TTS_SANDBOX_PORT=${TTS_SANDBOX_PORT:-8180}
export TTS_AUTH_BROKER_PORT=${TTS_AUTH_BROKER_PORT:-8101}
export TTS_CATALOG_SYNC_PORT=${TTS_CATALOG_SYNC_PORT:-8102}
export TTS_ORDER_INGEST_PORT=${TTS_ORDER_INGEST_PORT:-8103}
export TTS_SHIPMENT_NOTIFIER_PORT=${TTS_SHIPMENT_NOTIFIER_PORT:-8104}
export TTS_CONSOLE_PORT=${TTS_CONSOLE_PORT:-8105}
export TTS_PROMETHEUS_PORT=${TTS_PROMETHEUS_PORT:-9090}
export TTS_STACK_SANDBOX_URL="http://127.0.0.1:$TTS_SANDBOX_PORT"
export TTS_STACK_AUTH_BROKER_URL="http://127.0.0.1:$TTS_AUTH_BROKER_PORT"
export TTS_STACK_CATALOG_SYNC_URL="http://127.0.0.1:$TTS_CATALOG_SYNC_PORT"
export TTS_STACK_ORDER_INGEST_URL="http://127.0.0.1:$TTS_ORDER_INGEST_PORT"
export TTS_STACK_SHIPMENT_NOTIFIER_URL="http://127.0.0.1:$TTS_SHIPMENT_NOTIFIER_PORT"
# name:port of every supervised program, in start order (Prometheus is started apart: optional).
PROGRAMS=(
    "tiktok-sandbox:$TTS_SANDBOX_PORT" "auth-broker:$TTS_AUTH_BROKER_PORT"
    "catalog-sync:$TTS_CATALOG_SYNC_PORT" "order-ingest:$TTS_ORDER_INGEST_PORT"
    "shipment-notifier:$TTS_SHIPMENT_NOTIFIER_PORT" "console:$TTS_CONSOLE_PORT"
)
PROM_DIR="$TTS_LOCAL_DIR/prometheus"
PROM_URL="http://127.0.0.1:$TTS_PROMETHEUS_PORT"

export TTS_REPO_ROOT TTS_LOCAL_DIR

load_env() {
    eval "$("$HERE/infra.sh" env)"
    # Server URL without its database (and query): each program appends its own database name.
    local url=${TTS_DATABASE_URL%%\?*}
    export TTS_STACK_PG_BASE=${url%/*}
    export TTS_KAFKA_BOOTSTRAP TTS_DATABASE_URL
}

supervisord_running() { pid_alive "$SUP_PIDFILE" supervisord; }

ctl() { (cd "$TTS_REPO_ROOT" && uv run --no-sync supervisorctl -c "$CONF" "$@"); }

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2" || true; }

# health NAME PORT: "healthy", "HTTP <code>" or "no answer".
health() {
    local code
    code=$(http_code "$2" /healthz)
    case $code in
    200) echo healthy ;;
    000 | "") echo "no answer" ;;
    *) echo "HTTP $code" ;;
    esac
}

record_infra_to_start() {
    mkdir -p "$RUN_DIR"
    local component
    for component in kafka postgres; do
        if ! "$HERE/$component.sh" status >/dev/null 2>&1; then
            echo "$component" >>"$STARTED_MARKER"
        fi
    done
}

wait_healthy() {
    local deadline=$((SECONDS + WAIT_SECONDS)) pending entry
    pending=("${PROGRAMS[@]}")
    while ((${#pending[@]})) && ((SECONDS < deadline)); do
        local still=()
        for entry in "${pending[@]}"; do
            [[ $(health "${entry%%:*}" "${entry##*:}") == healthy* ]] || still+=("$entry")
        done
        pending=("${still[@]+"${still[@]}"}")
        ((${#pending[@]})) && sleep 1
    done
    for entry in "${pending[@]+"${pending[@]}"}"; do
        log "${entry%%:*} is not healthy on port ${entry##*:} after ${WAIT_SECONDS}s; last log lines:"
        tail -n 15 "$TTS_LOG_DIR/${entry%%:*}.log" >&2 2>/dev/null || true
    done
    ((${#pending[@]} == 0))
}

# prometheus_config: deploy/prometheus/prometheus.yml with the stack's ports and the rule file
# by absolute path, written to .local/prometheus/ (the committed file names the default ports).
prometheus_config() {
    mkdir -p "$PROM_DIR/data"
    sed -e "s#127.0.0.1:8101#127.0.0.1:$TTS_AUTH_BROKER_PORT#" \
        -e "s#127.0.0.1:8102#127.0.0.1:$TTS_CATALOG_SYNC_PORT#" \
        -e "s#127.0.0.1:8103#127.0.0.1:$TTS_ORDER_INGEST_PORT#" \
        -e "s#127.0.0.1:8104#127.0.0.1:$TTS_SHIPMENT_NOTIFIER_PORT#" \
        -e "s#127.0.0.1:8105#127.0.0.1:$TTS_CONSOLE_PORT#" \
        -e "s#^  - alerts.yml\$#  - $TTS_REPO_ROOT/deploy/prometheus/alerts.yml#" \
        "$TTS_REPO_ROOT/deploy/prometheus/prometheus.yml" >"$PROM_DIR/prometheus.yml"
}

prometheus_ready() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$PROM_URL/-/ready" || true) == 200 ]]
}

# start_prometheus: Debian's prometheus (installed by prometheus.sh when missing and apt-get
# can) as the supervised program `prometheus`; a warning, never a failure, when it cannot run.
start_prometheus() {
    if [[ ${TTS_STACK_PROMETHEUS:-1} == 0 ]]; then
        log "Prometheus left out (TTS_STACK_PROMETHEUS=0)"
        return 0
    fi
    if ! bash "$HERE/prometheus.sh" check; then
        # Install only where no password is asked (`make demo` must not stop at a prompt).
        if [[ $(id -u) != 0 ]] && ! sudo -n true 2>/dev/null; then
            log "WARNING: Prometheus is not installed; the stack runs without it (install: sudo bash deploy/local/prometheus.sh)"
            return 0
        fi
        if ! bash "$HERE/prometheus.sh" >&2; then
            log "WARNING: Prometheus could not be installed (deploy/local/prometheus.sh); the stack runs without it"
            return 0
        fi
    fi
    prometheus_config
    if ! ctl status prometheus 2>/dev/null | grep -q RUNNING; then
        port_in_use "$TTS_PROMETHEUS_PORT" &&
            log "WARNING: port $TTS_PROMETHEUS_PORT (prometheus) is already taken by $(port_owner "$TTS_PROMETHEUS_PORT")"
        ctl start prometheus >/dev/null || true
    fi
    local _
    for _ in $(seq 1 60); do
        prometheus_ready && {
            log "Prometheus is up: $PROM_URL/graph (targets: $PROM_URL/targets)"
            return 0
        }
        sleep 0.5
    done
    log "WARNING: Prometheus did not become ready on port $TTS_PROMETHEUS_PORT; 'stack.sh logs prometheus' shows why"
}

up() {
    command -v uv >/dev/null || die "uv not found: run scripts/setup.sh (or pip install uv)"
    record_infra_to_start
    "$HERE/infra.sh" up
    load_env
    mkdir -p "$RUN_DIR" "$TTS_LOG_DIR"
    if supervisord_running; then
        log "supervisord already running (pid $(<"$SUP_PIDFILE")); applying config and starting all"
        ctl update >/dev/null
        ctl start "${PROGRAMS[@]%%:*}" >/dev/null || true
    else
        local entry
        for entry in "${PROGRAMS[@]}"; do
            if port_in_use "${entry##*:}"; then
                log "WARNING: port ${entry##*:} (${entry%%:*}) is already taken by $(port_owner "${entry##*:}")"
            fi
        done
        log "starting supervisord (programs log to $TTS_LOG_DIR/<program>.log)"
        (cd "$TTS_REPO_ROOT" && uv run --no-sync supervisord -c "$CONF")
    fi
    if wait_healthy; then
        start_prometheus
        log "stack is up"
        status
    else
        status || true
        die "some programs are not healthy (see above); 'stack.sh logs NAME' shows more"
    fi
}

down() {
    if supervisord_running; then
        local pid
        pid=$(<"$SUP_PIDFILE")
        log "stopping all programs and supervisord (pid $pid)"
        load_env
        ctl shutdown >/dev/null 2>&1 || true
        # shutdown returns at once; supervisord stops the programs (up to stopwaitsecs each) first.
        stop_pid_after_wait "$pid"
    else
        log "supervisord not running"
    fi
    if [[ -f $STARTED_MARKER ]]; then
        local component
        sort -u "$STARTED_MARKER" | while read -r component; do
            "$HERE/$component.sh" stop
        done
        rm -f "$STARTED_MARKER"
    else
        log "Kafka/PostgreSQL were running before 'stack.sh up'; leaving them (infra.sh down stops them)"
    fi
}

stop_pid_after_wait() {
    local pid=$1 _
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    stop_pid "$pid" supervisord 10
}

status() {
    local rc=0 entry name port state
    if supervisord_running; then
        load_env
        echo "supervisord: running (pid $(<"$SUP_PIDFILE"))"
        for entry in "${PROGRAMS[@]}"; do
            name=${entry%%:*}
            port=${entry##*:}
            state=$(ctl status "$name" 2>/dev/null | awk '{print $2}' || true)
            local verdict
            verdict=$(health "$name" "$port")
            printf '  %-18s %-9s port %s  /healthz: %s\n' "$name" "${state:-UNKNOWN}" "$port" "$verdict"
            [[ $verdict == healthy* ]] || rc=1
        done
        state=$(ctl status prometheus 2>/dev/null | awk '{print $2}' || true)
        if [[ $state == RUNNING ]]; then
            verdict="not ready"
            prometheus_ready && verdict="ready, $PROM_URL/graph"
            printf '  %-18s %-9s port %s  /-/ready: %s\n' prometheus "$state" "$TTS_PROMETHEUS_PORT" "$verdict"
        else
            printf '  %-18s %-9s (optional: deploy/local/prometheus.sh installs it)\n' prometheus "${state:-UNKNOWN}"
        fi
    else
        echo "supervisord: stopped"
        rc=3
    fi
    local infra_rc=0
    "$HERE/infra.sh" status || infra_rc=$?
    ((rc == 0)) && rc=$infra_rc
    return $rc
}

logs() {
    local name=${1:-} follow=${2:-}
    if [[ -z $name ]]; then
        local f
        for f in "$TTS_LOG_DIR"/*.log; do
            [[ -f $f ]] || continue
            echo "==> $f <=="
            tail -n 20 "$f"
        done
    elif [[ $follow == -f ]]; then
        exec tail -n 100 -F "$TTS_LOG_DIR/$name.log"
    else
        tail -n 100 "$TTS_LOG_DIR/$name.log"
    fi
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
logs) logs "${2:-}" "${3:-}" ;;
ctl)
    shift
    load_env
    ctl "$@"
    ;;
*)
    echo "usage: $0 {up|down|status|logs [NAME] [-f]|ctl ARGS...}" >&2
    exit 2
    ;;
esac
