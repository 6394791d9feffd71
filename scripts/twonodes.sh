#!/usr/bin/env bash
# Two-node test: two `signet serve` processes (node A and node B) on one
# PostgreSQL schema, with the same issuer and master key, act as one server:
# tokens, refresh rotation, revocations, key rotations and admin actions made
# through one node hold at the other at once (Tests/Scale/two_nodes.py).
#
# The nodes reload their keys and drop their caches only every hour here, so
# whatever crosses between them within the test travels through PostgreSQL
# LISTEN/NOTIFY.
#
# Environment:
#   SIGNET_TEST_DATABASE_URL  PostgreSQL URL to use (required); a schema
#                             twonodes_<random> is created in it and dropped
#                             afterwards
#   SIGNET_BIN                the signet executable
#                             (default: $(swift build --show-bin-path)/signet)
#   SIGNET_VENV               Python virtual environment to create or reuse
#                             (default: .build/interop-venv)
#
# Prints `twonodes: N passed, M failed` last; exits non-zero on any failure.
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

suite_begin twonodes

node_a_pid=""
node_b_pid=""

sql() {
    PGOPTIONS=--client-min-messages=warning psql "$SIGNET_TEST_DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# shellcheck disable=SC2317 # invoked by suite_end
suite_teardown() {
    local pid
    # start_signet leaves a server it gave up on in $server_pid, which suite_end stops.
    for pid in "$node_a_pid" "$node_b_pid"; do
        [[ -n $pid ]] || continue
        step "stopping signet serve (pid $pid)"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

use_python "PyJWT[crypto]>=2.8" requests

create_test_schema twonodes

# --- Settings shared by both nodes ----------------------------------------------
# Free loopback ports for node A, the issuer (node A's URL, used by both), a
# random master key, and no developer Config/signet.json.
isolated_signet_settings "$work_dir"
export SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_DATABASE_SCHEMA=$schema
# The admin's token comes from the password grant; this suite is about two nodes, not
# the second factor (tested by the Swift, interop and browser suites).
export SIGNET_MFA_REQUIRED_ROLES=none
export SIGNET_ARGON2_MEMORY_KIB=1024 SIGNET_ARGON2_ITERATIONS=1
# Strict reuse detection: a spent refresh token is refused at once, on either node.
export SIGNET_REFRESH_REUSE_GRACE_SECONDS=0
# Timers far longer than the test: keys and caches must follow changes through NOTIFY.
export SIGNET_KEYS_RELOAD_INTERVAL_SECONDS=3600 SIGNET_CACHE_REFRESH_INTERVAL_SECONDS=3600
# The test polls quickly from one address; the per-address limiter is not under test.
export SIGNET_RATE_LIMIT_BURST=1000000 SIGNET_RATE_LIMIT_REQUESTS_PER_SECOND=1000000
export SIGNET_LOG_LEVEL=${SIGNET_LOG_LEVEL:-info}
# The admin API accepts only access tokens for this audience (pinned so that a
# SIGNET_ADMIN_AUDIENCE of the caller cannot change it under the admin client).
admin_audience=urn:signet:admin
export SIGNET_ADMIN_AUDIENCE=$admin_audience

a_public_port=$SIGNET_PUBLIC_PORT
a_admin_port=$SIGNET_ADMIN_PORT
b_public_port=$(free_port)
b_admin_port=$(free_port)
while [[ " $a_public_port $a_admin_port $b_public_port " == *" $b_admin_port "* ||
    " $a_public_port $a_admin_port " == *" $b_public_port "* ]]; do
    b_public_port=$(free_port)
    b_admin_port=$(free_port)
done

audience=https://api.example.com
user_name=alice
user_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
admin_name=root
admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')

# --- Data -----------------------------------------------------------------------
step "signet migrate"
"$SIGNET_BIN" migrate >/dev/null
step "signet users create $user_name / $admin_name (admin), clients create twonodes-app / twonodes-admin"
printf '%s\n' "$user_password" | "$SIGNET_BIN" users create "$user_name" --role user --password-stdin >/dev/null
printf '%s\n' "$admin_password" | "$SIGNET_BIN" users create "$admin_name" --role admin --password-stdin >/dev/null
out=$("$SIGNET_BIN" clients create twonodes-app --auth-method client_secret_basic \
    --grant password --grant refresh_token --scope openid --scope profile --audience "$audience")
client_id=$(field client_id "$out")
client_secret=$(field client_secret "$out")
# The admin logs in through this client: only its tokens carry the admin audience.
out=$("$SIGNET_BIN" clients create twonodes-admin --auth-method client_secret_basic \
    --grant password --grant refresh_token --scope openid --scope profile --audience "$admin_audience")
admin_client_id=$(field client_id "$out")
admin_client_secret=$(field client_secret "$out")

# --- Nodes ----------------------------------------------------------------------
step "node A"
start_signet "$work_dir/node-a.log"
node_a_pid=$server_pid
server_pid=""
step "node B"
SIGNET_PUBLIC_PORT=$b_public_port SIGNET_ADMIN_PORT=$b_admin_port
start_signet "$work_dir/node-b.log"
node_b_pid=$server_pid
server_pid=""
SIGNET_PUBLIC_PORT=$a_public_port SIGNET_ADMIN_PORT=$a_admin_port

# A node answers /healthz before its change feed is subscribed; wait until both
# listen on signet_<schema>, or the first notifications could go unheard.
step "waiting for both nodes to LISTEN on signet_$schema"
listeners=0
deadline=$((SECONDS + 15))
while ((SECONDS < deadline)); do
    listeners=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
        AND query ILIKE '%LISTEN%signet_$schema%'")
    ((listeners >= 2)) && break
    sleep 0.2
done
((listeners >= 2)) || warn "only $listeners connection(s) seen to LISTEN on signet_$schema after 15 s; testing anyway"

# --- Test -----------------------------------------------------------------------
step "Tests/Scale/two_nodes.py (node A $SIGNET_ISSUER, node B http://127.0.0.1:$b_public_port)"
status=0
TWONODES_A_URL=http://127.0.0.1:$a_public_port \
    TWONODES_B_URL=http://127.0.0.1:$b_public_port \
    TWONODES_A_ADMIN_URL=http://127.0.0.1:$a_admin_port \
    TWONODES_ISSUER=$SIGNET_ISSUER \
    TWONODES_AUDIENCE=$audience \
    TWONODES_CLIENT_ID=$client_id \
    TWONODES_CLIENT_SECRET=$client_secret \
    TWONODES_USERNAME=$user_name \
    TWONODES_PASSWORD=$user_password \
    TWONODES_ADMIN_USERNAME=$admin_name \
    TWONODES_ADMIN_PASSWORD=$admin_password \
    TWONODES_ADMIN_CLIENT_ID=$admin_client_id \
    TWONODES_ADMIN_CLIENT_SECRET=$admin_client_secret \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" Tests/Scale/two_nodes.py || status=$?
for pid in "$node_a_pid" "$node_b_pid"; do
    kill -0 "$pid" 2>/dev/null || die "signet serve (pid $pid) is no longer running"
done
exit "$status"
