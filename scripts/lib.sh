# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Sourced, not executed.

# Progress and error output goes to stderr so that stdout stays usable for
# values such as `postgres.sh url`.
step() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Directory holding the PostgreSQL server binaries (initdb, pg_ctl, postgres),
# or nothing if no server is installed. Prefers `pg_config --bindir`, then the
# newest /usr/lib/postgresql/<major>/bin.
pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    local best="" best_major=0 major
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/initdb && -x $dir/pg_ctl ]] || continue
        major=${dir#/usr/lib/postgresql/}
        major=${major%/bin}
        [[ $major =~ ^[0-9]+$ ]] || continue
        if ((major > best_major)); then
            best_major=$major
            best=$dir
        fi
    done
    if [[ -n $best ]]; then
        printf '%s\n' "$best"
    fi
}

# Install Debian packages non-interactively: directly when root, through sudo
# otherwise; fail with one line naming the packages when neither is possible.
apt_install() {
    local -a sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        die "missing dependencies; install these packages (Debian names): $*"
    fi
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            die "missing dependencies and no sudo; as root run: apt-get install -y $*"
        fi
    fi
    if [[ -z ${SIGNET_APT_UPDATED:-} ]]; then
        step "apt-get update"
        ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q
        SIGNET_APT_UPDATED=1
    fi
    step "apt-get install $*"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

# --- Helpers of the scripts that run a real `signet serve` ------------------

# A Python with the given pip requirements importable; sets $python. Uses (and
# reuses) the venv ${SIGNET_VENV:-.build/interop-venv}; falls back to
# `pip install --user` where no venv can be made.
use_python() {
    local venv=${SIGNET_VENV:-.build/interop-venv}
    [[ $venv == /* ]] || venv=$PWD/$venv
    local -a flags=(-q --disable-pip-version-check)
    usable() { "$venv/bin/python" -m pip --version >/dev/null 2>&1; }
    # A venv left half made (no pip) is removed; nothing else is.
    if [[ -e $venv/pyvenv.cfg ]] && ! usable; then rm -rf -- "$venv"; fi
    if usable; then
        python=$venv/bin/python
    elif [[ ! -e $venv ]] && python3 -m venv "$venv" >/dev/null 2>&1 && usable; then
        step "created Python venv $venv"
        python=$venv/bin/python
    else
        if [[ -e $venv/pyvenv.cfg ]] && ! usable; then rm -rf -- "$venv"; fi
        warn "cannot create a Python venv in $venv (Debian: apt-get install python3-venv); using pip install --user"
        python=python3
        flags+=(--user)
    fi
    step "pip install $*"
    "$python" -m pip install "${flags[@]}" "$@" ||
        die "pip install failed; install python3-venv (Debian) or make $* importable by python3"
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts `$SIGNET_BIN serve` in the background with its output in $1; sets
# $server_pid; returns once /healthz answers on SIGNET_PUBLIC_HOST:PORT and the
# admin port accepts connections (30 s at most).
start_signet() {
    local log=$1 deadline=$((SECONDS + 30))
    step "signet serve on $SIGNET_PUBLIC_HOST:$SIGNET_PUBLIC_PORT and $SIGNET_ADMIN_HOST:$SIGNET_ADMIN_PORT (log: $log)"
    # serve_prefix: an optional command the server runs under (e.g. prlimit), set by the caller.
    # shellcheck disable=SC2154
    ${serve_prefix[@]+"${serve_prefix[@]}"} "$SIGNET_BIN" serve >"$log" 2>&1 &
    server_pid=$!
    while ((SECONDS < deadline)); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            tail -n 20 "$log" >&2 || true
            die "signet serve exited before answering /healthz"
        fi
        if python3 - "$SIGNET_PUBLIC_HOST" "$SIGNET_PUBLIC_PORT" "$SIGNET_ADMIN_HOST" "$SIGNET_ADMIN_PORT" <<'PY' 2>/dev/null; then
import socket, sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/healthz", timeout=2) as r:
    if r.status != 200:
        sys.exit(1)
socket.create_connection((sys.argv[3], int(sys.argv[4])), timeout=2).close()
PY
            return 0
        fi
        sleep 0.3
    done
    die "signet serve did not become healthy within 30 s"
}

# Stops the server started by start_signet (by its pid) and waits for it.
stop_signet() {
    if [[ -n ${server_pid:-} ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

# Settings for a server on free loopback ports with a random master key and
# only built-in defaults (a developer's Config/signet.json does not apply).
# $1: a scratch directory.
isolated_signet_settings() {
    printf '{}\n' >"$1/signet.json"
    export SIGNET_CONFIG_FILE=$1/signet.json
    SIGNET_PUBLIC_HOST=127.0.0.1
    SIGNET_PUBLIC_PORT=$(free_port)
    SIGNET_ADMIN_HOST=127.0.0.1
    SIGNET_ADMIN_PORT=$(free_port)
    while [[ $SIGNET_ADMIN_PORT == "$SIGNET_PUBLIC_PORT" ]]; do SIGNET_ADMIN_PORT=$(free_port); done
    SIGNET_ISSUER=http://127.0.0.1:$SIGNET_PUBLIC_PORT
    SIGNET_MASTER_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
    export SIGNET_PUBLIC_HOST SIGNET_PUBLIC_PORT SIGNET_ADMIN_HOST SIGNET_ADMIN_PORT SIGNET_ISSUER SIGNET_MASTER_KEY
    unset SIGNET_MASTER_KEY_FILE
}

# The value of the `NAME: value` line in $2 (output of `signet clients create`).
field() {
    local name=$1 output=$2 value
    value=$(printf '%s\n' "$output" | sed -n "s/^$name:[[:space:]]*//p" | head -n 1)
    [[ -n $value ]] || die "no '$name:' line in: $output"
    printf '%s\n' "$value"
}

# Makes $SIGNET_BIN absolute (a relative path is taken from $1, the directory the
# caller was started in), defaults it to the debug build, checks and exports it.
use_signet_bin() {
    if [[ -n ${SIGNET_BIN:-} && $SIGNET_BIN != /* ]]; then SIGNET_BIN=$1/$SIGNET_BIN; fi
    SIGNET_BIN=${SIGNET_BIN:-$(swift build --show-bin-path | tail -n 1)/signet}
    [[ -x $SIGNET_BIN ]] || die "signet executable not found at $SIGNET_BIN (build it or set SIGNET_BIN)"
    export SIGNET_BIN
}

# Fails with one line unless every named command is on PATH.
require_commands() {
    local command
    for command; do command -v "$command" >/dev/null 2>&1 || die "$command is required"; done
}

# SQL on $SIGNET_TEST_DATABASE_URL, quietly.
test_sql() {
    PGOPTIONS=--client-min-messages=warning psql "$SIGNET_TEST_DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null
}

# Creates the schema $1_<random> in $SIGNET_TEST_DATABASE_URL and sets $schema.
create_test_schema() {
    [[ -n ${SIGNET_TEST_DATABASE_URL:-} ]] || die "SIGNET_TEST_DATABASE_URL must be set"
    schema=$1_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    step "creating schema $schema"
    test_sql "CREATE SCHEMA \"$schema\""
}

# Drops the schema made by create_test_schema, if any.
drop_test_schema() {
    if [[ -n ${schema:-} ]]; then
        step "dropping schema $schema"
        test_sql "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" || warn "could not drop schema $schema"
        schema=""
    fi
}

# --- The start every suite against a running server shares ---------------------

# $1: the suite's name. Without --own-database, SIGNET_TEST_DATABASE_URL must name
# the database the suite makes its schema in. Finds the signet binary (relative
# to $caller_dir), sets work_dir (a new scratch directory), schema and server_pid
# (empty), and traps EXIT, INT and TERM so that suite_end always runs.
suite_begin() {
    suite_name=$1
    if [[ ${2:-} != --own-database ]]; then
        [[ -n ${SIGNET_TEST_DATABASE_URL:-} ]] || die "SIGNET_TEST_DATABASE_URL must be set"
        require_commands python3 psql
    fi
    # shellcheck disable=SC2154 # every suite sets caller_dir before it changes directory
    use_signet_bin "$caller_dir"
    schema=""
    server_pid=""
    work_dir=$(mktemp -d "/tmp/signet-$suite_name.XXXXXX")
    trap suite_end EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# On exit: the suite's own suite_teardown (if it defines one) with the exit status,
# then the server is stopped; on failure the last lines of every log in $work_dir
# are shown and kept as /tmp/signet-<suite>-<log>; the schema is dropped and the
# scratch directory removed.
# shellcheck disable=SC2317 # invoked by the trap set in suite_begin
suite_end() {
    local rc=$? log
    trap - EXIT INT TERM
    if declare -F suite_teardown >/dev/null; then suite_teardown "$rc" || true; fi
    stop_signet
    if ((rc != 0)); then
        for log in "$work_dir"/*.log; do
            [[ -s $log ]] || continue
            printf -- '--- last lines of %s (kept in /tmp/signet-%s-%s) ---\n' "${log##*/}" "$suite_name" "${log##*/}" >&2
            tail -n 40 "$log" >&2 || true
            cp "$log" "/tmp/signet-$suite_name-${log##*/}" 2>/dev/null || true
        done
    fi
    drop_test_schema
    rm -rf -- "$work_dir"
    exit "$rc"
}
