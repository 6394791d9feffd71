#!/usr/bin/env bash
# Load benchmarks of a release `signet serve` on loopback, with wrk:
#   jwks         GET /.well-known/jwks.json, on Signet and on nginx serving a
#                byte-identical static copy
#   hash         the Argon2id ceiling: `signet bench hash` (no HTTP)
#   login        the password grant, valid credentials, client Basic auth
#   refresh      the refresh_token grant, each session chaining its newest token
#   cc           the client_credentials grant
#   cc-jwe       the same for a client whose access tokens are encrypted
#                (ECDH-ES+A256KW, A256GCM) to a key it registered
#   cc-dpop      the same with a fresh DPoP proof (ES256) on every request,
#                made before the run: bound tokens (token_type DPoP, cnf.jkt)
#   introspect   POST /oauth2/introspect of one live access token
#   authorize    GET /oauth2/authorize from 32 signed-in browsers (single
#                sign-on: a 302 with a fresh code, no page)
#   exchange     the code exchange of the codes just made (PKCE, one refresh
#                family and two signatures, the ID token's RS256); runs
#                authorize first when that was not asked for
#   audit        GET /admin/audit on the admin listener with an admin's token:
#                the newest 50 events of one user (audit), then of one type
#                (audit-type)
# then prints one markdown table with the figures, the targets beside them,
# and Signet's resident memory (idle before the load, peak at the end). Per
# run: requests/s, p50 and p99 latency, responses with status >= 400, socket
# errors and timeouts, the CPU time per request of the HTTP server and of
# PostgreSQL (from /proc; less sensitive than requests/s to other load on the
# machine), and the HTTP server's context switches per request.
# Targets are reported, never enforced: the exit status only says whether the
# runs could be made.
#
# Everything runs on a PostgreSQL cluster of its own (fsync on) and on free
# loopback ports; whatever the script starts is stopped by PID on exit.
#
# Environment:
#   BENCH_DURATION        seconds of each wrk run (default: 10)
#   BENCH_CONNECTIONS     wrk connections (default: 32)
#   BENCH_THREADS         wrk threads (default: 2)
#   BENCH_TIMEOUT         wrk per-request timeout, seconds (default: 5)
#   BENCH_HASH_SECONDS    length of `signet bench hash` (default: 10)
#   BENCH_SCENARIOS       subset to run, e.g. "jwks refresh" (default: all)
#   BENCH_PG_PORT         port of the private cluster (default: 54347)
#   BENCH_SCRATCH_PATH    scratch path of the release build (default: .build-bench)
#   BENCH_RESULTS_DIR     where the raw wrk output, the server log and
#                         table.md are kept (default: a new /tmp/signet-bench.*)
#   BENCH_STATUS_DETAIL   1: record the status and first body of every failing
#                         response in all scenarios (costs client CPU; the
#                         refresh scenario always does it)
#   BENCH_PROFILE         1: run `perf record -F 499 -g` on signet serve during
#                         each Signet scenario (as root, or with the sysctl
#                         kernel.perf_event_paranoid at most 1); keeps perf-NAME.data
#                         and a summary by category, profile-NAME.txt
#                         (scripts/bench/profile-summary.py), in the results
#                         directory. Sampling costs CPU: the figures of a profiled
#                         run are a little worse
#   BENCH_PEER            glewlwyd: once Signet is stopped, also run the jwks,
#                         login, refresh, cc and introspect scenarios asked for
#                         against Glewlwyd (Debian package, installed if missing)
#                         on a PostgreSQL cluster of its own, and add a second
#                         table, Signet beside it (scripts/bench/glewlwyd.sh)
#   BENCH_SCALE           1: after the runs above, seed the database (1,000,000
#                         users, 100,000 clients, 2,000,000 sessions, 100,000
#                         revoked jtis, 10,000,000 audit events; straight into
#                         PostgreSQL, scripts/bench/seed-scale.sql), run the
#                         login, refresh, introspect and audit scenarios asked
#                         for again, log the plans of their statements, and add
#                         a table of empty beside seeded (scripts/bench/scale.sh).
#                         BENCH_SCENARIOS then defaults to those four
#   BENCH_SCALE_PERCENT   size of the seeded data, percent of the above (default: 100)
#   BENCH_PG_STATEMENTS   1: load pg_stat_statements (with planning times) and
#                         keep each run's costliest statements in
#                         pg-statements-NAME.txt (costs PostgreSQL some CPU)
#   SIGNET_BIN            a signet executable to use instead of building one
set -euo pipefail
if [[ -n ${SIGNET_BIN:-} && $SIGNET_BIN != /* ]]; then SIGNET_BIN=$PWD/$SIGNET_BIN; fi
if [[ -n ${BENCH_RESULTS_DIR:-} && $BENCH_RESULTS_DIR != /* ]]; then BENCH_RESULTS_DIR=$PWD/$BENCH_RESULTS_DIR; fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck source=scripts/bench/glewlwyd.sh
source scripts/bench/glewlwyd.sh
# shellcheck source=scripts/bench/scale.sh
source scripts/bench/scale.sh

duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-32}
wrk_threads=${BENCH_THREADS:-2}
wrk_timeout=${BENCH_TIMEOUT:-5}
hash_seconds=${BENCH_HASH_SECONDS:-10}
pg_port=${BENCH_PG_PORT:-54347}
scratch=${BENCH_SCRATCH_PATH:-.build-bench}
pg_statements=off
if [[ ${BENCH_PG_STATEMENTS:-0} == 1 ]]; then pg_statements=on; fi
scenarios=${BENCH_SCENARIOS:-jwks hash login refresh cc cc-jwe cc-dpop introspect authorize exchange audit}
if [[ $scale == 1 && -z ${BENCH_SCENARIOS:-} ]]; then scenarios="login refresh introspect audit"; fi
scenarios=${scenarios//,/ }
for name in duration connections wrk_threads wrk_timeout hash_seconds pg_port; do
    [[ ${!name} =~ ^[1-9][0-9]*$ ]] || die "$name must be a positive integer, got '${!name}'"
done
((connections >= wrk_threads)) || die "BENCH_CONNECTIONS must be at least BENCH_THREADS"
if [[ " $scenarios " == *" exchange "* ]] && ((duration > 18)); then
    die "BENCH_DURATION must be at most 18 s with the exchange scenario (its codes, made by the authorize run, live 60 s)"
fi
for scenario in $scenarios; do
    case $scenario in jwks | hash | login | refresh | cc | cc-jwe | cc-dpop | introspect | authorize | exchange | audit) ;;
    *) die "unknown scenario '$scenario' in BENCH_SCENARIOS (jwks hash login refresh cc cc-jwe cc-dpop introspect authorize exchange audit)" ;;
    esac
done
wants() { [[ " $scenarios " == *" $1 "* ]]; }
peer=${BENCH_PEER:-}
case $peer in "" | glewlwyd) ;; *) die "unknown BENCH_PEER '$peer' (glewlwyd)" ;; esac
if [[ -n $peer && -z $(glewlwyd_scenarios) ]]; then
    die "BENCH_PEER=$peer compares jwks login refresh cc introspect; BENCH_SCENARIOS has none of them"
fi
if [[ $scale == 1 && -z $(scale_scenarios) ]]; then
    die "BENCH_SCALE=1 repeats login refresh introspect audit on the seeded database; BENCH_SCENARIOS has none of them"
fi
profile=${BENCH_PROFILE:-0}
[[ $profile == 0 || $profile == 1 ]] || die "BENCH_PROFILE must be 0 or 1, got '$profile'"

# --- Tools -----------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if wants jwks && ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then missing+=(nginx); fi
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[[ -n $(pg_bindir) ]] || missing+=(postgresql)
if [[ $profile == 1 ]] && ! command -v perf >/dev/null 2>&1; then missing+=(linux-perf); fi
if ((${#missing[@]} > 0)); then
    apt_install "${missing[@]}" >&2
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        warn "the nginx package may have enabled its own system service; this script only runs private instances"
    fi
fi
nginx_bin=""
if wants jwks; then
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $nginx_bin ]] || die "nginx not found after installing it"
fi
pg_bin=$(pg_bindir)
[[ -n $pg_bin ]] || die "PostgreSQL server programs not found"

# --- Release build ------------------------------------------------------------------
if [[ -z ${SIGNET_BIN:-} ]]; then
    step "swift build -c release --product signet --scratch-path $scratch"
    swift build -c release --product signet --scratch-path "$scratch" >&2
    SIGNET_BIN=$(swift build -c release --scratch-path "$scratch" --show-bin-path | tail -n 1)/signet
fi
[[ -x $SIGNET_BIN ]] || die "signet executable not found at $SIGNET_BIN"

# --- Scratch space and cleanup -------------------------------------------------------
results_dir=${BENCH_RESULTS_DIR:-$(mktemp -d /tmp/signet-bench.XXXXXX)}
mkdir -p -- "$results_dir"
pg_dir=$(mktemp -d /tmp/signet-bench-pg.XXXXXX)
work_dir=$(mktemp -d /tmp/signet-bench-work.XXXXXX)
is_root && chown postgres:postgres "$pg_dir"
server_pid=""
nginx_pid=""
child_pid=""
perf_pid=""
profiled=() # scenarios with a perf-NAME.data (BENCH_PROFILE=1)
# Never without an explicit data directory: postgres.sh would fall back to .data/pg.
pg() {
    [[ -n $pg_dir ]] || die "no private cluster directory"
    SIGNET_PG_DIR=$pg_dir SIGNET_PG_PORT=$pg_port SIGNET_PG_FSYNC=on SIGNET_PG_STAT_STATEMENTS=$pg_statements ./scripts/postgres.sh "$@"
}
# psql as the cluster's superuser, on Signet's database.
pg_psql() { "$pg_bin/psql" -X -q -At -v ON_ERROR_STOP=1 -d "host=127.0.0.1 port=$pg_port user=postgres dbname=signet sslmode=disable" "$@"; }

stop_pid() {
    local pid=$1 signal=${2:-TERM}
    [[ -n $pid ]] || return 0
    kill "-$signal" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$child_pid"
    stop_pid "$perf_pid" INT
    stop_pid "$nginx_pid"
    stop_signet
    glewlwyd_cleanup "$rc"
    if [[ -s $work_dir/server.log ]]; then
        cp "$work_dir/server.log" "$results_dir/server.log" 2>/dev/null || true
        if ((rc != 0)); then
            printf -- '--- last lines of the server log ---\n' >&2
            tail -n 30 "$work_dir/server.log" >&2 || true
        fi
    fi
    pg destroy >/dev/null 2>&1 || warn "could not destroy the cluster in $pg_dir"
    rm -rf -- "$pg_dir" "$work_dir"
    if ((rc != 0)); then warn "benchmark failed; partial output in $results_dir"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_child OUTPUT COMMAND...: runs the command in the background with its
# stdout and stderr in OUTPUT and waits for it, so that the trap can stop it by
# PID. (The redirection stays on the child: on the function call it would also
# capture the trap's own messages.)
run_child() {
    local output=$1
    shift
    "$@" >"$output" 2>&1 &
    child_pid=$!
    local rc=0
    wait "$child_pid" || rc=$?
    child_pid=""
    return "$rc"
}

# Memory of a server from /proc, in MiB: memory_mib VmRSS|VmHWM [PID] (default: Signet).
memory_mib() {
    awk -v key="$1:" '$1 == key { printf "%.1f\n", $2 / 1024 }' "/proc/${2:-$server_pid}/status"
}

# --- PostgreSQL and Signet -------------------------------------------------------------
pg start
if [[ $pg_statements == on ]]; then pg_psql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"; fi
SIGNET_DATABASE_URL=$(pg url)
export SIGNET_DATABASE_URL
isolated_signet_settings "$work_dir"
# One client address drives all the load: lift the per-address limits (to the
# largest values the settings accept). Argon2 keeps its defaults.
export SIGNET_RATE_LIMIT_REQUESTS_PER_SECOND=1000000 SIGNET_RATE_LIMIT_BURST=1000000
export SIGNET_RATE_LIMIT_FAILED_LOGIN_BURST=100000
export SIGNET_LOG_LEVEL=warning

"$SIGNET_BIN" migrate >/dev/null
password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
printf '%s\n' "$password" | "$SIGNET_BIN" users create bench --password-stdin >/dev/null
# The login scenario spreads over accounts: logins of one account are taken one at a time.
bench_users=16
for ((index = 0; index < bench_users; index++)); do
    printf '%s\n' "$password" | "$SIGNET_BIN" users create "bench-$index" --password-stdin >/dev/null
done
out=$("$SIGNET_BIN" clients create bench-app --grant password --grant refresh_token --grant client_credentials)
client_secret=$(field client_secret "$out")
basic="Basic $(printf '%s' "bench-app:$client_secret" | base64 | tr -d '\n')"
# A first-party web application for browser sign-in (no consent page).
web_redirect=http://127.0.0.1:9/callback
out=$("$SIGNET_BIN" clients create bench-web --grant authorization_code --grant refresh_token --scope openid --scope profile \
    --redirect-uri "$web_redirect" --skip-consent)
web_basic="Basic $(printf '%s' "bench-web:$(field client_secret "$out")" | base64 | tr -d '\n')"
# The JWE and DPoP scenarios: keys made with Python's cryptography package.
if wants cc-jwe || wants cc-dpop; then
    use_python "cryptography>=41"
fi
if wants cc-jwe; then
    "$python" - >"$work_dir/jwe-jwks.json" <<'PY'
import base64, json
from cryptography.hazmat.primitives.asymmetric import ec
numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "use": "enc", "kid": "bench-rs", "x": b64(numbers.x), "y": b64(numbers.y)}]}))
PY
    out=$("$SIGNET_BIN" clients create bench-jwe --grant client_credentials --jwks-file "$work_dir/jwe-jwks.json" \
        --access-token-encryption ECDH-ES+A256KW)
    jwe_basic="Basic $(printf '%s' "bench-jwe:$(field client_secret "$out")" | base64 | tr -d '\n')"
fi
if wants audit; then audit_setup; fi
base=http://$SIGNET_PUBLIC_HOST:$SIGNET_PUBLIC_PORT

start_signet "$work_dir/server.log"
sleep 2
rss_idle=$(memory_mib VmRSS)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
step "signet serve is up (pid $server_pid), idle RSS $rss_idle MiB"

# A login through curl; prints the response body.
login() {
    curl -sS -f -m 30 -H "Authorization: $basic" \
        -d "grant_type=password&username=bench&password=$password" "$base/oauth2/token"
}
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# refresh_run NAME URL AUTHORIZATION LOGIN: two sessions per connection (see
# scripts/bench/refresh.lua), each from the command LOGIN (prints a token response), then wrk
# rotates their refresh tokens at URL as the client AUTHORIZATION names.
refresh_run() {
    local name=$1 url=$2 authorization=$3 login_command=$4 sessions=$((connections * 2)) i
    local tokens_file=$work_dir/$name-tokens
    step "$name: $sessions logins for the initial refresh tokens"
    : >"$tokens_file"
    for ((i = 0; i < sessions; i++)); do
        "$login_command" | json_field refresh_token >>"$tokens_file"
    done
    BENCH_AUTHORIZATION=$authorization BENCH_REFRESH_TOKENS=$tokens_file BENCH_THREADS=$wrk_threads \
        wrk_run "$name" "$url" "$lua_dir/refresh.lua"
}

# --- Load ----------------------------------------------------------------------------------
declare -A result=()

# CPU time (user + system, in clock ticks) used so far by the given processes.
cpu_ticks() {
    local pid stat total=0
    local -a fields
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    printf '%s\n' "$total"
}
clock_ticks=$(getconf CLK_TCK)
# CPU time (clock ticks) of the children this shell has waited for so far.
children_cpu_ticks() {
    local stat
    local -a fields
    stat=$(cat "/proc/$$/stat")
    read -r -a fields <<<"${stat##*) }"
    printf '%s\n' "$((fields[13] + fields[14]))"
}
# The PostgreSQL server processes of the private cluster (postmaster and children),
# or of the peer's own cluster for a peer scenario (peer-NAME): pg_pids [SCENARIO].
pg_pids() {
    local postmaster dir=$pg_dir
    if [[ ${1:-} == peer-* ]]; then dir=$glewlwyd_pg_dir; fi
    [[ -r $dir/postmaster.pid ]] || return 0
    postmaster=$(head -n 1 "$dir/postmaster.pid")
    printf '%s\n' "$postmaster"
    pgrep -P "$postmaster" || true
}
# The HTTP server a scenario loads: Signet, nginx (master and workers), or the
# peer (BENCH_PEER) for peer-NAME.
target_pids() {
    if [[ $1 == nginx ]]; then
        printf '%s\n' "$nginx_pid"
        pgrep -P "$nginx_pid" || true
    elif [[ $1 == peer-* ]]; then
        printf '%s\n' "$glewlwyd_pid"
    else
        printf '%s\n' "$server_pid"
    fi
}

# Context switches (voluntary and involuntary) so far of all threads of the
# given processes, from /proc/PID/task/*/status. A thread that exits between two
# readings takes its count with it (the kernel keeps it only in the process's
# rusage, which /proc does not show), so such a run is undercounted. Signet's
# dispatch worker threads do come and go under load, but rarely: on a few runs
# the sums matched `perf stat -e context-switches -p PID`, which follows exiting
# threads, within 0.1 %.
ctx_switches() {
    local pid
    for pid in "$@"; do
        cat "/proc/$pid/task/"*/status 2>/dev/null || true
    done | awk '$1 == "voluntary_ctxt_switches:" || $1 == "nonvoluntary_ctxt_switches:" { n += $2 } END { printf "%d\n", n }'
}

# wrk_run NAME URL LUA_SCRIPT: runs wrk, keeps its output in the results
# directory, and records the fields of its `bench-result` line as
# result[NAME.field], the server's RSS right after the run, the CPU time
# per request of the HTTP server and of PostgreSQL during the run, and the
# HTTP server's context switches per request. With BENCH_PROFILE=1, a Signet
# run is sampled by `perf record` into perf-NAME.data (summarised at the end).
wrk_run() {
    local name=$1 url=$2 script=$3 output=$results_dir/wrk-$1.txt line pair seconds=${run_seconds:-$duration}
    local -a server_pids database_pids
    local server_before database_before switches_before
    mapfile -t server_pids < <(target_pids "$name")
    mapfile -t database_pids < <(pg_pids "$name")
    if [[ $profile == 1 && -n $server_pid && ${server_pids[0]} == "$server_pid" ]]; then
        # Frame-pointer call chains: enough for Swift code (DWARF unwinding costs
        # about 8 MB of stack copies per second and minutes of `perf script`).
        perf record -F 499 -g --no-buildid-cache -p "$server_pid" -o "$results_dir/perf-$name.data" >"$work_dir/perf-$name.log" 2>&1 &
        perf_pid=$!
        sleep 1 # attached (it reads the process's threads and maps first)
        kill -0 "$perf_pid" 2>/dev/null || {
            cat "$work_dir/perf-$name.log" >&2
            perf_pid=""
            die "perf record failed in scenario $name"
        }
    fi
    if [[ $pg_statements == on ]]; then pg_psql -c "SELECT pg_stat_statements_reset()" >/dev/null; fi
    step "$name: wrk -t$wrk_threads -c$connections -d${seconds}s $url"
    server_before=$(cpu_ticks "${server_pids[@]}")
    database_before=$(cpu_ticks "${database_pids[@]}")
    switches_before=$(ctx_switches "${server_pids[@]}")
    run_child "$output" wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --timeout "${wrk_timeout}s" --latency \
        -s "$script" "$url" || {
        cat "$output" >&2
        die "wrk failed in scenario $name"
    }
    line=$(grep -m 1 '^bench-result ' "$output") || {
        cat "$output" >&2
        die "no result line from wrk in scenario $name"
    }
    for pair in ${line#bench-result }; do
        result[$name.${pair%%=*}]=${pair#*=}
    done
    result[$name.rss]=$(memory_mib VmRSS "${server_pids[0]}")
    result[$name.server_cpu_us]=$(per_request "$(($(cpu_ticks "${server_pids[@]}") - server_before))" "${result[$name.requests]}")
    result[$name.database_cpu_us]=$(per_request "$(($(cpu_ticks "${database_pids[@]}") - database_before))" "${result[$name.requests]}")
    result[$name.switches]=$(awk -v s="$(($(ctx_switches "${server_pids[@]}") - switches_before))" -v n="${result[$name.requests]}" \
        'BEGIN { if (n > 0) printf "%.2f", s / n; else printf "-" }')
    if [[ $pg_statements == on ]]; then
        # The statements of the run by total time: calls, planning and execution per call.
        pg_psql -F ' | ' -c "SELECT calls, plans, round(mean_plan_time::numeric * 1000), round(mean_exec_time::numeric * 1000),
                rows, left(regexp_replace(query, '\s+', ' ', 'g'), 100)
            FROM pg_stat_statements WHERE calls > 0 ORDER BY total_plan_time + total_exec_time DESC LIMIT 8" \
            >"$results_dir/pg-statements-$name.txt" || true
        sed -i '1i calls | plans | mean plan µs | mean execution µs | rows | statement' "$results_dir/pg-statements-$name.txt"
        # Updates so far, and how many were HOT (no index entry written: the rotation touches no
        # indexed column of sessions, and the page had room).
        pg_psql -F ' | ' -c "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
            WHERE relname IN ('sessions', 'browser_sessions', 'authorization_codes', 'users') ORDER BY relname" |
            sed '1i\
table | updates | HOT updates' >>"$results_dir/pg-statements-$name.txt" || true
    fi
    if [[ -n $perf_pid ]]; then
        stop_pid "$perf_pid" INT
        perf_pid=""
        profiled+=("$name")
    fi
    if grep -q '^bench-status ' "$output"; then
        grep '^bench-status ' "$output" | sed "s/^bench-status /  $name: status /" >&2
    fi
    step "$name: ${result[$name.rps]} req/s, p50 ${result[$name.p50_ms]} ms, p99 ${result[$name.p99_ms]} ms, non-2xx ${result[$name.non2xx]}"
    sleep 1
}

# Microseconds of CPU per request: per_request TICKS REQUESTS.
per_request() { awk -v t="$1" -v n="$2" -v hz="$clock_ticks" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else printf "-" }'; }

lua_dir=$PWD/scripts/bench
export BENCH_STATUS_DETAIL=${BENCH_STATUS_DETAIL:-0}

if wants jwks; then
    # nginx on its own free port, serving the JWKS bytes Signet serves, with
    # the same Cache-Control (nginx adds its own ETag, as Signet does).
    nginx_dir=$work_dir/nginx
    mkdir -p "$nginx_dir/www/.well-known" "$nginx_dir/tmp"
    curl -sS -f -D "$nginx_dir/jwks.headers" -o "$nginx_dir/www/.well-known/jwks.json" "$base/.well-known/jwks.json"
    cache_control=$(sed -n 's/^[Cc]ache-[Cc]ontrol:[[:space:]]*//p' "$nginx_dir/jwks.headers" | tr -d '\r')
    [[ -n $cache_control ]] || die "the JWKS answered without Cache-Control"
    nginx_port=$(free_port)
    nginx_user=""
    if is_root; then nginx_user="user root root;"; fi
    cat >"$nginx_dir/nginx.conf" <<EOF
$nginx_user
daemon off;
master_process on;
worker_processes auto;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $nginx_dir/tmp/body;
    proxy_temp_path $nginx_dir/tmp/proxy;
    fastcgi_temp_path $nginx_dir/tmp/fastcgi;
    uwsgi_temp_path $nginx_dir/tmp/uwsgi;
    scgi_temp_path $nginx_dir/tmp/scgi;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    types { }
    default_type application/json;
    server {
        listen 127.0.0.1:$nginx_port;
        root $nginx_dir/www;
        location = /.well-known/jwks.json {
            add_header Cache-Control "$cache_control";
        }
    }
}
EOF
    step "nginx on 127.0.0.1:$nginx_port"
    "$nginx_bin" -p "$nginx_dir/" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" &
    nginx_pid=$!
    deadline=$((SECONDS + 10))
    until curl -s -f -o "$nginx_dir/check.json" "http://127.0.0.1:$nginx_port/.well-known/jwks.json"; do
        if ! kill -0 "$nginx_pid" 2>/dev/null; then
            cat "$nginx_dir/error.log" >&2 || true
            nginx_pid=""
            die "nginx exited at start"
        fi
        ((SECONDS < deadline)) || die "nginx did not answer within 10 s"
        sleep 0.2
    done
    cmp -s "$nginx_dir/check.json" "$nginx_dir/www/.well-known/jwks.json" || die "nginx does not serve the same JWKS bytes"
    step "JWKS: $(wc -c <"$nginx_dir/check.json") bytes, Cache-Control: $cache_control"

    BENCH_METHOD=GET BENCH_BODY="" BENCH_AUTHORIZATION="" \
        wrk_run jwks "$base/.well-known/jwks.json" "$lua_dir/request.lua"
    BENCH_METHOD=GET BENCH_BODY="" BENCH_AUTHORIZATION="" \
        wrk_run nginx "http://127.0.0.1:$nginx_port/.well-known/jwks.json" "$lua_dir/request.lua"
    stop_pid "$nginx_pid"
    nginx_pid=""
fi

if wants hash; then
    step "hash: signet bench hash --seconds $hash_seconds (the server idles meanwhile)"
    # Its CPU time: what this shell's reaped children used, before and after.
    hash_cpu_before=$(children_cpu_ticks)
    run_child "$results_dir/hash.txt" "$SIGNET_BIN" bench hash --seconds "$hash_seconds" || {
        cat "$results_dir/hash.txt" >&2
        die "signet bench hash failed"
    }
    hash_cpu=$(($(children_cpu_ticks) - hash_cpu_before))
    hash_line=$(tail -n 1 "$results_dir/hash.txt")
    for pair in $hash_line; do
        result[hash.${pair%%=*}]=${pair#*=}
    done
    [[ -n ${result[hash.hashes_per_second]:-} ]] || die "unexpected output of signet bench hash: $hash_line"
    result[hash.cpu_us]=$(per_request "$hash_cpu" \
        "$(awk -v r="${result[hash.hashes_per_second]}" -v s="${result[hash.seconds]}" 'BEGIN { printf "%.0f", r * s }')")
    step "hash: ${result[hash.hashes_per_second]} hashes/s on ${result[hash.threads]} threads, ${result[hash.cpu_us]} µs CPU each"
    sleep 1
fi

if wants login; then
    BENCH_METHOD=POST BENCH_AUTHORIZATION=$basic BENCH_USERS=$bench_users \
        BENCH_BODY="grant_type=password&username={user}&password=$password" \
        wrk_run login "$base/oauth2/token" "$lua_dir/request.lua"
fi

if wants refresh; then
    refresh_run refresh "$base/oauth2/token" "$basic" login
fi

if wants cc; then
    BENCH_METHOD=POST BENCH_AUTHORIZATION=$basic BENCH_BODY="grant_type=client_credentials" \
        wrk_run cc "$base/oauth2/token" "$lua_dir/request.lua"
fi

if wants cc-jwe; then
    BENCH_METHOD=POST BENCH_AUTHORIZATION=$jwe_basic BENCH_BODY="grant_type=client_credentials" \
        wrk_run cc-jwe "$base/oauth2/token" "$lua_dir/request.lua"
fi

if wants cc-dpop; then
    # More proofs than the run can spend, all fresh (a proof's iat must be within 60 s).
    proofs_file=$work_dir/dpop-proofs.txt
    "$python" - "$base/oauth2/token" "${BENCH_DPOP_PROOFS:-60000}" >"$proofs_file" <<'PY' || die "could not make DPoP proofs"
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
url, count = sys.argv[1], int(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
numbers = key.public_key().public_numbers()
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
header = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())
for _ in range(count):
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": url, "iat": int(time.time())}
    signing_input = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    print(signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
PY
    BENCH_AUTHORIZATION=$basic BENCH_PROOFS=$proofs_file BENCH_THREADS=$wrk_threads \
        wrk_run cc-dpop "$base/oauth2/token" "$lua_dir/dpop.lua"
fi

if wants introspect; then
    access_token=$(login | json_field access_token)
    active=$(curl -sS -f -m 10 -H "Authorization: $basic" -d "token=$access_token" "$base/oauth2/introspect" | json_field active)
    [[ $active == True ]] || die "introspection of a fresh access token did not answer active: true"
    BENCH_METHOD=POST BENCH_AUTHORIZATION=$basic BENCH_BODY="token=$access_token" \
        wrk_run introspect "$base/oauth2/introspect" "$lua_dir/request.lua"
fi

if wants authorize || wants exchange; then
    # Each bench user signs in in two browsers through the login page (a Python
    # stand-in for a browser); the authorize run takes turns among those sessions.
    verifier=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 64)
    challenge=$(python3 -c 'import base64, hashlib, sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode().rstrip("="))' "$verifier")
    query="response_type=code&client_id=bench-web&redirect_uri=$web_redirect&scope=openid%20profile&state=s"
    query+="&nonce=n&code_challenge=$challenge&code_challenge_method=S256"
    sessions_file=$work_dir/browser-sessions
    python3 - "$base" "$query" "$password" "$bench_users" >"$sessions_file" <<'PY' || die "could not sign the benchmark's browsers in"
import html, http.cookiejar, re, sys, urllib.parse, urllib.request
base, query, password, users = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
for browser in range(users * 2):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{base}/oauth2/authorize?{query}", timeout=30).read().decode()
    fields = {html.unescape(n): html.unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)}
    fields.update(username=f"bench-{browser % users}", password=password)
    try:
        opener.open(urllib.request.Request(f"{base}/oauth2/authorize", data=urllib.parse.urlencode(fields).encode()), timeout=30)
    except urllib.error.HTTPError as answer:
        if answer.code != 303:
            raise
    print(next(c.value for c in jar if c.name == "signet_session"))
PY
    codes_file=$work_dir/codes
    # Twice as long as the other runs, so that the exchange that follows does not run out of
    # codes (they live 60 s: the oldest is about 3 × BENCH_DURATION old at the end).
    run_seconds=$((duration * 2))
    BENCH_SESSIONS=$sessions_file BENCH_CODES_FILE=$codes_file \
        wrk_run authorize "$base/oauth2/authorize?$query" "$lua_dir/authorize.lua"
    run_seconds=""
    if wants exchange; then
        cat "$codes_file".* >"$codes_file"
        step "exchange: $(wc -l <"$codes_file") codes from the authorize run"
        BENCH_AUTHORIZATION=$web_basic BENCH_CODES=$codes_file BENCH_THREADS=$wrk_threads BENCH_REDIRECT_URI=$web_redirect \
            BENCH_VERIFIER=$verifier wrk_run exchange "$base/oauth2/token" "$lua_dir/exchange.lua"
    fi
fi

# The admin audit query, last: the bench user's events are those of the runs above.
if wants audit; then audit_runs ""; fi

rss_peak=$(memory_mib VmHWM)
rss_end=$(memory_mib VmRSS)
kill -0 "$server_pid" 2>/dev/null || die "signet serve is no longer running"
stop_signet
server_log_lines=$(grep -c . "$work_dir/server.log" || true)

# The peer comparison runs alone too: Signet is stopped, its cluster idles.
if [[ $peer == glewlwyd ]]; then glewlwyd_bench; fi
# The seeded database (BENCH_SCALE=1), with Signet started anew on it.
if [[ $scale == 1 ]]; then scale_bench; fi

# profile-NAME.txt: the samples of each profiled run by category, priced with the
# run's own CPU time per request (a little high: sampling costs CPU too).
for name in ${profiled[@]+"${profiled[@]}"}; do
    python3 scripts/bench/profile-summary.py "$results_dir/perf-$name.data" --cpu-us "${result[$name.server_cpu_us]}" \
        --requests "${result[$name.requests]}" --cpu-source "this profiled run" >"$results_dir/profile-$name.txt" ||
        warn "could not summarise the profile of $name"
done

# --- Report --------------------------------------------------------------------------------
# Arithmetic on decimals.
calc() { awk "BEGIN { printf \"%.1f\", $1 }"; }
holds() { awk "BEGIN { exit !($1) }"; }
verdict() { if holds "$1"; then printf 'met'; else printf '**missed**'; fi; }
get() { printf '%s' "${result[$1]:-}"; }
intf() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }

total_non2xx=0
total_socket=0
row() { # NAME LABEL TARGET VERDICT
    local name=$1 socket rss
    if [[ -z $(get "$name.rps") ]]; then
        printf '| %s | %s | skipped | | | | | | | | | |\n' "$2" "$3"
        return
    fi
    socket=$(($(get "$name.connect_errors") + $(get "$name.read_errors") + $(get "$name.write_errors") + $(get "$name.timeouts")))
    total_non2xx=$((total_non2xx + $(get "$name.non2xx")))
    total_socket=$((total_socket + socket))
    rss=$(get "$name.rss")
    [[ $name != nginx ]] || rss='—'
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "$(intf "$(get "$name.rps")")" \
        "$(ms "$(get "$name.p50_ms")")" "$(ms "$(get "$name.p99_ms")")" "$(get "$name.non2xx")" "$socket" \
        "$(get "$name.server_cpu_us")" "$(get "$name.database_cpu_us")" "$(get "$name.switches")" "$rss" "$4"
}

jwks_ratio="" login_ratio=""
if [[ -n $(get jwks.rps) && -n $(get nginx.rps) ]]; then
    jwks_ratio=$(calc "100 * $(get jwks.rps) / $(get nginx.rps)")
fi
if [[ -n $(get login.rps) && -n $(get hash.hashes_per_second) ]]; then
    login_ratio=$(calc "100 * $(get login.rps) / $(get hash.hashes_per_second)")
fi
percent() { if [[ -n $1 ]]; then printf '%s %%' "$1"; else printf 'n/a'; fi; }
ratio_verdict() { if [[ -n $1 ]]; then verdict "$1 >= $2"; else printf 'n/a'; fi; }

{
    printf '### Run of %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- commit: %s%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    printf -- '- machine: %s cores (%s), %s RAM, %s, kernel %s\n' "$(nproc)" \
        "$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)" \
        "$(free -h | awk '/^Mem:/ { print $2 }')" \
        "$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-unknown}")" "$(uname -r)"
    printf -- '- %s; %s; %s; %s\n' "$("$pg_bin/postgres" --version)" \
        "$(swift --version 2>&1 | grep -m 1 -o 'Swift version [^ ]*' || echo 'Swift unknown')" \
        "$(wrk -v 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')" \
        "$([[ -n $nginx_bin ]] && "$nginx_bin" -v 2>&1 | sed 's|.*version: ||' || echo 'nginx not run')"
    printf -- '- load: wrk -t%s -c%s, %s s per scenario, loopback; PostgreSQL with fsync on; Argon2id m=%s KiB t=%s p=%s on %s threads\n' \
        "$wrk_threads" "$connections" "$duration" "$(get hash.m)" "$(get hash.t)" "$(get hash.p)" "$(get hash.threads)"
    printf -- '- load average before/after: %s / %s\n\n' "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| scenario | target | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/req | PostgreSQL CPU µs/req | server ctx switches/req | Signet RSS after (MiB) | target met |\n'
    printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
    row jwks 'JWKS, Signet' '≥ 80 % of nginx, ≤ 20 µs' \
        "$(if [[ -n $jwks_ratio ]]; then verdict "$jwks_ratio >= 80 && $(get jwks.server_cpu_us) <= 20"; else printf 'n/a'; fi)"
    row nginx 'JWKS, nginx static copy' 'reference' '—'
    if [[ -n $(get hash.hashes_per_second) ]]; then
        printf '| Argon2id ceiling (signet bench hash) | reference | %s hashes/s | | | | | %s | | | | — |\n' \
            "$(calc "$(get hash.hashes_per_second)")" "$(get hash.cpu_us)"
    else
        printf '| Argon2id ceiling (signet bench hash) | reference | skipped | | | | | | | | | |\n'
    fi
    row login 'login (password grant)' '≥ 90 % of the ceiling' "$(ratio_verdict "$login_ratio" 90)"
    if [[ -n $(get refresh.rps) ]]; then
        row refresh 'refresh (rotating chains)' '≥ 3,000/s, p99 < 50 ms, ≤ 250 + 300 µs' \
            "$(verdict "$(get refresh.rps) >= 3000 && $(get refresh.p99_ms) < 50 && $(get refresh.server_cpu_us) <= 250 && $(get refresh.database_cpu_us) <= 300")"
    else
        row refresh 'refresh (rotating chains)' '≥ 3,000/s, p99 < 50 ms, ≤ 250 + 300 µs' ''
    fi
    row cc 'client_credentials' '≥ 8,000/s, ≤ 120 µs' \
        "$(if [[ -n $(get cc.rps) ]]; then verdict "$(get cc.rps) >= 8000 && $(get cc.server_cpu_us) <= 120"; fi)"
    row cc-jwe 'client_credentials, encrypted (JWE ECDH-ES+A256KW)' 'vs client_credentials' '—'
    row cc-dpop 'client_credentials, DPoP-bound (ES256 proof)' 'vs client_credentials' '—'
    row introspect 'introspection (repeat token)' '≥ 10,000/s, ≤ 90 µs' \
        "$(if [[ -n $(get introspect.rps) ]]; then verdict "$(get introspect.rps) >= 10000 && $(get introspect.server_cpu_us) <= 90"; fi)"
    row authorize 'SSO authorization (302 with a code)' '≥ 1,500/s, p99 < 50 ms' \
        "$(if [[ -n $(get authorize.rps) ]]; then verdict "$(get authorize.rps) >= 1500 && $(get authorize.p99_ms) < 50"; fi)"
    row exchange 'code exchange (PKCE, refresh family, ES256 + RS256)' '≥ 1,000/s, p99 < 50 ms' \
        "$(if [[ -n $(get exchange.rps) ]]; then verdict "$(get exchange.rps) >= 1000 && $(get exchange.p99_ms) < 50"; fi)"
    row audit 'admin audit, one user (limit 50)' 'reference' '—'
    row audit-type 'admin audit, login_succeeded (limit 50)' 'reference' '—'
    printf '| Signet RSS idle (before load) | < 40 MiB | | | | | | | | | %s | %s |\n' "$rss_idle" "$(verdict "$rss_idle < 40")"
    printf '| Signet RSS peak (VmHWM at the end) | < 200 MiB | | | | | | | | | %s | %s |\n' "$rss_peak" "$(verdict "$rss_peak < 200")"
    printf '\n'
    printf -- '- **login/s ÷ hash ceiling** = %s (target ≥ 90 %%) — %s\n' "$(percent "$login_ratio")" "$(ratio_verdict "$login_ratio" 90)"
    if [[ -n $(get login.server_cpu_us) && -n $(get hash.cpu_us) ]] && holds "$(get login.server_cpu_us) > 0"; then
        printf -- '- Argon2id share of a login'"'"'s Signet CPU (hash CPU ÷ login CPU, less sensitive than req/s to other load on the machine) = %s\n' \
            "$(percent "$(calc "100 * $(get hash.cpu_us) / $(get login.server_cpu_us)")")"
    fi
    printf -- '- **JWKS/s ÷ nginx/s** = %s (target ≥ 80 %%) — %s\n' "$(percent "$jwks_ratio")" "$(ratio_verdict "$jwks_ratio" 80)"
    if [[ -n $(get jwks.server_cpu_us) && -n $(get nginx.server_cpu_us) ]] && holds "$(get jwks.server_cpu_us) > 0"; then
        printf -- '- JWKS CPU cost, nginx ÷ Signet (CPU per request, less sensitive than req/s to other load on the machine) = %s\n' \
            "$(percent "$(calc "100 * $(get nginx.server_cpu_us) / $(get jwks.server_cpu_us)")")"
    fi
    if [[ -n $(get refresh.rps) ]]; then
        printf -- '- refresh chains: %s rotations, %s chains broken, %s requests without a live token, %s sessions\n' \
            "$(get refresh.rotated)" "$(get refresh.chains_broken)" "$(get refresh.starved)" "$(get refresh.sessions)"
    fi
    if [[ -n $(get authorize.rps) ]]; then
        printf -- '- authorize: %s codes issued, %s other answers\n' "$(get authorize.codes)" "$(get authorize.refused)"
    fi
    if [[ -n $(get exchange.rps) ]]; then
        printf -- '- exchange: %s codes exchanged, %s failed, %s requests after the codes ran out\n' \
            "$(get exchange.exchanged)" "$(get exchange.failed)" "$(get exchange.starved)"
    fi
    if [[ -n $(get cc-dpop.rps) ]]; then
        printf -- '- cc-dpop: %s bound tokens, %s failed, %s requests after the proofs ran out\n' \
            "$(get cc-dpop.bound)" "$(get cc-dpop.failed)" "$(get cc-dpop.starved)"
    fi
    printf -- '- non-2xx over all runs: %s; socket errors: %s (target: zero non-2xx) — %s\n' "$total_non2xx" "$total_socket" \
        "$(verdict "$total_non2xx == 0")"
    for file in "$results_dir"/wrk-*.txt; do
        [[ -e $file ]] || continue
        name=${file##*/wrk-}
        name=${name%.txt}
        grep '^bench-status ' "$file" | while read -r _ status count body; do
            printf -- '- %s: %s responses with status %s, the first: %s\n' "$name" "$count" "$status" "$body"
        done || true
    done
    printf -- '- Signet RSS at the end: %s MiB; lines in the server log (level warning and above): %s\n' "$rss_end" "$server_log_lines"
} >"$results_dir/table.md"
if [[ $peer == glewlwyd ]]; then glewlwyd_report >>"$results_dir/table.md"; fi
if [[ $scale == 1 ]]; then scale_report >>"$results_dir/table.md"; fi

printf '\n'
cat "$results_dir/table.md"
printf '\n(raw wrk output, hash line and server log: %s)\n' "$results_dir"
