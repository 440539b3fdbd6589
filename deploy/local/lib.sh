# shellcheck shell=bash
# Shared helpers for deploy/local/*.sh. Sourced, never executed.
#
# Everything lives under TTS_LOCAL_DIR (default: <repo>/.local, git-ignored):
#   kafka/libs  kafka/data  kafka/server.properties  kafka/kafka.pid
#   pg/data     logs/<name>.log   run/ (supervisord socket and pid)

TTS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TTS_LOCAL_DIR="${TTS_LOCAL_DIR:-$TTS_REPO_ROOT/.local}"
# shellcheck disable=SC2034  # used by the scripts that source this file
TTS_LOG_DIR="$TTS_LOCAL_DIR/logs"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# pid_alive PIDFILE PATTERN: true when PIDFILE names a live process whose command line contains
# PATTERN. The pattern guards against a recycled pid after a reboot or a crash.
pid_alive() {
    local pidfile=$1 pattern=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# port_in_use PORT: true when something listens on 127.0.0.1:PORT (or on all addresses).
port_in_use() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# port_owner PORT: a short description of the listener, for error messages.
port_owner() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(.*)' | head -1
}

# stop_pid PID NAME [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL. Safe if already gone.
stop_pid() {
    local pid=$1 name=$2 grace=${3:-30} waited=0
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= grace * 10)); then
            log "$name did not stop within ${grace}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    # A SIGKILLed process may still be a zombie for a moment; give the kernel a beat.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# run_python ARGS...: the workspace interpreter (has aiokafka/asyncpg), without re-syncing the
# environment — other engineers may be editing pyproject files while infra starts.
run_python() {
    (cd "$TTS_REPO_ROOT" && uv run --no-sync python "$@")
}

# have_workspace_python: true when the workspace venv can import the probe's dependencies.
have_workspace_python() {
    command -v uv >/dev/null 2>&1 && run_python -c 'import aiokafka' >/dev/null 2>&1
}

# take_lock NAME: serialise start/stop of one server across processes (two test sessions may
# run `infra.sh up` at once). Held on fd 9 until the script exits; anything long-lived that the
# script starts must be given `9>&-` so it does not inherit (and keep) the lock.
take_lock() {
    mkdir -p "$TTS_LOCAL_DIR/run"
    exec 9>"$TTS_LOCAL_DIR/run/$1.lock"
    flock -w "${2:-300}" 9 || die "timed out waiting for $TTS_LOCAL_DIR/run/$1.lock"
}
