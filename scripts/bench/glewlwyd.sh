# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154,SC2120 # bench.sh sets and reads the variables, and passes the arguments
# The peer comparison of scripts/bench.sh with BENCH_PEER=glewlwyd. Sourced by
# bench.sh, whose helpers and state it uses (wrk_run, result[], run_child,
# apt_install, free_port, pg_bin, work_dir, results_dir, lua_dir, password,
# bench_users, connections, ...).
#
# Glewlwyd (https://github.com/babelouest/glewlwyd, Debian package `glewlwyd`)
# is an OpenID provider written in C (libmicrohttpd through ulfius, hoel for
# SQL, rhonabwy for JOSE). Once Signet is stopped, glewlwyd_bench installs it
# if needed and runs it on a free loopback port with a PostgreSQL cluster of its
# own (made by scripts/postgres.sh like Signet's, fsync on), then repeats the
# scenarios both can serve the same way, with the same wrk settings:
#   peer-jwks        GET /api/oidc/jwks
#   peer-login       the password grant, client Basic auth, over the same 16
#                    accounts (Glewlwyd requires `scope`)
#   peer-refresh     the refresh_token grant with one-time refresh tokens, each
#                    session chaining its newest token (scripts/bench/refresh.lua)
#   peer-cc          the client_credentials grant (`scope` required)
#   peer-introspect  POST /api/oidc/introspect of one live access token, by the
#                    client it was issued to
# glewlwyd_report prints the second table of table.md: Signet beside Glewlwyd.
#
# Setup, in the order Glewlwyd needs it:
#   - the schema and default rows the package ships for dbconfig-common
#     (/usr/share/dbconfig-common/data/glewlwyd/install/pgsql, then
#     postgre.default.sql), loaded by role `glewlwyd` into its own database,
#     after `CREATE EXTENSION pgcrypto` by the superuser: the database user
#     backend hashes passwords with crypt(..., gen_salt('bf')), bcrypt cost 6;
#   - the default `admin` account (password `password`) gets a random password
#     before the server starts;
#   - a config file of our own (the packaged /etc/glewlwyd/glewlwyd.conf listens
#     on every interface and uses SQLite): bind_address 127.0.0.1, log level
#     WARNING like Signet's, PostgreSQL through `conninfo`;
#   - everything else goes through the admin REST API with the admin's session
#     cookie: the OpenID Connect plugin instance `oidc` (ES256 access tokens
#     like Signet's, from a key made here with openssl; allow-non-oidc and the
#     auth-type-*-enabled flags for password, client_credentials and
#     refresh_token; one-time refresh tokens; introspection by the token's own
#     client; with the jwks scenario, a published key set shaped like Signet's),
#     the scope `bench`, the users, and one confidential client (a plain
#     client_secret, compared as is) with client_secret_basic in
#     token_endpoint_auth_method and the three grants in authorization_type.
#     Its password grant refuses a client_id without a secret, so the client
#     always authenticates.
# What the report adds, measured: how many times one login runs crypt() (the
# user backend's query tests the password against the stored hashes in
# PostgreSQL before it joins on the user, so with these small tables against
# every one of them), and how many connections Glewlwyd had open (one: all its
# SQL goes through it, a statement at a time, every write committed alone).

glewlwyd_pid=""
glewlwyd_port=""
glewlwyd_base=""
glewlwyd_basic=""
glewlwyd_pg_dir=""
glewlwyd_pg_port=""
glewlwyd_dir=""
glewlwyd_version=""
glewlwyd_bcrypt=""
glewlwyd_passwords=""
glewlwyd_crypt_per_login=""

# The scenarios of BENCH_SCENARIOS that have a Glewlwyd counterpart.
glewlwyd_scenarios() {
    local scenario
    for scenario in jwks login refresh cc introspect; do
        if wants "$scenario"; then printf '%s\n' "$scenario"; fi
    done
}

# scripts/postgres.sh on Glewlwyd's cluster (never without its directory).
glewlwyd_pg() {
    [[ -n $glewlwyd_pg_dir && -n $glewlwyd_pg_port ]] || die "no cluster for Glewlwyd"
    SIGNET_PG_DIR=$glewlwyd_pg_dir SIGNET_PG_PORT=$glewlwyd_pg_port SIGNET_PG_FSYNC=on ./scripts/postgres.sh "$@"
}

# glewlwyd_psql ROLE DATABASE [PSQL_ARGS...]: psql on Glewlwyd's cluster.
glewlwyd_psql() {
    local role=$1 database=$2
    shift 2
    PGOPTIONS=--client-min-messages=warning "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 \
        -d "host=127.0.0.1 port=$glewlwyd_pg_port user=$role dbname=$database sslmode=disable connect_timeout=10" "$@"
}

# glewlwyd_admin PATH: POSTs the JSON on stdin to the admin API with the
# admin's session cookie; fails with Glewlwyd's answer unless it is a 200.
glewlwyd_admin() {
    local answer status
    answer=$(curl -sS -m 30 -b "$glewlwyd_dir/cookies" -H 'Content-Type: application/json' --data-binary @- \
        -w '\n%{http_code}' "$glewlwyd_base/api/$1") || die "Glewlwyd admin API: POST /api/$1 failed"
    status=${answer##*$'\n'}
    [[ $status == 200 ]] || die "Glewlwyd admin API: POST /api/$1 answered $status: ${answer%$'\n'*}"
}

# glewlwyd_public_jwks SIGNET_JWKS: prints the public key set Glewlwyd publishes:
# shaped like Signet's (which holds the next key of each algorithm beside the
# current one), so that both JWKS answers carry about the same bytes. Signet's
# first EC key is matched by Glewlwyd's signing key, every other key by a new one
# of the same type and size. Kids as Glewlwyd makes them for a PEM key: the
# SHA-256 of the SubjectPublicKeyInfo (GnuTLS's key ID).
glewlwyd_public_jwks() {
    python3 - "$1" "$glewlwyd_dir/es256.pub" <<'PY'
import base64, hashlib, json, subprocess, sys
signet, signing = json.load(open(sys.argv[1]))["keys"], open(sys.argv[2], "rb").read()
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout
def jwk(private_pem=None, public_pem=None):
    if public_pem is None:
        public_pem = openssl("pkey", "-pubout", data=private_pem)
    spki = openssl("pkey", "-pubin", "-outform", "DER", data=public_pem)
    text = openssl("pkey", "-pubin", "-text", "-noout", data=public_pem).decode()
    if "ASN1 OID: prime256v1" in text:
        point = spki[-65:]  # a P-256 SubjectPublicKeyInfo ends with the point 04 || x || y
        assert point[0] == 4
        key = {"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
    else:
        modulus = openssl("rsa", "-pubin", "-modulus", "-noout", data=public_pem).decode().strip().split("=", 1)[1]
        exponent = int(text.split("Exponent: ", 1)[1].split()[0])
        key = {"kty": "RSA", "n": b64(bytes.fromhex(modulus)), "e": b64(exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"))}
    key["kid"] = b64(hashlib.sha256(spki).digest())
    return key
keys, signing_used = [], False
for model in signet:
    if model["kty"] == "EC" and not signing_used:
        key, signing_used = jwk(public_pem=signing), True
    elif model["kty"] == "EC":
        key = jwk(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
    else:
        bits = len(base64.urlsafe_b64decode(model["n"] + "==")) * 8
        key = jwk(openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"))
    key.update({name: model[name] for name in ("alg", "use") if name in model})
    keys.append(key)
assert signing_used, "no EC key in Signet's JWKS"
print(json.dumps({"keys": keys}, separators=(",", ":")))
PY
}

# A password grant through curl for user bench; prints the response body.
glewlwyd_login() {
    curl -sS -f -m 30 -H "Authorization: $glewlwyd_basic" \
        -d "grant_type=password&username=bench&password=$password&scope=bench" "$glewlwyd_base/api/oidc/token"
}

# Whether introspection of $1 by the client answers active: true.
glewlwyd_active() {
    local active
    active=$(curl -sS -f -m 10 -H "Authorization: $glewlwyd_basic" -d "token=$1" "$glewlwyd_base/api/oidc/introspect" |
        json_field active) || return 1
    [[ $active == True ]]
}

# The calls of crypt() counted so far in Glewlwyd's database (with track_functions on).
glewlwyd_crypt_calls() {
    glewlwyd_psql postgres glewlwyd -tAc "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'crypt'"
}

# How many times one password grant runs pgcrypto's crypt(): the user backend's
# query tests the password against stored hashes in PostgreSQL, and the plan
# decides against how many. Counted from pg_stat_user_functions around one
# login, with track_functions on for that login only (a reload reaches
# Glewlwyd's session before its next statement). A session that has just
# published its statistics publishes the next ones once it has been idle for
# 10 s, those of one statement all at once.
glewlwyd_count_crypt() {
    local before after deadline=$((SECONDS + 30))
    glewlwyd_psql postgres postgres -c "ALTER SYSTEM SET track_functions = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
    before=$(glewlwyd_crypt_calls)
    glewlwyd_login >/dev/null || die "a password grant on Glewlwyd failed"
    step "glewlwyd: counting crypt() calls of one password grant (up to 30 s)"
    after=$before
    while ((after == before && SECONDS < deadline)); do
        sleep 1
        after=$(glewlwyd_crypt_calls)
    done
    glewlwyd_psql postgres postgres -c 'ALTER SYSTEM RESET track_functions' -c 'SELECT pg_reload_conf()' >/dev/null
    if ((after == before)); then
        warn "glewlwyd: no crypt() calls counted within 30 s"
        return 0
    fi
    glewlwyd_crypt_per_login=$((after - before))
    step "glewlwyd: one password grant ran crypt() $glewlwyd_crypt_per_login times ($glewlwyd_passwords passwords stored)"
}

glewlwyd_start() {
    local deadline=$((SECONDS + 30))
    step "glewlwyd on 127.0.0.1:$glewlwyd_port (log: $glewlwyd_dir/glewlwyd.log)"
    glewlwyd -c "$glewlwyd_dir/glewlwyd.conf" >"$glewlwyd_dir/glewlwyd.log" 2>&1 &
    glewlwyd_pid=$!
    until curl -s -f -m 2 -o /dev/null "$glewlwyd_base/config"; do
        if ! kill -0 "$glewlwyd_pid" 2>/dev/null; then
            wait "$glewlwyd_pid" 2>/dev/null || true
            glewlwyd_pid=""
            tail -n 20 "$glewlwyd_dir/glewlwyd.log" >&2 || true
            die "glewlwyd exited at start"
        fi
        ((SECONDS < deadline)) || die "glewlwyd did not answer within 30 s"
        sleep 0.3
    done
}

# glewlwyd_cleanup [EXIT_STATUS]: stops Glewlwyd (by PID), keeps its log (and
# shows its end after a failure) and destroys its cluster; safe to call twice,
# and from bench.sh's exit trap.
glewlwyd_cleanup() {
    stop_pid "$glewlwyd_pid"
    glewlwyd_pid=""
    if [[ -n $glewlwyd_dir && -s $glewlwyd_dir/glewlwyd.log ]]; then
        cp "$glewlwyd_dir/glewlwyd.log" "$results_dir/glewlwyd.log" 2>/dev/null || true
        if ((${1:-0} != 0)); then
            printf -- '--- last lines of the Glewlwyd log ---\n' >&2
            tail -n 30 "$glewlwyd_dir/glewlwyd.log" >&2 || true
        fi
    fi
    if [[ -n $glewlwyd_pg_dir ]]; then
        glewlwyd_pg destroy >/dev/null 2>&1 || warn "could not destroy Glewlwyd's cluster in $glewlwyd_pg_dir"
        rm -rf -- "$glewlwyd_pg_dir"
        glewlwyd_pg_dir=""
    fi
}

glewlwyd_bench() {
    local -a packages=()
    local install=/usr/share/dbconfig-common/data/glewlwyd/install admin_password client_secret index sessions tokens_file
    local user access_token
    command -v glewlwyd >/dev/null 2>&1 || packages+=(glewlwyd)
    command -v openssl >/dev/null 2>&1 || packages+=(openssl)
    if ((${#packages[@]} > 0)); then
        apt_install "${packages[@]}" >&2
        if [[ " ${packages[*]} " == *" glewlwyd "* ]]; then
            warn "the glewlwyd package may have enabled its own system service (port 4593 on every interface," \
                "account admin/password); this script only runs a private instance (systemctl disable --now glewlwyd)"
        fi
    fi
    command -v glewlwyd >/dev/null 2>&1 || die "glewlwyd not found after installing it"
    [[ -r $install/pgsql && -r $install/postgre.default.sql ]] || die "Glewlwyd's PostgreSQL schema not found in $install"
    glewlwyd_version=$(dpkg-query -W -f '${Version}' glewlwyd 2>/dev/null || glewlwyd --version 2>&1 | head -n 1)

    # --- Its own cluster and database ---
    glewlwyd_dir=$work_dir/glewlwyd
    mkdir -p "$glewlwyd_dir"
    glewlwyd_pg_dir=$(mktemp -d /tmp/signet-bench-glewlwyd-pg.XXXXXX)
    is_root && chown postgres:postgres "$glewlwyd_pg_dir"
    glewlwyd_pg_port=$(free_port)
    glewlwyd_pg start
    glewlwyd_psql postgres postgres -c 'CREATE ROLE glewlwyd LOGIN' -c "CREATE DATABASE glewlwyd OWNER glewlwyd ENCODING 'UTF8'"
    glewlwyd_psql postgres glewlwyd -c 'CREATE EXTENSION pgcrypto'
    cat "$install/pgsql" "$install/postgre.default.sql" | glewlwyd_psql glewlwyd glewlwyd -f - >/dev/null
    admin_password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    glewlwyd_psql glewlwyd glewlwyd <<SQL
UPDATE g_user_password SET guw_password = crypt('$admin_password', gen_salt('bf'))
 WHERE gu_id = (SELECT gu_id FROM g_user WHERE gu_username = 'admin');
SQL

    # --- Config, key, server ---
    glewlwyd_port=$(free_port)
    while [[ $glewlwyd_port == "$glewlwyd_pg_port" ]]; do glewlwyd_port=$(free_port); done
    glewlwyd_base=http://127.0.0.1:$glewlwyd_port
    cat >"$glewlwyd_dir/glewlwyd.conf" <<EOF
port=$glewlwyd_port
bind_address="127.0.0.1"
external_url="$glewlwyd_base"
login_url="login.html"
api_prefix="api"
log_mode="console"
log_level="WARNING"
cookie_secure=0
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database =
{
  type = "postgre"
  conninfo = "host=127.0.0.1 port=$glewlwyd_pg_port dbname=glewlwyd user=glewlwyd sslmode=disable"
};
EOF
    (umask 077 && openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$glewlwyd_dir/es256.key")
    openssl pkey -in "$glewlwyd_dir/es256.key" -pubout -out "$glewlwyd_dir/es256.pub"
    : >"$glewlwyd_dir/jwks-public.json"
    if wants jwks; then glewlwyd_public_jwks "$nginx_dir/www/.well-known/jwks.json" >"$glewlwyd_dir/jwks-public.json"; fi
    glewlwyd_start

    # --- Plugin, scope, users, client (admin API) ---
    printf '{"username": "admin", "password": "%s"}' "$admin_password" |
        curl -sS -f -m 30 -c "$glewlwyd_dir/cookies" -o /dev/null -H 'Content-Type: application/json' --data-binary @- \
            "$glewlwyd_base/api/auth/" || die "could not sign in to Glewlwyd's admin API"
    # Lifetimes as Signet's defaults: access tokens 600 s, refresh tokens 14 days.
    python3 - "$glewlwyd_base/api/oidc" "$glewlwyd_dir/es256.key" "$glewlwyd_dir/es256.pub" "$glewlwyd_dir/jwks-public.json" <<'PY' |
import json, sys
issuer, key, cert, jwks = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read(), open(sys.argv[4]).read()
print(json.dumps({"module": "oidc", "name": "oidc", "display_name": "OpenID Connect", "enabled": True, "parameters": {
    "iss": issuer, "jwt-type": "ecdsa", "jwt-key-size": "256", "key": key, "cert": cert, "jwks-show": True,
    "access-token-duration": 600, "refresh-token-duration": 1209600, "code-duration": 600,
    "refresh-token-rolling": False, "refresh-token-one-use": "always", "subject-type": "public",
    "allow-non-oidc": True, "auth-type-password-enabled": True, "auth-type-client-enabled": True,
    "auth-type-refresh-enabled": True, "auth-type-code-enabled": False, "auth-type-token-enabled": False,
    "auth-type-device-enabled": False,
    "introspection-revocation-allowed": True, "introspection-revocation-allow-target-client": True,
    **({"jwks-public": jwks} if jwks else {})}}))
PY
        glewlwyd_admin mod/plugin/
    glewlwyd_admin scope/ <<<'{"name": "bench", "display_name": "bench", "description": "benchmark", "password_required": true, "password_max_age": 0, "scheme": {}}'
    # Users bench and bench-0 ... bench-15, as on Signet, with the same password.
    for ((index = -1; index < bench_users; index++)); do
        user=bench-$index
        ((index >= 0)) || user=bench
        printf '{"username": "%s", "password": "%s", "scope": ["bench"], "enabled": true}' "$user" "$password" | glewlwyd_admin user/
    done
    client_secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
    printf '%s' '{"client_id": "bench-app", "client_secret": "'"$client_secret"'", "confidential": true, "enabled": true,' \
        '"authorization_type": ["password", "refresh_token", "client_credentials"],' \
        '"token_endpoint_auth_method": ["client_secret_basic"], "scope": ["bench"]}' | glewlwyd_admin client/
    glewlwyd_basic="Basic $(printf '%s' "bench-app:$client_secret" | base64 | tr -d '\n')"
    rm -f -- "$glewlwyd_dir/cookies"
    # The password hashes' scheme and cost: "$2a$06$" is bcrypt, cost 6.
    glewlwyd_bcrypt=$(glewlwyd_psql glewlwyd glewlwyd -tAc \
        "SELECT substr(guw_password, 1, 7) FROM g_user_password JOIN g_user USING (gu_id) WHERE gu_username = 'bench'")
    glewlwyd_passwords=$(glewlwyd_psql glewlwyd glewlwyd -tAc 'SELECT count(*) FROM g_user_password')
    step "glewlwyd $glewlwyd_version is up (pid $glewlwyd_pid), $glewlwyd_passwords passwords stored as $glewlwyd_bcrypt…"
    if wants login; then glewlwyd_count_crypt; fi

    # --- Load, with the same wrk settings ---
    local token_url=$glewlwyd_base/api/oidc/token
    if wants jwks; then
        curl -sS -f -D "$glewlwyd_dir/jwks.headers" -o "$glewlwyd_dir/jwks.json" "$glewlwyd_base/api/oidc/jwks" || die "Glewlwyd's JWKS does not answer"
        # The key set published in its place must still verify its tokens.
        curl -sS -f -m 10 -H "Authorization: $glewlwyd_basic" -d "grant_type=client_credentials&scope=bench" "$token_url" |
            json_field access_token | python3 -c '
import base64, json, sys
header = json.loads(base64.urlsafe_b64decode(sys.stdin.read().split(".")[0] + "=="))
sys.exit(0 if header["kid"] in [key["kid"] for key in json.load(open(sys.argv[1]))["keys"]] else 1)' "$glewlwyd_dir/jwks.json" ||
            die "Glewlwyd's JWKS does not hold the key its access tokens name"
        BENCH_METHOD=GET BENCH_BODY="" BENCH_AUTHORIZATION="" \
            wrk_run peer-jwks "$glewlwyd_base/api/oidc/jwks" "$lua_dir/request.lua"
    fi
    if wants login; then
        glewlwyd_login >/dev/null || die "a password grant on Glewlwyd failed"
        BENCH_METHOD=POST BENCH_AUTHORIZATION=$glewlwyd_basic BENCH_USERS=$bench_users \
            BENCH_BODY="grant_type=password&username={user}&password=$password&scope=bench" \
            wrk_run peer-login "$token_url" "$lua_dir/request.lua"
    fi
    if wants refresh; then
        refresh_run peer-refresh "$token_url" "$glewlwyd_basic" glewlwyd_login
    fi
    if wants cc; then
        curl -sS -f -m 10 -o /dev/null -H "Authorization: $glewlwyd_basic" -d "grant_type=client_credentials&scope=bench" \
            "$token_url" || die "a client_credentials grant on Glewlwyd failed"
        BENCH_METHOD=POST BENCH_AUTHORIZATION=$glewlwyd_basic BENCH_BODY="grant_type=client_credentials&scope=bench" \
            wrk_run peer-cc "$token_url" "$lua_dir/request.lua"
    fi
    if wants introspect; then
        access_token=$(glewlwyd_login | json_field access_token)
        glewlwyd_active "$access_token" || die "Glewlwyd's introspection of a fresh access token did not answer active: true"
        BENCH_METHOD=POST BENCH_AUTHORIZATION=$glewlwyd_basic BENCH_BODY="token=$access_token" \
            wrk_run peer-introspect "$glewlwyd_base/api/oidc/introspect" "$lua_dir/request.lua"
        # Inactive tokens are answered with a 200 too: check the token is still active.
        if glewlwyd_active "$access_token"; then result[peer-introspect.active_after]=yes; else result[peer-introspect.active_after]=no; fi
    fi

    kill -0 "$glewlwyd_pid" 2>/dev/null || die "glewlwyd is no longer running"
    result[peer.rss_peak]=$(memory_mib VmHWM "$glewlwyd_pid")
    result[peer.connections]=$(glewlwyd_psql postgres postgres -tAc \
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'glewlwyd' AND usename = 'glewlwyd'")
    glewlwyd_cleanup
}

# The second table of table.md: per scenario, Signet's figures beside Glewlwyd's.
glewlwyd_report() {
    local name signet_jwks="" argon hash non2xx=0 sockets=0
    if [[ -n ${nginx_dir:-} && -r $nginx_dir/www/.well-known/jwks.json ]]; then signet_jwks=$nginx_dir/www/.well-known/jwks.json; fi
    argon="Argon2id hash (m=$(get hash.m) KiB t=$(get hash.t) p=$(get hash.p))"
    [[ -n $(get hash.m) ]] || argon="Argon2id hash (its defaults: m=19456 KiB t=2 p=1)"
    printf '\n### Peer: Glewlwyd %s (BENCH_PEER=glewlwyd)\n\n' "$glewlwyd_version"
    printf -- '- the same wrk settings (-t%s -c%s, %s s per scenario, loopback), run after Signet was stopped; Glewlwyd on a PostgreSQL cluster of its own (fsync on), log level WARNING, ES256 access tokens\n' \
        "$wrk_threads" "$connections" "$duration"
    printf -- '- CPU µs/req: user + system time from /proc of the server process and of its own cluster'"'"'s postmaster and backends, divided by the completed requests\n\n'
    printf '| scenario | Signet req/s | Glewlwyd req/s | Signet ÷ Glewlwyd | p99 ms, Signet / Glewlwyd | Signet CPU µs/req | Glewlwyd CPU µs/req | Signet'"'"'s PostgreSQL CPU µs/req | Glewlwyd'"'"'s PostgreSQL CPU µs/req | Glewlwyd non-2xx / socket errors | note |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
    glewlwyd_row jwks 'JWKS' "$(glewlwyd_jwks_note "$signet_jwks")"
    if [[ $glewlwyd_bcrypt =~ ^\$2[aby]?\$([0-9][0-9])\$ ]]; then
        hash="bcrypt cost $((10#${BASH_REMATCH[1]}))"
    else
        hash="hashes starting $glewlwyd_bcrypt"
    fi
    if [[ -n $glewlwyd_crypt_per_login ]]; then
        hash+=", ${glewlwyd_crypt_per_login} crypt() calls per login with $glewlwyd_passwords passwords stored"
    fi
    glewlwyd_row login 'login (password grant)' \
        "**not comparable work**: Glewlwyd checks $hash, in PostgreSQL (pgcrypto; that CPU is in its PostgreSQL column); Signet verifies one $argon"
    glewlwyd_row refresh 'refresh (rotating chains)' 'one-time refresh tokens on both; Glewlwyd also stores every access token in PostgreSQL'
    glewlwyd_row cc 'client_credentials' 'Glewlwyd stores every access token in PostgreSQL'
    glewlwyd_row introspect 'introspection' 'by the token'"'"'s own client; Glewlwyd reads the token from PostgreSQL'
    printf '\n'
    for name in jwks login refresh cc introspect; do
        [[ -n $(get "peer-$name.rps") ]] || continue
        non2xx=$((non2xx + $(get "peer-$name.non2xx")))
        sockets=$((sockets + $(get "peer-$name.connect_errors") + $(get "peer-$name.read_errors") + $(get "peer-$name.write_errors") + $(get "peer-$name.timeouts")))
    done
    printf -- '- Glewlwyd non-2xx over all its runs: %s; socket errors: %s (target: zero non-2xx) — %s\n' "$non2xx" "$sockets" \
        "$(verdict "$non2xx == 0")"
    if [[ -n $(get peer-refresh.rps) ]]; then
        printf -- '- Glewlwyd refresh chains: %s rotations, %s chains broken, %s requests without a live token, %s sessions\n' \
            "$(get peer-refresh.rotated)" "$(get peer-refresh.chains_broken)" "$(get peer-refresh.starved)" "$(get peer-refresh.sessions)"
    fi
    if [[ -n $(get peer-introspect.rps) ]]; then
        printf -- '- Glewlwyd introspection: the token answered active before the run and %s after it\n' \
            "$([[ $(get peer-introspect.active_after) == yes ]] && echo 'still active' || echo '**inactive**')"
    fi
    printf -- '- Glewlwyd had %s PostgreSQL connection(s) open after the runs: all its SQL goes through it, one statement at a time\n' \
        "$(get peer.connections)"
    printf -- '- Glewlwyd RSS peak (VmHWM at the end): %s MiB\n' "$(get peer.rss_peak)"
}

# glewlwyd_row NAME LABEL NOTE
glewlwyd_row() {
    local name=$1 ratio socket
    if [[ -z $(get "$name.rps") || -z $(get "peer-$name.rps") ]]; then
        printf '| %s | skipped | | | | | | | | | |\n' "$2"
        return
    fi
    ratio=$(awk -v s="$(get "$name.rps")" -v g="$(get "peer-$name.rps")" 'BEGIN { if (g > 0) printf "%.2f", s / g; else printf "—" }')
    socket=$(($(get "peer-$name.connect_errors") + $(get "peer-$name.read_errors") + $(get "peer-$name.write_errors") + $(get "peer-$name.timeouts")))
    printf '| %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s / %s | %s |\n' "$2" \
        "$(intf "$(get "$name.rps")")" "$(intf "$(get "peer-$name.rps")")" "$ratio" \
        "$(ms "$(get "$name.p99_ms")")" "$(ms "$(get "peer-$name.p99_ms")")" \
        "$(get "$name.server_cpu_us")" "$(get "peer-$name.server_cpu_us")" \
        "$(get "$name.database_cpu_us")" "$(get "peer-$name.database_cpu_us")" \
        "$(get "peer-$name.non2xx")" "$socket" "$3"
}

# What a JWKS file holds: "N keys, B bytes".
glewlwyd_jwks_size() {
    python3 -c 'import json, sys; b = open(sys.argv[1], "rb").read(); n = len(json.loads(b)["keys"]); print("%d key%s, %d bytes" % (n, "" if n == 1 else "s", len(b)))' "$1"
}

# The JWKS row's note: what each server answers (the bodies differ in size).
glewlwyd_jwks_note() {
    local signet_file=$1 glewlwyd_file=$glewlwyd_dir/jwks.json glewlwyd_cache
    [[ -n $signet_file && -r $glewlwyd_file ]] || return 0
    glewlwyd_cache=$(sed -n 's/^[Cc]ache-[Cc]ontrol:[[:space:]]*//p' "$glewlwyd_dir/jwks.headers" | tr -d '\r')
    printf 'Signet %s, Cache-Control: %s; Glewlwyd %s, Cache-Control: %s' "$(glewlwyd_jwks_size "$signet_file")" \
        "${cache_control:-none}" "$(glewlwyd_jwks_size "$glewlwyd_file")" "${glewlwyd_cache:-none}"
}
