#!/usr/bin/env bash
# Interoperability test: run a real `signet serve` against a fresh schema and
# talk to it with off-the-shelf Python OAuth/JWT libraries (authlib, PyJWT),
# the way a third-party gateway or application would.
#
#   scripts/interop.sh [pytest options...]
#
# Environment:
#   SIGNET_TEST_DATABASE_URL  PostgreSQL URL to use (required); a schema
#                             interop_<random> is created in it and dropped
#                             afterwards
#   SIGNET_BIN                the signet executable
#                             (default: $(swift build --show-bin-path)/signet)
#   INTEROP_VENV              Python virtual environment to create or reuse
#                             (default: .build/interop-venv)
#
# Exits with the exit status of pytest.
set -euo pipefail
# A relative SIGNET_BIN is relative to the caller's directory.
if [[ -n ${SIGNET_BIN:-} && $SIGNET_BIN != /* ]]; then SIGNET_BIN=$PWD/$SIGNET_BIN; fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

[[ -n ${SIGNET_TEST_DATABASE_URL:-} ]] || die "SIGNET_TEST_DATABASE_URL must be set"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v psql >/dev/null 2>&1 || die "psql is required"

if [[ -z ${SIGNET_BIN:-} ]]; then
    SIGNET_BIN=$(swift build --show-bin-path | tail -n 1)/signet
fi
[[ -x $SIGNET_BIN ]] || die "signet executable not found at $SIGNET_BIN (build it or set SIGNET_BIN)"
export SIGNET_BIN

schema=""
server_pid=""
server_log=""
work_dir=""

# shellcheck disable=SC2317 # invoked by the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $server_pid ]]; then
        step "stopping signet serve (pid $server_pid)"
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n $server_log ]]; then
        if ((rc == 0)); then
            rm -f -- "$server_log"
        elif [[ -s $server_log ]]; then
            printf -- '--- last lines of the server log (kept in %s) ---\n' "$server_log" >&2
            tail -n 40 "$server_log" >&2 || true
            printf -- '--- end of server log ---\n' >&2
        fi
    fi
    if [[ -n $schema ]]; then
        step "dropping schema $schema"
        PGOPTIONS=--client-min-messages=warning psql "$SIGNET_TEST_DATABASE_URL" -q -v ON_ERROR_STOP=1 \
            -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null ||
            warn "could not drop schema $schema"
    fi
    if [[ -n $work_dir ]]; then
        rm -rf -- "$work_dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work_dir=$(mktemp -d /tmp/signet-interop.XXXXXX)
server_log=$(mktemp /tmp/signet-interop-server.XXXXXX.log)

# --- Python environment -------------------------------------------------------
venv=${INTEROP_VENV:-.build/interop-venv}
requirements=("PyJWT[crypto]>=2.8" "authlib>=1.3" "requests" "pytest")
pip_flags=(-q --disable-pip-version-check)
venv_usable() { "$venv/bin/python" -m pip --version >/dev/null 2>&1; }
# A venv left half made (no pip, e.g. by a python3 -m venv without ensurepip)
# is removed; nothing else is.
discard_broken_venv() {
    if [[ -e $venv/pyvenv.cfg ]] && ! venv_usable; then rm -rf -- "$venv"; fi
}
discard_broken_venv
if venv_usable; then
    step "reusing Python venv $venv"
    python=$venv/bin/python
elif [[ ! -e $venv ]] && python3 -m venv "$venv" >/dev/null 2>&1 && venv_usable; then
    step "created Python venv $venv"
    python=$venv/bin/python
else
    discard_broken_venv
    warn "cannot create a Python venv in $venv (Debian: apt-get install python3-venv); using pip install --user"
    python=python3
    pip_flags+=(--user)
fi
step "pip install ${requirements[*]}"
"$python" -m pip install "${pip_flags[@]}" "${requirements[@]}" ||
    die "pip install failed; install python3-venv (Debian) or make ${requirements[*]} importable by python3"

# --- Database schema ----------------------------------------------------------
schema=interop_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
step "creating schema $schema"
PGOPTIONS=--client-min-messages=warning psql "$SIGNET_TEST_DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$schema\"" >/dev/null

# --- Settings -----------------------------------------------------------------
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
public_port=$(free_port)
admin_port=$(free_port)
while [[ $admin_port == "$public_port" ]]; do admin_port=$(free_port); done

# Built-in defaults plus the variables below; a developer's Config/signet.json
# does not apply. Other SIGNET_* variables of the caller (for example
# SIGNET_KEYS_ALGORITHM=EdDSA) do, so the suite can run against variants.
printf '{}\n' >"$work_dir/signet.json"
export SIGNET_CONFIG_FILE=$work_dir/signet.json
export SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_DATABASE_SCHEMA=$schema
export SIGNET_PUBLIC_HOST=127.0.0.1
export SIGNET_PUBLIC_PORT=$public_port
export SIGNET_ADMIN_HOST=127.0.0.1
export SIGNET_ADMIN_PORT=$admin_port
export SIGNET_ISSUER=http://127.0.0.1:$public_port
SIGNET_MASTER_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
export SIGNET_MASTER_KEY
unset SIGNET_MASTER_KEY_FILE
export SIGNET_ARGON2_MEMORY_KIB=1024
export SIGNET_ARGON2_ITERATIONS=1
# Reuse of a spent refresh token is detected at once, so the suite can test it.
export SIGNET_REFRESH_REUSE_GRACE_SECONDS=0
# The server reloads its signing keys every second, so that a rotation made
# with `signet keys rotate` (another process) reaches it quickly.
export SIGNET_KEYS_RELOAD_INTERVAL_SECONDS=${SIGNET_KEYS_RELOAD_INTERVAL_SECONDS:-1}
export SIGNET_LOG_LEVEL=${SIGNET_LOG_LEVEL:-info}

audience=https://api.example.com
admin_url=http://$SIGNET_ADMIN_HOST:$SIGNET_ADMIN_PORT
user_username=alice
user_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
admin_username=root
admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')

# --- Data ---------------------------------------------------------------------
step "signet migrate"
"$SIGNET_BIN" migrate

step "signet users create $user_username / $admin_username"
printf '%s\n' "$user_password" |
    "$SIGNET_BIN" users create "$user_username" --role user --email "$user_username@example.com" \
        --password-stdin >/dev/null
printf '%s\n' "$admin_password" |
    "$SIGNET_BIN" users create "$admin_username" --role admin --password-stdin >/dev/null

# The value of the `NAME: value` line of a `signet clients create` output.
field() {
    local name=$1 output=$2 value
    value=$(printf '%s\n' "$output" | sed -n "s/^$name:[[:space:]]*//p" | head -n 1)
    [[ -n $value ]] || die "no '$name:' line in the output of signet clients create: $output"
    printf '%s\n' "$value"
}

step "signet clients create gateway-app / partner-app / spa"
out=$("$SIGNET_BIN" clients create gateway-app --auth-method client_secret_basic \
    --grant password --grant refresh_token --grant client_credentials \
    --scope openid --scope profile --scope api --audience "$audience")
basic_client_id=$(field client_id "$out")
basic_client_secret=$(field client_secret "$out")

out=$("$SIGNET_BIN" clients create partner-app --auth-method client_secret_post \
    --grant password --grant refresh_token \
    --scope openid --scope profile --scope api --audience "$audience")
post_client_id=$(field client_id "$out")
post_client_secret=$(field client_secret "$out")

out=$("$SIGNET_BIN" clients create spa --public --grant password --grant refresh_token \
    --scope openid --scope profile --audience "$audience")
public_client_id=$(field client_id "$out")

# --- Server -------------------------------------------------------------------
step "signet serve on $SIGNET_ISSUER (log: $server_log)"
"$SIGNET_BIN" serve >"$server_log" 2>&1 &
server_pid=$!

healthy=""
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        die "signet serve exited before answering /healthz"
    fi
    # Ready when the public listener answers /healthz and the admin listener
    # (which serves /admin/... only) accepts connections.
    if "$python" - "$SIGNET_ISSUER/healthz" "$SIGNET_ADMIN_HOST" "$SIGNET_ADMIN_PORT" <<'EOF' 2>/dev/null; then
import socket, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    if r.status != 200:
        sys.exit(1)
socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=2).close()
EOF
        healthy=1
        break
    fi
    sleep 0.5
done
[[ -n $healthy ]] || die "signet serve did not answer $SIGNET_ISSUER/healthz and listen on $admin_url within 30 s"

# --- Tests --------------------------------------------------------------------
step "pytest -q Tests/Interop $*"
status=0
SIGNET_URL=$SIGNET_ISSUER \
    INTEROP_AUDIENCE=$audience \
    INTEROP_CLIENT_ID=$basic_client_id \
    INTEROP_CLIENT_SECRET=$basic_client_secret \
    INTEROP_POST_CLIENT_ID=$post_client_id \
    INTEROP_POST_CLIENT_SECRET=$post_client_secret \
    INTEROP_PUBLIC_CLIENT_ID=$public_client_id \
    INTEROP_USERNAME=$user_username \
    INTEROP_PASSWORD=$user_password \
    SIGNET_ADMIN_URL=$admin_url \
    INTEROP_ADMIN_USERNAME=$admin_username \
    INTEROP_ADMIN_PASSWORD=$admin_password \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider Tests/Interop "$@" || status=$?
step "pytest exited with $status"
exit "$status"
