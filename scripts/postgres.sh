#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests.
#
#   scripts/postgres.sh start|stop|status|url|destroy
#
# Environment:
#   SIGNET_PG_DIR    data directory (default: .data/pg under the repository)
#   SIGNET_PG_PORT   TCP port on 127.0.0.1 (default: 54329)
#   SIGNET_PG_MAX_CONNECTIONS  server connection limit (default: 200)
#   SIGNET_PG_FSYNC  on|off (default: on); off trades crash safety for speed,
#                    meant for throwaway clusters
#   SIGNET_PG_STAT_STATEMENTS  on|off (default: off); on loads pg_stat_statements
#                    (with planning times), for benchmarks that read per-statement costs
#   SIGNET_PG_STATEMENT_TIMEOUT_SECONDS  bounds every statement, and lock waits to
#                    an eighth of it, so a test that leaves a lock behind fails
#                    instead of hanging the run (default: 0, no bound)
#
# The cluster listens on 127.0.0.1 only, has no Unix socket, and trusts every
# loopback connection. Superuser `postgres`; database `signet` owned by role
# `signet`. Server programs run as the `postgres` user when invoked as root.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd -P)
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PORT=${SIGNET_PG_PORT:-54329}
FSYNC=${SIGNET_PG_FSYNC:-on}
MAX_CONNECTIONS=${SIGNET_PG_MAX_CONNECTIONS:-200}
STATEMENT_TIMEOUT=${SIGNET_PG_STATEMENT_TIMEOUT_SECONDS:-0}
STAT_STATEMENTS=${SIGNET_PG_STAT_STATEMENTS:-off}
DB_NAME=signet
DB_ROLE=signet
PG_BIN=""
PG_DIR=""

if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
    die "SIGNET_PG_PORT must be a TCP port number, got '$PORT'"
fi
case $FSYNC in on | off) ;; *) die "SIGNET_PG_FSYNC must be on or off, got '$FSYNC'" ;; esac
case $STAT_STATEMENTS in on | off) ;; *) die "SIGNET_PG_STAT_STATEMENTS must be on or off, got '$STAT_STATEMENTS'" ;; esac
[[ $MAX_CONNECTIONS =~ ^[0-9]+$ ]] || die "SIGNET_PG_MAX_CONNECTIONS must be a number, got '$MAX_CONNECTIONS'"
[[ $STATEMENT_TIMEOUT =~ ^[0-9]+$ ]] ||
    die "SIGNET_PG_STATEMENT_TIMEOUT_SECONDS must be a number of seconds, got '$STATEMENT_TIMEOUT'"

usage() {
    echo "usage: $0 start|stop|status|url|destroy" >&2
    exit 2
}

# Run a server program as the cluster owner (the postgres user when root).
# From / so that an unreadable working directory does not get in the way.
as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Whether the postgres user can get to the data directory $1. The directory
# itself is chowned to postgres when created, so what matters is the path
# leading to it: its parent if it exists, else its deepest existing ancestor.
postgres_can_reach() {
    local path=$1
    is_root || return 0
    id -u postgres >/dev/null 2>&1 || return 0
    if [[ -d $path ]]; then
        path=$(dirname "$path")
    fi
    while [[ ! -e $path ]]; do
        path=$(dirname "$path")
    done
    (cd / && runuser -u postgres -- test -x "$path")
}

# The one rule deciding where the cluster lives; every command goes through it.
resolve_data_dir() {
    local dir=${SIGNET_PG_DIR:-.data/pg}
    [[ $dir == /* ]] || dir=$REPO_ROOT/$dir
    while [[ $dir == */ && $dir != / ]]; do dir=${dir%/}; done
    if ! postgres_can_reach "$dir"; then
        local hash fallback
        hash=$(printf '%s' "$REPO_ROOT" | sha1sum | cut -c1-12)
        fallback=/var/tmp/signet-pg-$hash-$PORT
        step "postgres user cannot reach $dir; using $fallback instead"
        dir=$fallback
    fi
    PG_DIR=$dir
}

find_server() {
    PG_BIN=$(pg_bindir)
}

ensure_server() {
    find_server
    if [[ -z $PG_BIN ]]; then
        step "PostgreSQL server not found; installing"
        apt_install postgresql
        find_server
        [[ -n $PG_BIN ]] || die "PostgreSQL server still not found after installing; install the postgresql package"
    fi
}

is_running() {
    [[ -n $PG_BIN && -f $PG_DIR/PG_VERSION ]] || return 1
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1
}

running_port() {
    sed -n 4p "$PG_DIR/postmaster.pid" 2>/dev/null || true
}

# Write stdin to a file in the data directory, owned by the cluster owner.
write_owned_file() {
    local file=$1
    cat >"$file"
    if is_root; then
        chown postgres:postgres "$file"
    fi
    chmod 600 "$file"
}

init_cluster() {
    local locale=C locales out
    step "initialising cluster in $PG_DIR"
    if is_root; then
        (umask 022 && mkdir -p "$PG_DIR")
        chown postgres:postgres "$PG_DIR"
    else
        mkdir -p "$PG_DIR"
    fi
    chmod 700 "$PG_DIR"
    locales=$(locale -a 2>/dev/null || true)
    if grep -qiE '^c\.utf-?8$' <<<"$locales"; then
        locale=C.UTF-8
    fi
    if ! out=$(as_owner "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust \
        --encoding=UTF8 --locale="$locale" 2>&1); then
        printf '%s\n' "$out" >&2
        die "initdb failed for $PG_DIR"
    fi
}

check_version() {
    local data_major server_major
    data_major=$(cat "$PG_DIR/PG_VERSION")
    server_major=$("$PG_BIN/postgres" --version | awk '{print $3}' | cut -d. -f1)
    [[ $data_major == "$server_major" ]] ||
        die "$PG_DIR was created by PostgreSQL $data_major but the server is $server_major; run '$0 destroy' and start again"
}

write_config() {
    write_owned_file "$PG_DIR/signet.conf" <<EOF
# Written by scripts/postgres.sh on every start; edits here are lost.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
logging_collector = off
log_destination = 'stderr'
fsync = $FSYNC
synchronous_commit = $FSYNC
full_page_writes = $FSYNC
max_connections = $MAX_CONNECTIONS
statement_timeout = '${STATEMENT_TIMEOUT}s'
lock_timeout = '$((STATEMENT_TIMEOUT / 8))s'
EOF
    if [[ $STAT_STATEMENTS == on ]]; then
        printf '%s\n' "shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.track_planning = on" >>"$PG_DIR/signet.conf"
    fi
    if ! grep -qxF "include_if_exists = 'signet.conf'" "$PG_DIR/postgresql.conf"; then
        printf '\n%s\n' "include_if_exists = 'signet.conf'" >>"$PG_DIR/postgresql.conf"
    fi
    write_owned_file "$PG_DIR/pg_hba.conf" <<'EOF'
# Written by scripts/postgres.sh on every start; edits here are lost.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
EOF
}

admin_psql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -d "host=127.0.0.1 port=$PORT user=postgres dbname=postgres sslmode=disable connect_timeout=10" "$@"
}

ensure_role_and_database() {
    local owner
    if [[ $(admin_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_ROLE'") != 1 ]]; then
        step "creating role $DB_ROLE"
        admin_psql -c "CREATE ROLE $DB_ROLE LOGIN"
    fi
    owner=$(admin_psql -tAc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$DB_NAME'")
    if [[ -z $owner ]]; then
        step "creating database $DB_NAME owned by $DB_ROLE"
        admin_psql -c "CREATE DATABASE $DB_NAME OWNER $DB_ROLE ENCODING 'UTF8'"
    elif [[ $owner != "$DB_ROLE" ]]; then
        step "making $DB_ROLE the owner of database $DB_NAME"
        admin_psql -c "ALTER DATABASE $DB_NAME OWNER TO $DB_ROLE"
    fi
}

cmd_start() {
    local log running
    ensure_server
    resolve_data_dir
    if [[ ! -f $PG_DIR/PG_VERSION ]]; then
        init_cluster
    fi
    check_version
    if is_running; then
        running=$(running_port)
        [[ $running == "$PORT" ]] ||
            die "the cluster in $PG_DIR is running on port $running, not $PORT; stop it first"
        step "already running on 127.0.0.1:$PORT ($PG_DIR)"
    else
        write_config
        log=$PG_DIR/postgres.log
        step "starting PostgreSQL on 127.0.0.1:$PORT ($PG_DIR)"
        if ! as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$log" -w -t 60 -s start; then
            if [[ -f $log ]]; then
                echo "---- last lines of $log ----" >&2
                tail -n 30 "$log" >&2
            fi
            die "PostgreSQL failed to start (is port $PORT already in use?)"
        fi
    fi
    ensure_role_and_database
    step "ready: postgres://$DB_ROLE@127.0.0.1:$PORT/$DB_NAME"
}

cmd_stop() {
    find_server
    resolve_data_dir
    if is_running; then
        step "stopping PostgreSQL ($PG_DIR)"
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w -t 60 -s stop
    else
        step "not running ($PG_DIR)"
    fi
}

cmd_status() {
    find_server
    resolve_data_dir
    if is_running; then
        echo "running on port $(running_port)"
        exit 0
    fi
    echo "not running"
    exit 3
}

cmd_destroy() {
    cmd_stop
    if [[ -z $PG_DIR || $PG_DIR == / || $PG_DIR == "$REPO_ROOT" || $PG_DIR == "${HOME:-/}" ]]; then
        die "refusing to remove '$PG_DIR'"
    fi
    if [[ ! -e $PG_DIR ]]; then
        step "nothing to remove ($PG_DIR)"
        return 0
    fi
    if [[ -f $PG_DIR/PG_VERSION || -z $(ls -A "$PG_DIR") ]]; then
        step "removing $PG_DIR"
        rm -rf -- "$PG_DIR"
    else
        die "refusing to remove $PG_DIR: it does not look like a PostgreSQL data directory"
    fi
}

cmd_url() {
    printf 'postgres://%s@127.0.0.1:%s/%s\n' "$DB_ROLE" "$PORT" "$DB_NAME"
}

[[ $# -eq 1 ]] || usage
case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
url) cmd_url ;;
destroy) cmd_destroy ;;
*) usage ;;
esac
