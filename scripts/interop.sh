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
#   SIGNET_VENV               Python virtual environment to create or reuse
#                             (default: .build/interop-venv)
#
# Exits with the exit status of pytest.
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

suite_begin interop

use_python "PyJWT[crypto]>=2.8" "authlib>=1.3" "requests" "pytest" "pyotp" "joserfc>=1.0"

# --- Database schema and settings ----------------------------------------------
create_test_schema interop

# Built-in defaults plus the variables below; other SIGNET_* variables of the
# caller (for example SIGNET_KEYS_ALGORITHM=EdDSA) apply too.
isolated_signet_settings "$work_dir"
export SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_DATABASE_SCHEMA=$schema
export SIGNET_ARGON2_MEMORY_KIB=1024
export SIGNET_ARGON2_ITERATIONS=1
# Reuse of a spent refresh token is detected at once, so the suite can test it.
export SIGNET_REFRESH_REUSE_GRACE_SECONDS=0
# Every request comes from one address; the per-address limits have their own tests.
export SIGNET_RATE_LIMIT_BURST=100000 SIGNET_RATE_LIMIT_FAILED_LOGIN_BURST=100000
export SIGNET_LOG_LEVEL=${SIGNET_LOG_LEVEL:-info}
# The admin API accepts only access tokens for this audience (pinned here so
# that a SIGNET_ADMIN_AUDIENCE of the caller cannot split server and suite).
admin_audience=urn:signet:admin
export SIGNET_ADMIN_AUDIENCE=$admin_audience

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
# The admin role requires a second factor (mfa.required_roles): the admin gets TOTP
# from the command line, and each of the suite's admin logins spends one recovery code.
step "signet users enrol-totp $admin_username"
out=$("$SIGNET_BIN" users enrol-totp "$admin_username")
admin_recovery_codes=$(field recovery_codes "$out")
admin_totp_secret=$(field secret "$out")

step "signet clients create gateway-app / partner-app / spa / admin-cli"
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

# The only client whose tokens the admin listener accepts (its audience is the
# admin audience).
out=$("$SIGNET_BIN" clients create admin-cli --auth-method client_secret_basic \
    --grant password --grant refresh_token \
    --scope openid --scope profile --audience "$admin_audience")
admin_client_id=$(field client_id "$out")
admin_client_secret=$(field client_secret "$out")

# --- Server -------------------------------------------------------------------
start_signet "$work_dir/server.log"

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
    INTEROP_ADMIN_RECOVERY_CODES=$admin_recovery_codes \
    INTEROP_ADMIN_TOTP_SECRET=$admin_totp_secret \
    INTEROP_ADMIN_AUDIENCE=$admin_audience \
    INTEROP_ADMIN_CLIENT_ID=$admin_client_id \
    INTEROP_ADMIN_CLIENT_SECRET=$admin_client_secret \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider Tests/Interop "$@" || status=$?
step "pytest exited with $status"
exit "$status"
