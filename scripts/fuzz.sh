#!/usr/bin/env bash
# API fuzzing: validate Sources/SignetHTTP/Resources/openapi.yaml, start a real
# `signet serve` on a fresh schema, and let Schemathesis check both listeners
# against that description (no 5xx; documented status codes, content types,
# headers and bodies; schema-violating requests refused; auth not ignored).
#
#   scripts/fuzz.sh [schemathesis run options...]     e.g. --seed 1 -n 100
#
# Environment:
#   SIGNET_TEST_DATABASE_URL  PostgreSQL URL to use (required); a schema
#                             fuzz_<random> is created in it and dropped
#                             afterwards
#   SIGNET_BIN                the signet executable
#                             (default: $(swift build --show-bin-path)/signet)
#   SIGNET_VENV               Python virtual environment to create or reuse
#                             (default: .build/interop-venv)
#   FUZZ_MAX_EXAMPLES         generated cases per operation (default: 25)
#   FUZZ_TIMEOUT              seconds allowed for each of the two runs
#                             (default: 120)
#   FUZZ_REPORT_DIR           if set, every request and response of the runs
#                             is kept there as HAR files (public.har, admin.har)
#
# Exits non-zero if the description is invalid or either run finds a problem.
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

suite_begin fuzz
spec=$PWD/Sources/SignetHTTP/Resources/openapi.yaml
[[ -f $spec ]] || die "no OpenAPI description at $spec"
max_examples=${FUZZ_MAX_EXAMPLES:-25}
run_timeout=${FUZZ_TIMEOUT:-120}
report_dir=${FUZZ_REPORT_DIR:-}
if [[ -n $report_dir ]]; then
    mkdir -p -- "$report_dir"
    report_dir=$(cd -- "$report_dir" && pwd)
fi

server_log=$work_dir/server.log

# --- Python tools ---------------------------------------------------------------
use_python "openapi-spec-validator>=0.7" "schemathesis>=4.30,<5"
tools=$(dirname "$python")  # the venv's bin/ (or, without a venv, where pip --user put them)
[[ -x $tools/schemathesis ]] || tools=$("$python" -c 'import site, os; print(os.path.join(site.USER_BASE, "bin"))')

step "openapi-spec-validator ${spec#"$PWD"/}"
"$tools/openapi-spec-validator" "$spec"

# --- Database and data ------------------------------------------------------------
create_test_schema fuzz

# Built-in defaults plus the variables below (a developer's Config/signet.json
# does not apply). The limits are raised so that the fuzzer exercises the
# endpoints rather than the rate limiter and the account lockout.
isolated_signet_settings "$work_dir"
admin_port=$SIGNET_ADMIN_PORT
export SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_DATABASE_SCHEMA=$schema
export SIGNET_ARGON2_MEMORY_KIB=1024 SIGNET_ARGON2_ITERATIONS=1
export SIGNET_RATE_LIMIT_REQUESTS_PER_SECOND=100000 SIGNET_RATE_LIMIT_BURST=100000
export SIGNET_RATE_LIMIT_FAILED_LOGIN_BURST=100000 SIGNET_LOGIN_LOCKOUT_THRESHOLD=1000
export SIGNET_LOG_LEVEL=${SIGNET_LOG_LEVEL:-info}
# The admin's token comes from the password grant; this suite is about input handling,
# not the second factor (tested by the Swift, interop and browser suites).
export SIGNET_MFA_REQUIRED_ROLES=none
# The admin API accepts only access tokens for this audience (pinned so that a
# SIGNET_ADMIN_AUDIENCE of the caller cannot change it under fuzz-admin).
admin_audience=urn:signet:admin
export SIGNET_ADMIN_AUDIENCE=$admin_audience
public_url=$SIGNET_ISSUER
admin_url=http://127.0.0.1:$admin_port

random_secret() { head -c 18 /dev/urandom | base64 | tr -d '\n/+='; }
admin_username=fuzz-admin
admin_password=$(random_secret)
user_username=fuzz-user
user_password=$(random_secret)

step "signet migrate"
"$SIGNET_BIN" migrate
step "signet users create $admin_username / $user_username"
printf '%s\n' "$admin_password" | "$SIGNET_BIN" users create "$admin_username" --role admin --password-stdin >/dev/null
printf '%s\n' "$user_password" |
    "$SIGNET_BIN" users create "$user_username" --role user --email "$user_username@example.com" --password-stdin >/dev/null
step "signet clients create fuzz-app / fuzz-admin / fuzz-web"
out=$("$SIGNET_BIN" clients create fuzz-app --auth-method client_secret_basic \
    --grant password --grant refresh_token --grant client_credentials \
    --scope openid --scope profile --scope email --scope api)
client_secret=$(field client_secret "$out")
# The admin token comes from this client: the admin API accepts only tokens
# for the admin audience.
out=$("$SIGNET_BIN" clients create fuzz-admin --auth-method client_secret_basic \
    --grant password --audience "$admin_audience")
admin_client_id=$(field client_id "$out")
admin_client_secret=$(field client_secret "$out")
# A web application for browser sign-in: the fuzzer is offered its id and redirect
# URI, so that authorization requests get past the page-only checks now and then.
"$SIGNET_BIN" clients create fuzz-web --auth-method client_secret_basic --grant authorization_code --grant refresh_token \
    --scope openid --scope profile --redirect-uri http://127.0.0.1:9/cb --post-logout-redirect-uri http://127.0.0.1:9/bye >/dev/null

# --- Server ---------------------------------------------------------------------
start_signet "$server_log"

# access_token CLIENT-ID CLIENT-SECRET USERNAME PASSWORD: an access token by the
# password grant (client_secret_basic), printed on stdout.
access_token() {
    "$python" - "$public_url/oauth2/token" "$1" "$2" "$3" "$4" <<'EOF'
import base64, json, sys, urllib.parse, urllib.request
url, client, secret, username, password = sys.argv[1:]
body = urllib.parse.urlencode({"grant_type": "password", "username": username, "password": password}).encode()
request = urllib.request.Request(url, data=body, headers={
    "Authorization": "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode(),
    "Content-Type": "application/x-www-form-urlencoded"})
with urllib.request.urlopen(request, timeout=10) as response:
    print(json.load(response)["access_token"])
EOF
}
step "access tokens of $admin_username and $user_username"
admin_token=$(access_token "$admin_client_id" "$admin_client_secret" "$admin_username" "$admin_password")
user_token=$(access_token fuzz-app "$client_secret" "$user_username" "$user_password")

# --- Schemathesis ---------------------------------------------------------------
# Credentials per security scheme of the description; the fuzz user's name and
# password are offered to the password grant now and then, so that real logins,
# refreshes, introspections and revocations happen; a few hostile strings are
# mixed into every generated string.
cat >"$work_dir/schemathesis.toml" <<'EOF'
[auth.openapi.clientBasic]
username = "fuzz-app"
password = "${FUZZ_CLIENT_SECRET}"

[auth.openapi.userAccessToken]
bearer = "${FUZZ_USER_TOKEN}"

[auth.openapi.adminAccessToken]
bearer = "${FUZZ_ADMIN_TOKEN}"

[dictionaries.username]
values = ["fuzz-user"]

[dictionaries.hostile]
values = ["\u0000", "a\u0000b", "%00", "\uFFFF", "\u202E", "' OR '1'='1", "-1", "9223372036854775808", "../..", "\\"]

[dictionaries.etag]
values = ["*", "W/\"0\"", "\"0\", *"]

[dictionaries.request-id]
values = ["fuzz-1", "a.b_c-D", ""]

[generation.dictionaries.string]
dictionary = "hostile"
probability = 0.05

# Header values cannot carry NUL (the HTTP parser refuses it before Signet sees it).
[parameters]
"header.If-None-Match" = { dictionary = "etag", probability = 0.5 }
"header.X-Request-Id" = { dictionary = "request-id", probability = 0.5 }

# A schema-violating request may also be refused for its size.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

# Show the values behind reproductions (every credential of the run is thrown away
# with it), except the credentials themselves.
[output.sanitization]
keys-to-sanitize = ["authorization", "client_secret", "password", "access_token", "refresh_token"]
sensitive-markers = ["secret", "password", "authorization"]

[warnings]
display = ["missing_auth", "missing_test_data", "base_url_mismatch", "validation_mismatch", "missing_deserializer",
           "unused_openapi_auth", "unsupported_regex", "unmatched_filter", "unresolvable_reference", "low_valid_rate",
           "rate_limited", "timeout_units"]

[dictionaries.web-client]
values = ["fuzz-web"]

[dictionaries.web-redirect]
values = ["http://127.0.0.1:9/cb"]

[dictionaries.response-type]
values = ["code"]

[dictionaries.s256-challenge]
values = ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"]

[dictionaries.s256]
values = ["S256"]

[[operations]]
include-operation-id = "authorize"
parameters = { "query.client_id" = { dictionary = "web-client", probability = 0.7 }, "query.redirect_uri" = { dictionary = "web-redirect", probability = 0.7 }, "query.response_type" = { dictionary = "response-type", probability = 0.7 }, "query.code_challenge" = { dictionary = "s256-challenge", probability = 0.6 }, "query.code_challenge_method" = { dictionary = "s256", probability = 0.6 } }

[[operations]]
include-operation-id = "authorizePost"
parameters = { "body.client_id" = { dictionary = "web-client", probability = 0.7 }, "body.redirect_uri" = { dictionary = "web-redirect", probability = 0.7 }, "body.response_type" = { dictionary = "response-type", probability = 0.7 }, "body.code_challenge" = { dictionary = "s256-challenge", probability = 0.6 }, "body.code_challenge_method" = { dictionary = "s256", probability = 0.6 } }

[[operations]]
include-operation-id = "token"
parameters = { "body.username" = { dictionary = "username", probability = 0.5 }, "body.password" = { dictionary = "password", probability = 0.5 } }

# Links between operations come from the description and Location headers only:
# links guessed from response fields could hand the fuzzer the admin's own id.
[phases.stateful.inference]
algorithms = ["location-headers"]
EOF
# (Dictionary entries are not interpolated; the password is base64 without +/=.)
printf '\n[dictionaries.password]\nvalues = ["%s"]\n' "$user_password" >>"$work_dir/schemathesis.toml"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks+=,response_schema_conformance,negative_data_rejection,missing_required_header,ignored_auth
checks+=,use_after_free,ensure_resource_availability
admin_paths='^/(admin/|metrics$|openapi\.yaml$)'
schemathesis() {
    local rc=0
    (cd "$work_dir" &&
        FUZZ_CLIENT_SECRET=$client_secret FUZZ_USER_TOKEN=$user_token FUZZ_ADMIN_TOKEN=$admin_token \
            timeout --kill-after=10 "$run_timeout" "$tools/schemathesis" --config-file "$work_dir/schemathesis.toml" \
            run "$spec" --no-color --max-examples "$max_examples" --checks "$checks" \
            --request-timeout 10 --generation-database none "$@") || rc=$?
    if ((rc == 124 || rc == 137)); then warn "schemathesis did not finish within $run_timeout s"; fi
    return "$rc"
}
admin_token_works() {
    "$python" - "$admin_url/admin/audit?limit=1" "$admin_token" <<'EOF'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
urllib.request.urlopen(request, timeout=10).close()
EOF
}

# run_on NAME URL FILTER-OPTION...: one schemathesis run, its HAR kept if asked.
run_on() {
    local name=$1 url=$2
    shift 2
    local -a report=()
    if [[ -n $report_dir ]]; then report=(--report har --report-har-path "$report_dir/$name.har"); fi
    step "schemathesis: $name listener $url"
    schemathesis --url "$url" ${report[@]+"${report[@]}"} "$@"
}
status=0
run_on public "$public_url" --exclude-path-regex "$admin_paths" "$@" || status=1
run_on admin "$admin_url" --include-path-regex "$admin_paths" "$@" || status=1
# The admin run means something only if its token stayed valid throughout.
if ! admin_token_works 2>/dev/null; then
    warn "the admin token no longer works after the run: the fuzzer locked itself out"
    status=1
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    warn "signet serve is no longer running"
    status=1
fi
if ((status == 0)); then step "fuzzing passed"; else step "fuzzing failed"; fi
exit "$status"
