"""Browser sign-in seen by a real browser and a real relying party.

Chromium (through Playwright) walks the login, consent and logout pages; authlib plays
the application (authorization code + PKCE, client_secret_basic or a public client)
and joserfc checks the ID tokens against the published JWKS. Nothing here knows how
Signet works inside. Run through scripts/browser.sh, which starts a server and passes:

    SIGNET_URL                    the issuer / public base URL
    SIGNET_ADMIN_URL              base URL of the admin listener
    BROWSER_USERNAME/_PASSWORD    a user (role "user") with an e-mail address
    BROWSER_USER_ID               that user's id (the sub of its tokens)
    BROWSER_USER_EMAIL            that user's e-mail address
    BROWSER_RP_URL                http://127.0.0.1:<port>: the applications' callbacks;
                                  this module answers 200 "ok" there. Registered:
                                    web-app      /callback, logout /bye, skip_consent
                                    other-app    /other/callback, logout /other/bye,
                                                 skip_consent
                                    third-party  /third-party/callback (asks consent)
                                    spa          /spa/callback (public, no refresh_token
                                                 grant, asks consent)
                                    hostile-app  /hostile/callback (asks consent)
                                  all with scopes openid profile email
    BROWSER_WEB_CLIENT_ID/_SECRET, BROWSER_OTHER_CLIENT_ID/_SECRET,
    BROWSER_THIRD_CLIENT_ID/_SECRET, BROWSER_THIRD_CLIENT_NAME,
    BROWSER_SPA_CLIENT_ID, BROWSER_HOSTILE_CLIENT_ID, BROWSER_HOSTILE_CLIENT_NAME
                                  the clients above
    BROWSER_ADMIN_USERNAME/_PASSWORD, BROWSER_ADMIN_CLIENT_ID/_SECRET
                                  an admin and the admin-audience client (password grant)
    BROWSER_ADMIN_RECOVERY_CODES  the admin's recovery codes, space-separated: the admin
                                  role needs a second factor, one code goes with each grant
    BROWSER_SCREENSHOT_DIR        where the page screenshots go
    BROWSER_CHROMIUM              the Chromium executable (default Debian's)
"""

import base64
import hashlib
import http.server
import json
import secrets
import threading
import urllib.parse

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from conftest import (
    ISSUER,
    Recorder,
    wait_for,
    PASSWORD,
    USER_ID,
    USERNAME,
    is_signet,
    login_form,
    screenshot,
    setting,
    shows_login_form,
    submit_login,
)
from joserfc import jwt
from joserfc.jwk import KeySet

TIMEOUT = 10
ADMIN_URL = setting("SIGNET_ADMIN_URL").rstrip("/")
USER_EMAIL = setting("BROWSER_USER_EMAIL")
RP_URL = setting("BROWSER_RP_URL").rstrip("/")
WEB_CLIENT_ID = setting("BROWSER_WEB_CLIENT_ID")
WEB_CLIENT_SECRET = setting("BROWSER_WEB_CLIENT_SECRET")
OTHER_CLIENT_ID = setting("BROWSER_OTHER_CLIENT_ID")
OTHER_CLIENT_SECRET = setting("BROWSER_OTHER_CLIENT_SECRET")
THIRD_CLIENT_ID = setting("BROWSER_THIRD_CLIENT_ID")
THIRD_CLIENT_SECRET = setting("BROWSER_THIRD_CLIENT_SECRET")
THIRD_CLIENT_NAME = setting("BROWSER_THIRD_CLIENT_NAME")
SPA_CLIENT_ID = setting("BROWSER_SPA_CLIENT_ID")
HOSTILE_CLIENT_ID = setting("BROWSER_HOSTILE_CLIENT_ID")
HOSTILE_CLIENT_NAME = setting("BROWSER_HOSTILE_CLIENT_NAME")
ADMIN_USERNAME = setting("BROWSER_ADMIN_USERNAME")
ADMIN_PASSWORD = setting("BROWSER_ADMIN_PASSWORD")
ADMIN_CLIENT_ID = setting("BROWSER_ADMIN_CLIENT_ID")
ADMIN_CLIENT_SECRET = setting("BROWSER_ADMIN_CLIENT_SECRET")
# Each works once: admin_headers spends one per token (test_mfa.py uses it too).
ADMIN_RECOVERY_CODES = setting("BROWSER_ADMIN_RECOVERY_CODES").split()

WEB_CALLBACK = f"{RP_URL}/callback"
WEB_BYE = f"{RP_URL}/bye"
OTHER_CALLBACK = f"{RP_URL}/other/callback"
OTHER_BYE = f"{RP_URL}/other/bye"
THIRD_CALLBACK = f"{RP_URL}/third-party/callback"
SPA_CALLBACK = f"{RP_URL}/spa/callback"
HOSTILE_CALLBACK = f"{RP_URL}/hostile/callback"
UNREGISTERED = f"{RP_URL}/not-registered"
FULL_SCOPE = "openid profile email"
ACCESS_TOKEN_ALGORITHMS = {"ES256", "EdDSA", "Ed25519", "RS256", "PS256"}


# --- the applications' side ------------------------------------------------------


class Callbacks(http.server.ThreadingHTTPServer):
    """The applications' web server: answers 200 "ok" to everything and remembers the
    paths asked for, so that a test can tell that the browser never went somewhere."""

    daemon_threads = True

    def __init__(self, address):
        self.paths = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path != "/favicon.ico":
                    server.paths.append(path)
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(address, Handler)


@pytest.fixture(scope="module", autouse=True)
def callbacks():
    parts = urllib.parse.urlsplit(RP_URL)
    server = Callbacks((parts.hostname, parts.port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def metadata():
    response = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


class Application:
    """One relying party: an authlib session plus what it keeps between the authorization
    request and the callback (state, nonce, PKCE code verifier)."""

    def __init__(self, metadata, client_id, client_secret, redirect_uri, scope=FULL_SCOPE):
        self.metadata = metadata
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.session = OAuth2Session(
            client_id,
            client_secret,
            token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
            redirect_uri=redirect_uri,
            scope=scope,
            code_challenge_method="S256",
        )

    def authorization_url(self, **extra):
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)
        url, _ = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"],
            state=self.state,
            code_verifier=self.verifier,
            nonce=self.nonce,
            **extra,
        )
        return url

    def fetch_token(self, callback_url, code_verifier=None):
        return self.session.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=callback_url,
            code_verifier=code_verifier or self.verifier,
            state=self.state,
            timeout=TIMEOUT,
        )


def web_app(metadata, scope=FULL_SCOPE):
    return Application(metadata, WEB_CLIENT_ID, WEB_CLIENT_SECRET, WEB_CALLBACK, scope)


def third_party(metadata, scope):
    return Application(metadata, THIRD_CLIENT_ID, THIRD_CLIENT_SECRET, THIRD_CALLBACK, scope)


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def at_callback(page, redirect_uri):
    """Waits until the browser is at redirect_uri with a query; returns the query."""
    wait_for(page, lambda url: url.startswith(redirect_uri + "?"), redirect_uri)
    return query(page.url)


def assert_code_response(params, application):
    assert params.get("code"), params
    assert "error" not in params, params
    assert params.get("state") == application.state, params
    assert params.get("iss") == ISSUER, params


def assert_error_response(params, error, state):
    assert params.get("error") == error, params
    assert "code" not in params, params
    assert params.get("state") == state, params
    assert params.get("iss") == ISSUER, params
    assert "error_description" in params, params


def sign_in(page, application, **extra):
    """A whole sign-in with the login page: returns (callback query, token response)."""
    page.goto(application.authorization_url(**extra))
    assert shows_login_form(page), page.url
    submit_login(page)
    params = at_callback(page, application.redirect_uri)
    assert_code_response(params, application)
    return params, application.fetch_token(page.url)


def decode_segment(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def jwks(metadata):
    response = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def verify_access_token(metadata, access_token):
    header = decode_segment(access_token.split(".")[0])
    assert header["alg"] in ACCESS_TOKEN_ALGORITHMS, header
    token = jwt.decode(access_token, KeySet.import_key_set(jwks(metadata)), algorithms=[header["alg"]])
    jwt.JWTClaimsRegistry(
        leeway=5, iss={"essential": True, "value": ISSUER}, sub={"essential": True}
    ).validate(token.claims)
    return token.claims


def left_half_hash(value):
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def verify_id_token(metadata, token, application, amr=("pwd",), acr="1"):
    """Checks an ID token as an OpenID Connect relying party must (Core §3.1.3.7): RS256,
    a kid of the JWKS, signature, iss, aud, azp, exp/iat, nonce, at_hash; and how the user
    signed in (amr, acr: a password alone unless told otherwise); returns the claims."""
    id_token = token["id_token"]
    header = decode_segment(id_token.split(".")[0])
    assert header["alg"] == "RS256", header
    keys = jwks(metadata)
    assert header.get("kid") in {key["kid"] for key in keys["keys"]}, (header, keys)
    decoded = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["RS256"])
    essential = {"essential": True}
    jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": application.client_id},
        azp={"essential": True, "value": application.client_id},
        sub=essential,
        exp=essential,
        iat=essential,
        auth_time=essential,
        sid=essential,
        nonce={"essential": True, "value": application.nonce},
        at_hash={"essential": True, "value": left_half_hash(token["access_token"])},
    ).validate(decoded.claims)
    claims = decoded.claims
    assert claims["exp"] > claims["iat"], claims
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"], claims
    assert claims["amr"] == list(amr), claims
    assert claims["acr"] == acr, claims
    return claims


def post_token(metadata, data, auth=None):
    return requests.post(metadata["token_endpoint"], data=data, auth=auth, timeout=TIMEOUT)


def assert_refresh_refused(metadata, refresh_token, client_id, client_secret):
    response = post_token(
        metadata,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client_id, client_secret),
    )
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["error"] == "invalid_grant", response.text


def assert_refresh_works(metadata, refresh_token, client_id, client_secret):
    response = post_token(
        metadata,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client_id, client_secret),
    )
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def admin_headers(metadata):
    """A bearer token for the admin listener: the admin's password grant with an unused
    recovery code as the second factor (the admin role requires one)."""
    assert ADMIN_RECOVERY_CODES, "the admin's recovery codes are all spent"
    response = post_token(
        metadata,
        {
            "grant_type": "password",
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
            "totp": ADMIN_RECOVERY_CODES.pop(),
            "scope": "openid profile",
        },
        auth=(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def consent_buttons(page):
    allow = page.locator("button[name=decision][value=allow]")
    deny = page.locator("button[name=decision][value=deny]")
    assert allow.count() == 1 and deny.count() == 1, (page.url, page.content())
    return allow, deny


def assert_consent_page(page, client_name, scopes):
    assert is_signet(page.url), page.url
    assert not shows_login_form(page), page.url
    consent_buttons(page)
    text = page.locator("body").inner_text()
    assert client_name in text, text
    # openid itself is often described as "sign you in"; the others must be named.
    for scope in scopes.split():
        if scope != "openid":
            assert scope.lower() in text.lower(), (scope, text)


def click(page, locator):
    with page.expect_navigation() as navigation:
        locator.click()
    return navigation.value


# --- discovery ---------------------------------------------------------------------


def test_discovery_describes_browser_sign_in(metadata):
    assert metadata["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"
    assert metadata["end_session_endpoint"] == f"{ISSUER}/oauth2/logout"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["query"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in metadata["grant_types_supported"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert metadata["subject_types_supported"] == ["public"]
    assert {"none", "login", "consent"} <= set(metadata["prompt_values_supported"])
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert {"openid", "profile", "email", "offline_access"} <= set(metadata["scopes_supported"])


# --- login page ----------------------------------------------------------------------


def test_login_page_refuses_a_wrong_password_and_an_unknown_user_alike(page, metadata, callbacks):
    before = len(callbacks.paths)
    application = web_app(metadata)
    page.goto(application.authorization_url())
    assert is_signet(page.url), page.url
    login_form(page)
    assert page.locator("[role=alert]").count() == 0
    screenshot(page, "login")

    submit_login(page, USERNAME, PASSWORD + "x")
    assert is_signet(page.url), page.url
    login_form(page)
    wrong_password = page.locator("[role=alert]").inner_text().strip()
    assert wrong_password
    assert PASSWORD not in page.content()
    screenshot(page, "login-error")

    submit_login(page, "nobody-" + USERNAME, PASSWORD)
    assert is_signet(page.url), page.url
    login_form(page)
    assert page.locator("[role=alert]").inner_text().strip() == wrong_password

    # The refused attempts sent nothing to the application.
    assert callbacks.paths[before:] == []


# --- authorization code + PKCE --------------------------------------------------------


def test_code_flow_with_pkce_issues_a_verifiable_id_token(page, context, metadata):
    application = web_app(metadata)
    recorder = Recorder(page)
    page.goto(application.authorization_url())
    assert shows_login_form(page), page.url
    names_before = {c["name"] for c in context.cookies(ISSUER)}

    submit_login(page)
    params = at_callback(page, WEB_CALLBACK)
    assert_code_response(params, application)
    token = application.fetch_token(page.url)

    assert token["token_type"].lower() == "bearer"
    assert token["refresh_token"]
    assert set(token["scope"].split()) == set(FULL_SCOPE.split())
    claims = verify_id_token(metadata, token, application)
    access = verify_access_token(metadata, token["access_token"])
    assert claims["sub"] == access["sub"] == USER_ID
    assert access["client_id"] == WEB_CLIENT_ID
    assert claims["email"] == USER_EMAIL
    assert "email_verified" in claims
    assert claims["preferred_username"] == USERNAME

    userinfo = requests.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == claims["sub"]

    # The browser session: a cookie the sign-in added, HttpOnly, SameSite=Lax, Path=/, not
    # Secure (http issuer).
    session_cookies = [c for c in context.cookies(ISSUER) if c["name"] not in names_before]
    assert session_cookies, context.cookies(ISSUER)
    for cookie in session_cookies:
        assert cookie["httpOnly"] is True, cookie
        assert cookie["sameSite"] == "Lax", cookie
        assert cookie["path"] == "/", cookie
        assert cookie["secure"] is False, cookie
        assert cookie["domain"] == "127.0.0.1", cookie  # host-only
        assert USERNAME not in cookie["value"] and PASSWORD not in cookie["value"], cookie
    # The attributes as sent (the browser's cookie jar fills in a default SameSite).
    names = {c["name"] for c in session_cookies}
    sent = [
        header
        for response in recorder.signet_responses
        for header in response.header_values("set-cookie")
        if header.split("=", 1)[0].strip() in names
    ]
    assert sent, [(r.request.method, r.status, r.header_values("set-cookie")) for r in recorder.signet_responses]
    for header in sent:
        attributes = [part.strip().lower() for part in header.split(";")[1:]]
        assert "httponly" in attributes, header
        assert "samesite=lax" in attributes, header
        assert "path=/" in attributes, header
        assert "secure" not in attributes, header


def test_a_code_works_once_and_its_reuse_revokes_what_it_issued(page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_login(page)
    params = at_callback(page, WEB_CALLBACK)
    assert_code_response(params, application)
    first = application.fetch_token(page.url)

    again = post_token(
        metadata,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": WEB_CALLBACK,
            "code_verifier": application.verifier,
        },
        auth=(WEB_CLIENT_ID, WEB_CLIENT_SECRET),
    )
    assert again.status_code == 400, again.text
    assert again.json()["error"] == "invalid_grant", again.text
    assert_refresh_refused(metadata, first["refresh_token"], WEB_CLIENT_ID, WEB_CLIENT_SECRET)


@pytest.mark.parametrize(
    "client_id, redirect_uri",
    [
        ("no-such-client", WEB_CALLBACK),
        (WEB_CLIENT_ID, UNREGISTERED),
        (WEB_CLIENT_ID, WEB_CALLBACK + "/"),  # matched byte for byte
        (WEB_CLIENT_ID, OTHER_CALLBACK),  # another client's
    ],
    ids=["unknown-client", "unregistered-uri", "trailing-slash", "other-clients-uri"],
)
def test_errors_that_must_not_be_redirected_are_a_400_page(page, metadata, callbacks, client_id, redirect_uri):
    before = len(callbacks.paths)
    url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
    )
    response = page.goto(url)
    assert response.status == 400, (response.status, page.url)
    assert response.headers.get("content-type", "").startswith("text/html"), response.headers
    assert is_signet(page.url), page.url
    assert response.request.redirected_from is None
    assert callbacks.paths[before:] == []
    if client_id != WEB_CLIENT_ID:
        screenshot(page, "error")


# --- single sign-on, prompt ---------------------------------------------------------


def test_a_second_application_signs_in_without_the_login_page(page, metadata):
    web = web_app(metadata)
    _, web_token = sign_in(page, web)
    web_claims = verify_id_token(metadata, web_token, web)

    other = Application(metadata, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_CALLBACK, "openid")
    recorder = Recorder(page)
    page.goto(other.authorization_url())
    params = at_callback(page, OTHER_CALLBACK)
    assert_code_response(params, other)
    recorder.assert_passed_straight_through()

    token = other.fetch_token(page.url)
    claims = verify_id_token(metadata, token, other)
    assert claims["sub"] == web_claims["sub"] == USER_ID
    assert claims["sid"] == web_claims["sid"]  # one browser session
    assert claims["auth_time"] == web_claims["auth_time"]  # no new authentication
    # Only openid was asked for: no profile or e-mail claims.
    for name in ("email", "email_verified", "preferred_username"):
        assert name not in claims, claims

    # prompt=none with a session: a code, still without a page.
    silent = Application(metadata, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_CALLBACK, "openid")
    recorder = Recorder(page)
    page.goto(silent.authorization_url(prompt="none"))
    assert_code_response(at_callback(page, OTHER_CALLBACK), silent)
    recorder.assert_passed_straight_through()
    assert verify_id_token(metadata, silent.fetch_token(page.url), silent)["sid"] == web_claims["sid"]


def test_prompt_login_shows_the_login_page_despite_a_session(page, metadata):
    sign_in(page, web_app(metadata))
    application = web_app(metadata)
    page.goto(application.authorization_url(prompt="login"))
    assert shows_login_form(page), page.url
    submit_login(page)
    assert_code_response(at_callback(page, WEB_CALLBACK), application)
    verify_id_token(metadata, application.fetch_token(page.url), application)


def test_prompt_none_without_a_session_answers_login_required(page, metadata):
    application = web_app(metadata)
    recorder = Recorder(page)
    page.goto(application.authorization_url(prompt="none"))
    params = at_callback(page, WEB_CALLBACK)
    assert_error_response(params, "login_required", application.state)
    recorder.assert_passed_straight_through()


# --- consent ---------------------------------------------------------------------------


def test_consent_is_asked_remembered_and_asked_again_for_more(page, metadata):
    # 1. Sign in, then deny.
    first = third_party(metadata, "openid profile")
    page.goto(first.authorization_url())
    assert shows_login_form(page), page.url
    submit_login(page)
    assert_consent_page(page, THIRD_CLIENT_NAME, "openid profile")
    screenshot(page, "consent")
    _, deny = consent_buttons(page)
    click(page, deny)
    assert_error_response(at_callback(page, THIRD_CALLBACK), "access_denied", first.state)

    # 2. Ask again: the session holds, the consent page comes back; allow.
    second = third_party(metadata, "openid profile")
    page.goto(second.authorization_url())
    assert_consent_page(page, THIRD_CLIENT_NAME, "openid profile")
    allow, _ = consent_buttons(page)
    click(page, allow)
    assert_code_response(at_callback(page, THIRD_CALLBACK), second)
    token = second.fetch_token(page.url)
    claims = verify_id_token(metadata, token, second)
    assert claims["sub"] == USER_ID
    assert "email" not in claims, claims

    # 3. The same scopes again: remembered, no page.
    third = third_party(metadata, "openid profile")
    recorder = Recorder(page)
    page.goto(third.authorization_url())
    assert_code_response(at_callback(page, THIRD_CALLBACK), third)
    recorder.assert_passed_straight_through()
    third.fetch_token(page.url)

    # 4. One more scope: asked again.
    fourth = third_party(metadata, FULL_SCOPE)
    page.goto(fourth.authorization_url())
    assert_consent_page(page, THIRD_CLIENT_NAME, FULL_SCOPE)
    allow, _ = consent_buttons(page)
    click(page, allow)
    assert_code_response(at_callback(page, THIRD_CALLBACK), fourth)
    fourth_token = fourth.fetch_token(page.url)
    assert verify_id_token(metadata, fourth_token, fourth)["email"] == USER_EMAIL

    # 5. The admin sees the remembered consent and withdraws it: the client's refresh
    #    tokens for the user end and the next sign-in asks again.
    headers = admin_headers(metadata)
    listed = requests.get(f"{ADMIN_URL}/admin/users/{USER_ID}/consents", headers=headers, timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    consents = [c for c in listed.json()["consents"] if c["client_id"] == THIRD_CLIENT_ID]
    assert len(consents) == 1, listed.text
    assert set(FULL_SCOPE.split()) <= set(consents[0]["scope"].split()), consents
    assert consents[0]["granted_at"], consents
    withdrawn = requests.delete(
        f"{ADMIN_URL}/admin/users/{USER_ID}/consents/{THIRD_CLIENT_ID}", headers=headers, timeout=TIMEOUT
    )
    assert withdrawn.status_code in (200, 204), (withdrawn.status_code, withdrawn.text)
    assert_refresh_refused(metadata, fourth_token["refresh_token"], THIRD_CLIENT_ID, THIRD_CLIENT_SECRET)
    fifth = third_party(metadata, "openid profile")
    page.goto(fifth.authorization_url())
    assert_consent_page(page, THIRD_CLIENT_NAME, "openid profile")


def test_a_hostile_client_name_is_shown_as_text(page, metadata, callbacks):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    application = Application(metadata, HOSTILE_CLIENT_ID, None, HOSTILE_CALLBACK)
    page.goto(application.authorization_url())
    assert shows_login_form(page), page.url
    response = submit_login(page)
    assert_consent_page(page, HOSTILE_CLIENT_NAME, FULL_SCOPE)
    html = response.text()
    assert "&lt;script&gt;" in html, html
    assert HOSTILE_CLIENT_NAME not in html, html
    page.wait_for_timeout(300)
    assert dialogs == []
    _, deny = consent_buttons(page)
    click(page, deny)
    assert_error_response(at_callback(page, HOSTILE_CALLBACK), "access_denied", application.state)
    assert dialogs == []


# --- public client ---------------------------------------------------------------------


def test_a_public_client_must_use_pkce(page, metadata):
    state = secrets.token_urlsafe(16)
    url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": SPA_CLIENT_ID,
            "redirect_uri": SPA_CALLBACK,
            "scope": "openid",
            "state": state,
            "nonce": "n",
        }
    )
    page.goto(url)
    assert_error_response(at_callback(page, SPA_CALLBACK), "invalid_request", state)


def test_a_public_client_signs_in_with_pkce_and_no_secret(page, metadata):
    spa = Application(metadata, SPA_CLIENT_ID, None, SPA_CALLBACK, "openid profile")
    page.goto(spa.authorization_url())
    assert shows_login_form(page), page.url
    submit_login(page)
    # spa is not first-party (no skip_consent): it names itself by its id.
    assert_consent_page(page, SPA_CLIENT_ID, "openid profile")
    allow, _ = consent_buttons(page)
    click(page, allow)
    params = at_callback(page, SPA_CALLBACK)
    assert_code_response(params, spa)

    # A code verifier that does not match the challenge is refused.
    wrong = post_token(
        metadata,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": SPA_CALLBACK,
            "client_id": SPA_CLIENT_ID,
            "code_verifier": secrets.token_urlsafe(48),
        },
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"] == "invalid_grant", wrong.text

    # A new code (the session holds: no login page) with the right verifier, no secret.
    page.goto(spa.authorization_url())
    assert_code_response(at_callback(page, SPA_CALLBACK), spa)
    token = spa.fetch_token(page.url)
    claims = verify_id_token(metadata, token, spa)
    assert claims["sub"] == USER_ID
    assert verify_access_token(metadata, token["access_token"])["client_id"] == SPA_CLIENT_ID
    assert "refresh_token" not in token, token  # spa has no refresh_token grant


# --- logout -----------------------------------------------------------------------------


def logout_url(metadata, **params):
    return metadata["end_session_endpoint"] + ("?" + urllib.parse.urlencode(params) if params else "")


def test_rp_initiated_logout_with_an_id_token_hint_returns_to_the_application(page, metadata):
    _, token = sign_in(page, web_app(metadata))
    refreshed = assert_refresh_works(metadata, token["refresh_token"], WEB_CLIENT_ID, WEB_CLIENT_SECRET)

    state = secrets.token_urlsafe(12)
    page.goto(
        logout_url(
            metadata, id_token_hint=token["id_token"], post_logout_redirect_uri=WEB_BYE, state=state
        )
    )
    wait_for(page, lambda url: url.startswith(WEB_BYE + "?"), WEB_BYE)
    assert query(page.url).get("state") == state, page.url

    # The session's refresh token (as rotated) is refused; the next sign-in shows the login page.
    assert_refresh_refused(metadata, refreshed["refresh_token"], WEB_CLIENT_ID, WEB_CLIENT_SECRET)
    page.goto(web_app(metadata).authorization_url())
    assert shows_login_form(page), page.url


def test_logout_without_a_hint_asks_for_confirmation(page, metadata):
    _, token = sign_in(page, web_app(metadata))
    page.goto(logout_url(metadata))
    assert is_signet(page.url), page.url
    button = page.locator("button[name=decision][value=logout]")
    assert button.count() == 1, page.content()
    screenshot(page, "logout-confirmation")

    click(page, button)
    assert is_signet(page.url), page.url
    assert "signed out" in page.locator("body").inner_text().lower(), page.content()
    screenshot(page, "signed-out")

    assert_refresh_refused(metadata, token["refresh_token"], WEB_CLIENT_ID, WEB_CLIENT_SECRET)
    page.goto(web_app(metadata).authorization_url())
    assert shows_login_form(page), page.url


@pytest.mark.parametrize(
    "with_hint, target",
    [(True, UNREGISTERED), (False, UNREGISTERED), (True, OTHER_BYE)],
    ids=["hint-unregistered", "client-id-unregistered", "hint-other-clients-uri"],
)
def test_logout_never_redirects_to_an_unregistered_uri(page, metadata, callbacks, with_hint, target):
    _, token = sign_in(page, web_app(metadata))
    params = {"post_logout_redirect_uri": target, "state": "s"}
    if with_hint:
        params["id_token_hint"] = token["id_token"]
    else:
        params["client_id"] = WEB_CLIENT_ID
    before = len(callbacks.paths)
    page.goto(logout_url(metadata, **params))
    assert is_signet(page.url), page.url
    # Should the page still offer to sign out, doing so must not go there either.
    button = page.locator("button[name=decision][value=logout]")
    if button.count() == 1:
        click(page, button)
        page.wait_for_load_state()
    assert is_signet(page.url), page.url
    target_path = urllib.parse.urlsplit(target).path
    assert target_path not in callbacks.paths[before:], callbacks.paths[before:]
