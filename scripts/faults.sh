#!/usr/bin/env bash
# Fault tests of a real `signet serve`, on a PostgreSQL cluster of their own
# (it is stopped and started on purpose, so it must not be shared):
#   1. a flood of concurrent password logins: memory stays bounded, excess logins
#      get 503 + Retry-After, /healthz, the JWKS and refresh keep answering, and
#      afterwards every flooded account still logs in (no lock from unjudged attempts);
#   2. PostgreSQL stops: /readyz 503, the token endpoint 503 temporarily_unavailable,
#      no crash; PostgreSQL returns: service resumes without a restart;
#   3. SIGTERM during a slow request: the request completes, the process exits 0;
#   4. slow clients (slowloris) against a server whose descriptor limit is 256:
#      silent and trickling connections are closed, /healthz keeps answering, the
#      connection caps keep the server below its descriptor limit, nothing spins.
#
# Environment:
#   SIGNET_BIN               the signet executable (default: $(swift build --show-bin-path)/signet)
#   SIGNET_FAULTS_PG_PORT    port of the private cluster (default: 54349)
#   SIGNET_FLOOD_LOGINS      concurrent logins of the flood (default: 1000)
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

suite_begin faults --own-database
pg_port=${SIGNET_FAULTS_PG_PORT:-54349}
pg_dir=$(mktemp -d /tmp/signet-faults-pg.XXXXXX)
is_root && chown postgres:postgres "$pg_dir"
pg() { SIGNET_PG_DIR=$pg_dir SIGNET_PG_PORT=$pg_port SIGNET_PG_FSYNC=off ./scripts/postgres.sh "$@"; }

# shellcheck disable=SC2317 # invoked by suite_end
suite_teardown() {
    stop_signet
    pg destroy >/dev/null 2>&1 || warn "could not destroy the cluster in $pg_dir"
    rm -rf -- "$pg_dir"
}

pg start
SIGNET_DATABASE_URL=$(pg url)
export SIGNET_DATABASE_URL
isolated_signet_settings "$work_dir"
# Real Argon2 cost (the flood is about its memory); the address limits are off so
# that the hashing queue, not the rate limiter, meets the flood.
export SIGNET_RATE_LIMIT_BURST=1000000 SIGNET_RATE_LIMIT_REQUESTS_PER_SECOND=1000000
# Logins in flight hold a failed-login token until they succeed; the flood is about the hashing queue.
export SIGNET_RATE_LIMIT_FAILED_LOGIN_BURST=100000
export SIGNET_DATABASE_CONNECT_TIMEOUT_SECONDS=2 SIGNET_HTTP_REQUEST_TIMEOUT_SECONDS=3 SIGNET_LOG_LEVEL=warning

"$SIGNET_BIN" migrate >/dev/null
password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
printf '%s\n' "$password" | "$SIGNET_BIN" users create flood --password-stdin >/dev/null
# The flood spreads over accounts: logins of one account are taken one at a time.
flood_users=16
for ((index = 0; index < flood_users; index++)); do
    printf '%s\n' "$password" | "$SIGNET_BIN" users create "flood-$index" --password-stdin >/dev/null
done
out=$("$SIGNET_BIN" clients create app --grant password --grant refresh_token)
client_secret=$(field client_secret "$out")
threads=$(nproc)
memory_kib=19456

auth=(-u "app:$client_secret")
login() { curl -s -o /dev/null -w '%{http_code}' -m 20 "${auth[@]}" -d grant_type=password -d username=flood \
    --data-urlencode "password=$password" "$SIGNET_ISSUER/oauth2/token"; }
status_of() { curl -s -o /dev/null -w '%{http_code}' -m 20 "$SIGNET_ISSUER$1"; }
# Polls until `$1` (a command) prints $2, for at most $3 seconds.
await_output() {
    local deadline=$((SECONDS + $3)) got=""
    while ((SECONDS < deadline)); do
        got=$($1 || true)
        [[ $got == "$2" ]] && return 0
        sleep 0.5
    done
    die "expected $2 from '$1' within $3 s, last answer: $got"
}

# --- 1. Login flood -------------------------------------------------------------
start_signet "$work_dir/server.log"
step "flood: ${SIGNET_FLOOD_LOGINS:-1000} concurrent logins"
python3 Tests/Faults/flood.py --host 127.0.0.1 --port "$SIGNET_PUBLIC_PORT" --pid "$server_pid" \
    --client app --secret "$client_secret" --user flood --users "$flood_users" --password "$password" \
    --logins "${SIGNET_FLOOD_LOGINS:-1000}" --threads "$threads" --argon2-kib "$memory_kib"

# --- 2. Database outage -----------------------------------------------------------
step "outage: stopping PostgreSQL under a running server"
[[ $(status_of /readyz) == 200 ]] || die "/readyz is not 200 before the outage"
pg stop
readyz() { status_of /readyz; }
await_output readyz 503 10
start=$SECONDS
body=$(curl -s -m 30 -w ' %{http_code}' "${auth[@]}" -d grant_type=password -d username=flood \
    --data-urlencode "password=$password" "$SIGNET_ISSUER/oauth2/token")
[[ $body == *'"temporarily_unavailable"'*' 503' ]] || die "token endpoint during the outage answered: $body"
step "token endpoint answered 503 temporarily_unavailable after $((SECONDS - start)) s"
[[ $(status_of /healthz) == 200 ]] || die "/healthz failed during the outage"
kill -0 "$server_pid" || die "signet serve died during the outage"
pg start
await_output readyz 200 20
await_output login 200 20
step "recovered without a restart"

# --- 3. SIGTERM drain ------------------------------------------------------------
step "drain: SIGTERM during a slow login"
stop_signet
# Logins of this user take long: their hash costs 256 MiB and 4 passes.
slow_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
printf '%s\n' "$slow_password" |
    SIGNET_ARGON2_MEMORY_KIB=262144 SIGNET_ARGON2_ITERATIONS=4 "$SIGNET_BIN" users create slow --password-stdin >/dev/null
start_signet "$work_dir/server.log"
curl -s -o "$work_dir/slow.json" -w '%{http_code}' -m 30 "${auth[@]}" -d grant_type=password -d username=slow \
    --data-urlencode "password=$slow_password" "$SIGNET_ISSUER/oauth2/token" >"$work_dir/slow.status" &
client_pid=$!
sleep 0.15
kill -TERM "$server_pid"
wait "$client_pid" || true
set +e
wait "$server_pid"
exit_code=$?
set -e
server_pid=""
[[ $(cat "$work_dir/slow.status") == 200 ]] || die "the in-flight login got $(cat "$work_dir/slow.status"): $(cat "$work_dir/slow.json")"
grep -q '"refresh_token"' "$work_dir/slow.json" || die "the in-flight login returned no tokens"
((exit_code == 0)) || die "signet serve exited with $exit_code after SIGTERM"
[[ $(status_of /healthz) == 000 ]] || die "the server still answers after its exit"
step "in-flight login completed, exit status 0"

# --- 4. Slow clients -------------------------------------------------------------
step "slowloris: 300 silent connections and a trickled body, descriptor limit 256"
fd_limit=256
serve_prefix=(prlimit "--nofile=$fd_limit:$fd_limit")
SIGNET_HTTP_IDLE_TIMEOUT_SECONDS=2 SIGNET_HTTP_READ_TIMEOUT_SECONDS=3 start_signet "$work_dir/server.log"
serve_prefix=()
# The cap in force, as the server computed it from its descriptor limit and logged it.
cap=$(grep -o '"used": "[0-9]*"\|used=[0-9]*' "$work_dir/server.log" | grep -o '[0-9]*' | head -n 1)
[[ -n $cap ]] || die "the server did not log the connection cap it lowered to fit $fd_limit descriptors"
python3 Tests/Faults/slowloris.py --host 127.0.0.1 --port "$SIGNET_PUBLIC_PORT" --pid "$server_pid" \
    --connections 300 --idle-timeout 2 --read-timeout 3 --fd-limit "$fd_limit" --cap "$cap"
[[ $(status_of /healthz) == 200 ]] || die "/healthz does not answer after the slow clients left"
stop_signet
step "slow clients closed, the server stayed responsive"
printf 'faults: 4 passed, 0 failed\n'
