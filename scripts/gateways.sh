#!/usr/bin/env bash
# Gateway recipes: a real `signet serve` on a fresh schema, and the resource servers
# that check its access tokens, as docs/gateways.md describes them:
#   - Apache httpd with mod_auth_openidc as an OAuth 2.0 resource server
#     (Tests/Gateways/apache-api.conf: AuthType oauth20 against the JWKS) on
#     127.0.0.4: fresh, tampered, expired, alg "none", wrong-audience tokens and a key
#     rotation;
#   - a Python resource server (Tests/Gateways/resource_server.py: PyJWT's
#     PyJWKClient, joserfc for encrypted tokens and DPoP proofs): the same checks, an
#     encrypted (JWE) access token, a DPoP-bound token with and without its key;
#   - token introspection (RFC 7662) with a small cache, and revocation seen through it.
#
#   scripts/gateways.sh [pytest options...]
#
# Installs what is missing: the Debian packages apache2 and libapache2-mod-auth-openidc
# (through apt-get, as root or with sudo) and the Python packages.
#
# Environment:
#   SIGNET_TEST_DATABASE_URL  PostgreSQL URL to use (required); a schema
#                             gateways_<random> is created in it and dropped
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

suite_begin gateways

apache_modules=/usr/lib/apache2/modules
apache_dir=""
apache_pid=""

# shellcheck disable=SC2317 # invoked by suite_end
suite_teardown() {
    if [[ -n $apache_pid ]] && kill -0 "$apache_pid" 2>/dev/null; then
        step "stopping apache2 (pid $apache_pid)"
        kill "$apache_pid" 2>/dev/null || true
        for _ in {1..50}; do kill -0 "$apache_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if ((${1:-0} != 0)) && [[ -n $apache_dir && -s $apache_dir/logs/error.log ]]; then
        printf -- '--- last lines of the apache error log (kept in /tmp/signet-gateways-apache-error.log) ---\n' >&2
        tail -n 40 "$apache_dir/logs/error.log" >&2 || true
        cp "$apache_dir/logs/error.log" /tmp/signet-gateways-apache-error.log 2>/dev/null || true
    fi
    [[ -z $apache_dir ]] || rm -rf -- "$apache_dir"
}

# --- Dependencies ---------------------------------------------------------------
missing=()
[[ -x /usr/sbin/apache2 && -e $apache_modules/mod_mpm_event.so ]] || missing+=(apache2)
[[ -e $apache_modules/mod_auth_openidc.so ]] || missing+=(libapache2-mod-auth-openidc)
# openssl makes the TLS front's certificate (mod_auth_openidc fetches the JWKS over https only).
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]} > 0)); then apt_install "${missing[@]}"; fi

use_python "PyJWT[crypto]>=2.8" "joserfc>=1.0" "requests" "pytest"

# --- Database schema and settings ----------------------------------------------
create_test_schema gateways

isolated_signet_settings "$work_dir"
export SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_DATABASE_SCHEMA=$schema
export SIGNET_ARGON2_MEMORY_KIB=1024
export SIGNET_ARGON2_ITERATIONS=1
# Every request comes from one address; the per-address limits have their own tests.
export SIGNET_RATE_LIMIT_BURST=100000 SIGNET_RATE_LIMIT_FAILED_LOGIN_BURST=100000
export SIGNET_LOG_LEVEL=${SIGNET_LOG_LEVEL:-info}
admin_audience=urn:signet:admin
export SIGNET_ADMIN_AUDIENCE=$admin_audience
admin_url=http://$SIGNET_ADMIN_HOST:$SIGNET_ADMIN_PORT

audience=https://api.example.com
other_audience=https://other.example.com
admin_username=root
admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')

# Apache on 127.0.0.4 (an address of its own, beside the browser suite's 127.0.0.2/3).
apache_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.4", 0)); print(s.getsockname()[1]); s.close()')
apache_url=http://127.0.0.4:$apache_port
# mod_auth_openidc fetches the JWKS only over https: the same Apache also serves Signet's
# JWKS over TLS on a second port (a reverse proxy with a self-signed certificate, which
# OIDCCABundlePath trusts), as the TLS front of a production Signet would.
jwks_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.4", 0)); print(s.getsockname()[1]); s.close()')
while [[ $jwks_port == "$apache_port" ]]; do
    jwks_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.4", 0)); print(s.getsockname()[1]); s.close()')
done
jwks_uri=https://127.0.0.4:$jwks_port/.well-known/jwks.json
# Apache's workers run as www-data when started as root: the directory must be readable.
apache_dir=$(mktemp -d /tmp/signet-gateways-apache.XXXXXX)
chmod 755 "$apache_dir"

# --- Data ---------------------------------------------------------------------
step "signet migrate"
"$SIGNET_BIN" migrate

# The admin registers the client with encrypted access tokens (admin API). The admin
# role requires a second factor (mfa.required_roles): the admin gets TOTP from the
# command line and the suite's one admin login spends a recovery code.
step "signet users create $admin_username; signet users enrol-totp $admin_username"
printf '%s\n' "$admin_password" |
    "$SIGNET_BIN" users create "$admin_username" --role admin --password-stdin >/dev/null
admin_recovery_codes=$(field recovery_codes "$("$SIGNET_BIN" users enrol-totp "$admin_username")")

# $1: client id; the rest: options of `signet clients create`. Prints the CLI's output.
create_client() {
    step "signet clients create $1"
    "$SIGNET_BIN" clients create "$@"
}

# The application calling the API (client credentials, audience = the API).
out=$(create_client api-caller --grant client_credentials --scope api --audience "$audience")
caller_client_id=$(field client_id "$out")
caller_client_secret=$(field client_secret "$out")

# The same, with access tokens that live 10 s (the shortest lifetime allowed), for
# the expired-token checks. Neither `signet clients create` nor the admin API takes a
# per-client access-token lifetime (the column exists: ClientRegistry validates it,
# TokenIssuer applies it), so it is set in the database before the server starts.
out=$(create_client short-lived --grant client_credentials --scope api --audience "$audience")
short_client_id=$(field client_id "$out")
short_client_secret=$(field client_secret "$out")
test_sql "UPDATE \"$schema\".clients SET access_token_lifetime_seconds = 10 WHERE client_id = '$short_client_id'"

# A client whose tokens are meant for another API: the gateway must refuse them.
out=$(create_client other-api-caller --grant client_credentials --scope api --audience "$other_audience")
other_client_id=$(field client_id "$out")
other_client_secret=$(field client_secret "$out")

# The gateway's own confidential client, for introspection (RFC 7662).
out=$(create_client api-gateway --grant client_credentials --scope api --audience "$audience")
gateway_client_id=$(field client_id "$out")
gateway_client_secret=$(field client_secret "$out")

# The only client whose tokens the admin listener accepts.
out=$(create_client admin-cli --grant password --scope openid --scope profile --audience "$admin_audience")
admin_client_id=$(field client_id "$out")
admin_client_secret=$(field client_secret "$out")

# --- Server -------------------------------------------------------------------
start_signet "$work_dir/server.log"

# --- Apache: mod_auth_openidc as a resource server -------------------------------
mkdir -p "$apache_dir/htdocs/api" "$apache_dir/logs" "$apache_dir/run"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.4 \
    -addext subjectAltName=IP:127.0.0.4 -keyout "$apache_dir/tls.key" -out "$apache_dir/tls.crt" 2>/dev/null ||
    die "openssl could not make a certificate"
printf 'hello from the protected API\n' >"$apache_dir/htdocs/api/hello.txt"
chmod -R a+rX "$apache_dir"
{
    printf 'ServerRoot "%s"\n' "$apache_dir"
    printf 'DefaultRuntimeDir "%s/run"\n' "$apache_dir"
    printf 'PidFile "%s/httpd.pid"\n' "$apache_dir"
    for module in mpm_event authn_core authz_core authz_user auth_openidc ssl proxy proxy_http; do
        printf 'LoadModule %s_module %s/mod_%s.so\n' "$module" "$apache_modules" "$module"
    done
    if is_root; then
        if id www-data >/dev/null 2>&1; then printf 'User www-data\nGroup www-data\n'; else printf 'User nobody\nGroup nogroup\n'; fi
    fi
    printf 'ServerName localhost\n'
    printf 'Listen 127.0.0.4:%s\n' "$apache_port"
    printf 'ErrorLog "%s/logs/error.log"\n' "$apache_dir"
    printf 'LogLevel warn auth_openidc:info\n'
    printf 'LogFormat "%%h %%u \\"%%r\\" %%>s" signet\n'
    printf 'CustomLog "%s/logs/access.log" signet\n' "$apache_dir"
    printf 'DocumentRoot "%s/htdocs"\n' "$apache_dir"
    printf '<Directory "%s/htdocs">\n    Require all granted\n</Directory>\n' "$apache_dir"
    printf 'Listen 127.0.0.4:%s\n' "$jwks_port"
    printf '<VirtualHost 127.0.0.4:%s>\n' "$jwks_port"
    printf '    ServerName localhost\n'
    printf '    SSLEngine on\n    SSLCertificateFile "%s/tls.crt"\n    SSLCertificateKeyFile "%s/tls.key"\n' "$apache_dir" "$apache_dir"
    printf '    ProxyPass /.well-known/jwks.json %s/.well-known/jwks.json\n' "$SIGNET_ISSUER"
    printf '</VirtualHost>\n'
    printf 'OIDCCABundlePath "%s/tls.crt"\n' "$apache_dir"
    printf 'Define SIGNET_JWKS_URI %s\n' "$jwks_uri"
    printf 'Define SIGNET_ISSUER %s\n' "$SIGNET_ISSUER"
    printf 'Define GATEWAY_AUDIENCE %s\n' "$audience"
    printf 'Include "%s/Tests/Gateways/apache-api.conf"\n' "$PWD"
} >"$apache_dir/httpd.conf"
step "apache2 on $apache_url (config: $apache_dir/httpd.conf)"
/usr/sbin/apache2 -t -f "$apache_dir/httpd.conf" >/dev/null 2>&1 ||
    die "apache2 -t: $(/usr/sbin/apache2 -t -f "$apache_dir/httpd.conf" 2>&1)"
/usr/sbin/apache2 -f "$apache_dir/httpd.conf" -k start
for _ in {1..100}; do
    [[ -s $apache_dir/httpd.pid ]] && apache_pid=$(cat "$apache_dir/httpd.pid")
    if [[ -n $apache_pid ]] && python3 -c 'import socket, sys; socket.create_connection(("127.0.0.4", int(sys.argv[1])), timeout=1).close()' "$apache_port" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
[[ -n $apache_pid ]] || die "apache2 did not start (log: $(tail -n 5 "$apache_dir/logs/error.log" 2>/dev/null))"

# --- Tests --------------------------------------------------------------------
step "pytest -q Tests/Gateways $*"
status=0
SIGNET_URL=$SIGNET_ISSUER \
    SIGNET_ADMIN_URL=$admin_url \
    GATEWAY_AUDIENCE=$audience \
    GATEWAY_OTHER_AUDIENCE=$other_audience \
    GATEWAY_APACHE_URL=$apache_url \
    GATEWAY_APACHE_LOG=$apache_dir/logs/error.log \
    GATEWAY_APACHE_ACCESS_LOG=$apache_dir/logs/access.log \
    GATEWAY_CLIENT_ID=$caller_client_id \
    GATEWAY_CLIENT_SECRET=$caller_client_secret \
    GATEWAY_SHORT_CLIENT_ID=$short_client_id \
    GATEWAY_SHORT_CLIENT_SECRET=$short_client_secret \
    GATEWAY_OTHER_CLIENT_ID=$other_client_id \
    GATEWAY_OTHER_CLIENT_SECRET=$other_client_secret \
    GATEWAY_INTROSPECTION_CLIENT_ID=$gateway_client_id \
    GATEWAY_INTROSPECTION_CLIENT_SECRET=$gateway_client_secret \
    GATEWAY_ADMIN_USERNAME=$admin_username \
    GATEWAY_ADMIN_PASSWORD=$admin_password \
    GATEWAY_ADMIN_RECOVERY_CODES=$admin_recovery_codes \
    GATEWAY_ADMIN_CLIENT_ID=$admin_client_id \
    GATEWAY_ADMIN_CLIENT_SECRET=$admin_client_secret \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider Tests/Gateways "$@" || status=$?
step "pytest exited with $status"
exit "$status"
