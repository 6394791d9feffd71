"""Signet behind Apache's mod_auth_openidc, the way a site owner deploys it.

Two Apache virtual hosts, http://127.0.0.2:PORT and http://127.0.0.3:PORT (cookies ignore
ports, so each site has an address of its own), protect /protected with
mod_auth_openidc as the confidential clients apache-one and apache-two (client_secret_basic,
PKCE S256, scopes openid profile email, found through Signet's discovery document).
/protected/whoami is a CGI script printing REMOTE_USER (the sub claim). Chromium signs in
at one site, is let into the other without a login page, and logs out through
mod_auth_openidc's RP-initiated logout. Run through scripts/browser.sh, which passes:

    SIGNET_URL                          the issuer
    BROWSER_USERNAME/_PASSWORD          the user; BROWSER_USER_ID its id (sub)
    BROWSER_APACHE_PORT                 the port of both virtual hosts
    BROWSER_APACHE_ONE_CLIENT_ID/_SECRET, BROWSER_APACHE_TWO_CLIENT_ID/_SECRET
                                        the clients, registered with the redirect URI
                                        http://127.0.0.X:PORT/protected/redirect_uri and
                                        the post-logout redirect URI
                                        http://127.0.0.X:PORT/loggedout.html
    BROWSER_APACHE_DIR                  an empty directory for Apache's configuration,
                                        pages, logs and PID file (default: a new one)
    BROWSER_APACHE_MODULES              Apache's module directory
                                        (default /usr/lib/apache2/modules)
"""

import os
import pathlib
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
from conftest import (
    ISSUER,
    USER_ID,
    USERNAME,
    Recorder,
    is_signet,
    setting,
    shows_login_form,
    submit_login,
    wait_for,
)

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
PORT = int(setting("BROWSER_APACHE_PORT"))
MODULES = setting("BROWSER_APACHE_MODULES", "/usr/lib/apache2/modules")
SITES = {
    "127.0.0.2": (setting("BROWSER_APACHE_ONE_CLIENT_ID"), setting("BROWSER_APACHE_ONE_CLIENT_SECRET")),
    "127.0.0.3": (setting("BROWSER_APACHE_TWO_CLIENT_ID"), setting("BROWSER_APACHE_TWO_CLIENT_SECRET")),
}
# mpm_prefork because mod_cgi (no cgid daemon to set up) needs a non-threaded MPM.
MODULE_NAMES = [
    ("mpm_prefork_module", "mod_mpm_prefork.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("alias_module", "mod_alias.so"),
    ("cgi_module", "mod_cgi.so"),
    ("mime_module", "mod_mime.so"),
    ("auth_openidc_module", "mod_auth_openidc.so"),
]
WHOAMI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'user=%s\\n' "$REMOTE_USER"
printf 'preferred_username=%s\\n' "$OIDC_CLAIM_preferred_username"
"""


def site(host):
    return f"http://{host}:{PORT}"


def virtual_host(root, host, client_id, client_secret):
    return f"""
<VirtualHost {host}:{PORT}>
    ServerName {host}
    DocumentRoot "{root}/htdocs"
    OIDCProviderMetadataURL {ISSUER}/.well-known/openid-configuration
    OIDCClientID {client_id}
    OIDCClientSecret "{client_secret}"
    OIDCProviderTokenEndpointAuth client_secret_basic
    OIDCRedirectURI {site(host)}/protected/redirect_uri
    OIDCScope "openid profile email"
    OIDCPKCEMethod S256
    OIDCRemoteUserClaim sub
    ScriptAlias /protected/whoami "{root}/cgi-bin/whoami"
    <Location /protected>
        AuthType openid-connect
        Require valid-user
    </Location>
</VirtualHost>
"""


def configuration(root):
    lines = [f'ServerRoot "{root}"', f'DefaultRuntimeDir "{root}/run"', f'PidFile "{root}/httpd.pid"']
    lines += [f"LoadModule {name} {MODULES}/{file}" for name, file in MODULE_NAMES]
    if os.geteuid() == 0:
        # Started as root, Apache's workers switch to this user; it reads the pages and the script.
        user = "www-data" if _user_exists("www-data") else "nobody"
        lines += [f"User {user}", f"Group {'www-data' if user == 'www-data' else 'nogroup'}"]
    lines += [
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.2:{PORT}",
        f"Listen 127.0.0.3:{PORT}",
        "StartServers 2",
        "MinSpareServers 1",
        "MaxSpareServers 4",
        "MaxRequestWorkers 16",
        f'ErrorLog "{root}/logs/error.log"',
        "LogLevel warn auth_openidc:info",
        'LogFormat "%h %{Host}i %u \\"%r\\" %>s" signet',
        f'CustomLog "{root}/logs/access.log" signet',
        # mod_mime wants a types file; the one type needed is added by hand.
        f'TypesConfig "{root}/mime.types"',
        "AddType text/html .html",
        f'DocumentRoot "{root}/htdocs"',
        f'<Directory "{root}/htdocs">',
        "    Require all granted",
        "</Directory>",
        f'<Directory "{root}/cgi-bin">',
        "    Options +ExecCGI",
        "    Require all granted",
        "</Directory>",
        f"OIDCCryptoPassphrase {secrets.token_hex(32)}",
    ]
    config = "\n".join(lines) + "\n"
    for host, (client_id, client_secret) in SITES.items():
        config += virtual_host(root, host, client_id, client_secret)
    return config


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class Apache:
    def __init__(self, root):
        self.root = root
        self.conf = root / "httpd.conf"
        self.pid_file = root / "httpd.pid"

    def write(self):
        for directory in ("htdocs", "cgi-bin", "logs", "run"):
            (self.root / directory).mkdir(exist_ok=True)
        self.root.chmod(0o755)
        for directory in ("htdocs", "cgi-bin"):
            (self.root / directory).chmod(0o755)
        (self.root / "htdocs" / "loggedout.html").write_text(
            "<!doctype html><title>Logged out</title><p id=bye>You have logged out of this site.</p>\n"
        )
        (self.root / "htdocs" / "loggedout.html").chmod(0o644)
        (self.root / "mime.types").write_text("")
        script = self.root / "cgi-bin" / "whoami"
        script.write_text(WHOAMI)
        script.chmod(0o755)
        self.conf.write_text(configuration(self.root))

    def log_tail(self, lines=30):
        try:
            return "\n".join((self.root / "logs" / "error.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def start(self):
        checked = subprocess.run(
            [APACHE, "-t", "-f", str(self.conf)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr + checked.stdout
        started = subprocess.run(
            [APACHE, "-f", str(self.conf), "-k", "start"], capture_output=True, text=True, timeout=30
        )
        assert started.returncode == 0, started.stderr + started.stdout + self.log_tail()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.pid_file.exists() and all(_accepts(host, PORT) for host in SITES):
                return
            time.sleep(0.1)
        pytest.fail(f"apache2 did not start listening on port {PORT}:\n{self.log_tail()}")

    def pid(self):
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGTERM to the PID in the PID file; waits until Apache has removed that file."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pid_file.exists():
            time.sleep(0.1)


def _accepts(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def apache():
    given = os.environ.get("BROWSER_APACHE_DIR")
    root = pathlib.Path(given) if given else pathlib.Path(tempfile.mkdtemp(prefix="signet-apache."))
    server = Apache(root)
    server.write()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if not given:
            shutil.rmtree(root, ignore_errors=True)


def whoami(page):
    lines = page.locator("body").inner_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_two_apache_sites_share_one_signet_session_and_log_out(page, apache):
    one, two = site("127.0.0.2"), site("127.0.0.3")

    # 1. The first site sends the browser to Signet's login page, then back.
    page.goto(f"{one}/protected/whoami")
    assert shows_login_form(page), (page.url, apache.log_tail())
    submit_login(page)
    wait_for(page, f"{one}/protected/whoami", f"{one}/protected/whoami")
    assert whoami(page) == {"user": USER_ID, "preferred_username": USERNAME}, (
        page.content(),
        apache.log_tail(),
    )

    # 2. The second site: Signet's session lets the browser through without a login page.
    recorder = Recorder(page)
    page.goto(f"{two}/protected/whoami")
    wait_for(page, f"{two}/protected/whoami", f"{two}/protected/whoami")
    assert whoami(page) == {"user": USER_ID, "preferred_username": USERNAME}, (
        page.content(),
        apache.log_tail(),
    )
    recorder.assert_passed_straight_through()
    assert any(is_signet(r.url) for r in recorder.signet_responses), "never went to Signet"

    # 3. RP-initiated logout through mod_auth_openidc: Signet's end_session_endpoint with
    #    the ID token as hint, back to the registered post-logout page.
    logged_out = f"{one}/loggedout.html"
    recorder = Recorder(page)
    page.goto(f"{one}/protected/redirect_uri?logout={urllib.parse.quote(logged_out, safe='')}")
    wait_for(page, lambda url: url.split("?")[0] == logged_out, logged_out)
    assert page.locator("#bye").count() == 1, page.content()
    assert any(
        r.url.startswith(ISSUER + "/oauth2/logout") for r in recorder.signet_responses
    ), [r.url for r in recorder.signet_responses]

    # 4. Both sessions ended: the first site asks Signet, which shows the login page again.
    page.goto(f"{one}/protected/whoami")
    assert shows_login_form(page), (page.url, apache.log_tail())
