#!/usr/bin/env bash
# Browser sign-in tests: a real `signet serve` on a fresh schema, driven by a real
# browser (Debian's Chromium through Playwright) and real relying parties:
#   - Tests/Browser/test_browser.py: authlib as the application (authorization code
#     + PKCE, ID token checked with joserfc against the JWKS), login, consent and
#     logout pages, single sign-on between two applications, prompt=none, a public
#     client, escaping of a hostile client name; screenshots of every page;
#   - Tests/Browser/test_mfa.py: the second factor (TOTP): enrolment with the QR code
#     read back by zbar, verification, replay refused, recovery codes, the policies
#     (mfa.required_roles, a client's --require-mfa), step-up with acr_values=2;
#   - Tests/Browser/test_mod_auth_openidc.py: two Apache sites protected by
#     mod_auth_openidc (127.0.0.2 and 127.0.0.3) sharing one Signet session, and
#     RP-initiated logout through Apache.
#
#   scripts/browser.sh [pytest options...]
#
# Installs what is missing: the Debian packages chromium, apache2,
# libapache2-mod-auth-openidc and libzbar0 (through apt-get, as root or with sudo) and
# the Python packages (Playwright uses the system Chromium; it downloads no browser).
#
# Environment:
#   SIGNET_TEST_DATABASE_URL  PostgreSQL URL to use (required); a schema
#                             browser_<random> is created in it and dropped
#                             afterwards
#   SIGNET_BIN                the signet executable
#                             (default: $(swift build --show-bin-path)/signet)
#   SIGNET_VENV               Python virtual environment to create or reuse
#                             (default: .build/interop-venv)
#   BROWSER_SCREENSHOT_DIR    where the page screenshots go
#                             (default: .build/screenshots)
#   BROWSER_UPDATE_DOCS       1: after a passing run, copy the wide screenshots of the
#                             second-factor pages to docs/mfa-enrolment.png and
#                             docs/mfa-verify.png (the README's pictures)
#
# Exits with the exit status of pytest.
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

suite_begin browser

chromium=/usr/lib/chromium/chromium
apache_modules=/usr/lib/apache2/modules
apache_dir=""

# shellcheck disable=SC2317 # invoked by suite_end
suite_teardown() {
    local pid
    # The Apache test stops its server itself; this catches a pytest that was killed.
    if [[ -n $apache_dir && -s $apache_dir/httpd.pid ]]; then
        pid=$(cat "$apache_dir/httpd.pid")
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            step "stopping apache2 (pid $pid)"
            kill "$pid" 2>/dev/null || true
            for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    if ((${1:-0} != 0)) && [[ -n $apache_dir && -s $apache_dir/logs/error.log ]]; then
        printf -- '--- last lines of the apache error log (kept in /tmp/signet-browser-apache-error.log) ---\n' >&2
        tail -n 40 "$apache_dir/logs/error.log" >&2 || true
        cp "$apache_dir/logs/error.log" /tmp/signet-browser-apache-error.log 2>/dev/null || true
    fi
    [[ -z $apache_dir ]] || rm -rf -- "$apache_dir"
}

# --- Dependencies ---------------------------------------------------------------
missing=()
[[ -x $chromium ]] || missing+=(chromium)
[[ -x /usr/sbin/apache2 && -e $apache_modules/mod_cgi.so ]] || missing+=(apache2)
[[ -e $apache_modules/mod_auth_openidc.so ]] || missing+=(libapache2-mod-auth-openidc)
# pyzbar loads libzbar.so.0 at run time to read the enrolment page's QR code. (grep
# without -q reads to the end: no SIGPIPE for ldconfig under pipefail.)
PATH=$PATH:/sbin ldconfig -p 2>/dev/null | grep 'libzbar\.so\.0' >/dev/null || missing+=(libzbar0)
if ((${#missing[@]} > 0)); then apt_install "${missing[@]}"; fi

use_python "playwright==1.65.2" "authlib>=1.3" "joserfc>=1.0" "requests" "pytest" \
    "pyotp>=2.9" "pyzbar>=0.1.9" "pillow>=10"

screenshot_dir=${BROWSER_SCREENSHOT_DIR:-.build/screenshots}
[[ $screenshot_dir == /* ]] || screenshot_dir=$PWD/$screenshot_dir
mkdir -p "$screenshot_dir"

# --- Database schema and settings ----------------------------------------------
create_test_schema browser

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

# The applications: authlib's callbacks on 127.0.0.1 (a port where the test runs a
# stub that answers 200), Apache on 127.0.0.2 and 127.0.0.3 (cookies ignore ports, so
# each Apache site gets an address of its own).
rp_port=$(free_port)
while [[ $rp_port == "$SIGNET_PUBLIC_PORT" || $rp_port == "$SIGNET_ADMIN_PORT" ]]; do rp_port=$(free_port); done
rp_url=http://127.0.0.1:$rp_port
apache_port=$(python3 - <<'PY'
import socket
for _ in range(50):
    probe = socket.socket()
    probe.bind(("127.0.0.2", 0))
    port = probe.getsockname()[1]
    try:
        other = socket.socket()
        other.bind(("127.0.0.3", port))
        other.close()
    except OSError:
        continue
    finally:
        probe.close()
    print(port)
    break
PY
)
[[ -n $apache_port ]] || die "no port free on both 127.0.0.2 and 127.0.0.3"
apache_one_url=http://127.0.0.2:$apache_port
apache_two_url=http://127.0.0.3:$apache_port
# Apache's workers run as www-data when started as root: the directory must be readable.
apache_dir=$(mktemp -d /tmp/signet-browser-apache.XXXXXX)
chmod 755 "$apache_dir"

user_username=alice
user_email=alice@example.com
user_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
admin_username=root
admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
hostile_name='<script>alert(1)</script>'
# The users of test_mfa.py, one per test where the second factor's state matters (a TOTP
# step is good once per user), all with this password.
mfa_password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')

# --- Data ---------------------------------------------------------------------
step "signet migrate"
"$SIGNET_BIN" migrate

step "signet users create $user_username / $admin_username"
out=$(printf '%s\n' "$user_password" |
    "$SIGNET_BIN" users create "$user_username" --role user --email "$user_email" --password-stdin)
# "created user alice (<id>)": the id is the sub of alice's tokens.
user_id=$(printf '%s\n' "$out" | sed -n 's/^created user .* (\([^()]*\))$/\1/p' | head -n 1)
[[ -n $user_id ]] || die "no user id in: $out"
printf '%s\n' "$admin_password" |
    "$SIGNET_BIN" users create "$admin_username" --role admin --password-stdin >/dev/null

# The admin role needs a second factor (mfa.required_roles): the admin gets TOTP here and
# the tests send one of its recovery codes as `totp` with each password grant.
step "signet users enrol-totp $admin_username"
out=$("$SIGNET_BIN" users enrol-totp "$admin_username")
admin_recovery_codes=$(field recovery_codes "$out")

# $1: username, $2: role. The MFA users share $mfa_password.
create_mfa_user() {
    printf '%s\n' "$mfa_password" | "$SIGNET_BIN" users create "$1" --role "$2" --password-stdin >/dev/null
}
step "signet users create (the users of test_mfa.py)"
mfa_enrol_username=mfa-user            # sets TOTP up by ticking the login page's box
mfa_admin_username=admin-user          # holds the admin role: must set TOTP up
mfa_stepup_username=stepup-user        # password only, then acr_values=2
mfa_app_username=mfa-app-user          # signs in to the --require-mfa client
totp_username=totp-user                # has TOTP (CLI): verification, replay
recovery_username=recovery-user        # has TOTP (CLI): recovery codes
stepup_totp_username=stepup-totp-user  # password only, TOTP set up elsewhere, then acr_values=2
reset_username=reset-user              # has TOTP (CLI): the admin resets it
for name in "$mfa_enrol_username" "$mfa_stepup_username" "$mfa_app_username" \
    "$totp_username" "$recovery_username" "$stepup_totp_username" "$reset_username"; do
    create_mfa_user "$name" user
done
create_mfa_user "$mfa_admin_username" admin

# `signet users enrol-totp` prints otpauth_uri:, secret: and recovery_codes: lines.
step "signet users enrol-totp $totp_username / $recovery_username / $reset_username"
totp_secret=$(field secret "$("$SIGNET_BIN" users enrol-totp "$totp_username")")
recovery_codes=$(field recovery_codes "$("$SIGNET_BIN" users enrol-totp "$recovery_username")")
reset_secret=$(field secret "$("$SIGNET_BIN" users enrol-totp "$reset_username")")

# $1: client id; the rest: options of `signet clients create`. Prints the CLI's output.
create_client() {
    step "signet clients create $1"
    "$SIGNET_BIN" clients create "$@"
}
browser_scopes=(--scope openid --scope profile --scope email)

out=$(create_client web-app --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/callback" --post-logout-redirect-uri "$rp_url/bye" --skip-consent)
web_client_id=$(field client_id "$out")
web_client_secret=$(field client_secret "$out")

out=$(create_client other-app --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/other/callback" --post-logout-redirect-uri "$rp_url/other/bye" --skip-consent)
other_client_id=$(field client_id "$out")
other_client_secret=$(field client_secret "$out")

out=$(create_client third-party --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/third-party/callback" --name "Third Party Reader")
third_client_id=$(field client_id "$out")
third_client_secret=$(field client_secret "$out")

out=$(create_client spa --public --grant authorization_code "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/spa/callback")
spa_client_id=$(field client_id "$out")

out=$(create_client hostile-app --auth-method client_secret_basic \
    --grant authorization_code "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/hostile/callback" --name "$hostile_name")
hostile_client_id=$(field client_id "$out")

out=$(create_client apache-one --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$apache_one_url/protected/redirect_uri" \
    --post-logout-redirect-uri "$apache_one_url/loggedout.html" --skip-consent)
apache_one_client_id=$(field client_id "$out")
apache_one_client_secret=$(field client_secret "$out")

out=$(create_client apache-two --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$apache_two_url/protected/redirect_uri" \
    --post-logout-redirect-uri "$apache_two_url/loggedout.html" --skip-consent)
apache_two_client_id=$(field client_id "$out")
apache_two_client_secret=$(field client_secret "$out")

# An application whose users must sign in with a second factor.
out=$(create_client mfa-app --auth-method client_secret_basic \
    --grant authorization_code --grant refresh_token "${browser_scopes[@]}" \
    --redirect-uri "$rp_url/mfa/callback" --skip-consent --require-mfa)
mfa_client_id=$(field client_id "$out")
mfa_client_secret=$(field client_secret "$out")

# The only client whose tokens the admin listener accepts.
out=$(create_client admin-cli --auth-method client_secret_basic \
    --grant password --grant refresh_token --scope openid --scope profile --audience "$admin_audience")
admin_client_id=$(field client_id "$out")
admin_client_secret=$(field client_secret "$out")

# --- Server -------------------------------------------------------------------
start_signet "$work_dir/server.log"

# --- Tests --------------------------------------------------------------------
step "pytest -q Tests/Browser $* (screenshots: $screenshot_dir)"
status=0
SIGNET_URL=$SIGNET_ISSUER \
    SIGNET_ADMIN_URL=$admin_url \
    BROWSER_CHROMIUM=$chromium \
    BROWSER_SCREENSHOT_DIR=$screenshot_dir \
    BROWSER_USERNAME=$user_username \
    BROWSER_PASSWORD=$user_password \
    BROWSER_USER_ID=$user_id \
    BROWSER_USER_EMAIL=$user_email \
    BROWSER_RP_URL=$rp_url \
    BROWSER_WEB_CLIENT_ID=$web_client_id \
    BROWSER_WEB_CLIENT_SECRET=$web_client_secret \
    BROWSER_OTHER_CLIENT_ID=$other_client_id \
    BROWSER_OTHER_CLIENT_SECRET=$other_client_secret \
    BROWSER_THIRD_CLIENT_ID=$third_client_id \
    BROWSER_THIRD_CLIENT_SECRET=$third_client_secret \
    BROWSER_THIRD_CLIENT_NAME="Third Party Reader" \
    BROWSER_SPA_CLIENT_ID=$spa_client_id \
    BROWSER_HOSTILE_CLIENT_ID=$hostile_client_id \
    BROWSER_HOSTILE_CLIENT_NAME=$hostile_name \
    BROWSER_ADMIN_USERNAME=$admin_username \
    BROWSER_ADMIN_PASSWORD=$admin_password \
    BROWSER_ADMIN_CLIENT_ID=$admin_client_id \
    BROWSER_ADMIN_CLIENT_SECRET=$admin_client_secret \
    BROWSER_ADMIN_RECOVERY_CODES=$admin_recovery_codes \
    BROWSER_MFA_PASSWORD=$mfa_password \
    BROWSER_MFA_ENROL_USERNAME=$mfa_enrol_username \
    BROWSER_MFA_ADMIN_USERNAME=$mfa_admin_username \
    BROWSER_MFA_STEPUP_USERNAME=$mfa_stepup_username \
    BROWSER_MFA_APP_USERNAME=$mfa_app_username \
    BROWSER_TOTP_USERNAME=$totp_username \
    BROWSER_TOTP_SECRET=$totp_secret \
    BROWSER_RECOVERY_USERNAME=$recovery_username \
    BROWSER_RECOVERY_CODES=$recovery_codes \
    BROWSER_STEPUP_TOTP_USERNAME=$stepup_totp_username \
    BROWSER_RESET_USERNAME=$reset_username \
    BROWSER_RESET_SECRET=$reset_secret \
    BROWSER_MFA_CLIENT_ID=$mfa_client_id \
    BROWSER_MFA_CLIENT_SECRET=$mfa_client_secret \
    BROWSER_APACHE_DIR=$apache_dir \
    BROWSER_APACHE_MODULES=$apache_modules \
    BROWSER_APACHE_PORT=$apache_port \
    BROWSER_APACHE_ONE_CLIENT_ID=$apache_one_client_id \
    BROWSER_APACHE_ONE_CLIENT_SECRET=$apache_one_client_secret \
    BROWSER_APACHE_TWO_CLIENT_ID=$apache_two_client_id \
    BROWSER_APACHE_TWO_CLIENT_SECRET=$apache_two_client_secret \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider Tests/Browser "$@" || status=$?
step "pytest exited with $status"

# The README's pictures of the second-factor pages, from this run (a passing one only).
if [[ ${BROWSER_UPDATE_DOCS:-} == 1 ]]; then
    if ((status == 0)) && [[ -s $screenshot_dir/enrolment-wide.png && -s $screenshot_dir/second-factor-wide.png ]]; then
        step "copying the second-factor screenshots to docs/"
        cp "$screenshot_dir/enrolment-wide.png" docs/mfa-enrolment.png
        cp "$screenshot_dir/second-factor-wide.png" docs/mfa-verify.png
    else
        warn "BROWSER_UPDATE_DOCS=1 but the run failed or made no second-factor screenshots; docs/ left as it was"
    fi
fi
exit "$status"
