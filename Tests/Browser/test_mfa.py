"""The second factor (TOTP) of browser sign-in, seen by a real browser and a real
relying party.

Chromium (through Playwright) walks the enrolment page (its QR code read back with zbar,
codes computed with pyotp as an authenticator app would), the recovery codes page and the
verification page; authlib plays the application and joserfc checks the ID tokens (amr,
acr) as in test_browser.py. A TOTP step is good once per user (replay is refused), so each
test has users of its own and waits for the next 30-second step where it needs a second
code. Run through scripts/browser.sh, which starts a server and passes, beside the
settings of test_browser.py:

    BROWSER_MFA_PASSWORD          the password of every user below
    BROWSER_MFA_ENROL_USERNAME    a user (role "user") without TOTP
    BROWSER_MFA_ADMIN_USERNAME    a user with the role "admin" (mfa.required_roles) without TOTP
    BROWSER_MFA_STEPUP_USERNAME   a user without TOTP
    BROWSER_STEPUP_TOTP_USERNAME  a user without TOTP
    BROWSER_MFA_APP_USERNAME      a user without TOTP
    BROWSER_TOTP_USERNAME/_SECRET a user enrolled with `signet users enrol-totp`, and its
                                  Base32 secret
    BROWSER_RECOVERY_USERNAME/_CODES
                                  a user enrolled likewise, and its ten recovery codes
                                  (space-separated)
    BROWSER_RESET_USERNAME/_SECRET
                                  a user enrolled likewise, and its secret
    BROWSER_MFA_CLIENT_ID/_SECRET mfa-app: confidential, /mfa/callback, skip_consent,
                                  require_mfa
"""

import io
import re
import time
import urllib.parse

import pyotp
import pytest
import requests
from PIL import Image
from pyzbar import pyzbar

from conftest import (
    ISSUER,
    TIMEOUT_MS,
    WIDE,
    Recorder,
    is_signet,
    login_form,
    screenshot,
    setting,
    shows_login_form,
)
from test_browser import (  # noqa: F401 (callbacks and metadata are fixtures)
    ADMIN_CLIENT_ID,
    ADMIN_CLIENT_SECRET,
    ADMIN_URL,
    RP_URL,
    TIMEOUT,
    Application,
    admin_headers,
    assert_code_response,
    assert_error_response,
    at_callback,
    callbacks,
    click,
    metadata,
    post_token,
    verify_access_token,
    verify_id_token,
    web_app,
)

MFA_PASSWORD = setting("BROWSER_MFA_PASSWORD")
ENROL_USERNAME = setting("BROWSER_MFA_ENROL_USERNAME")
ADMIN_ROLE_USERNAME = setting("BROWSER_MFA_ADMIN_USERNAME")
STEPUP_USERNAME = setting("BROWSER_MFA_STEPUP_USERNAME")
STEPUP_TOTP_USERNAME = setting("BROWSER_STEPUP_TOTP_USERNAME")
MFA_APP_USERNAME = setting("BROWSER_MFA_APP_USERNAME")
TOTP_USERNAME = setting("BROWSER_TOTP_USERNAME")
TOTP_SECRET = setting("BROWSER_TOTP_SECRET")
RECOVERY_USERNAME = setting("BROWSER_RECOVERY_USERNAME")
RECOVERY_CODES = setting("BROWSER_RECOVERY_CODES").split()
RESET_USERNAME = setting("BROWSER_RESET_USERNAME")
RESET_SECRET = setting("BROWSER_RESET_SECRET")
MFA_CLIENT_ID = setting("BROWSER_MFA_CLIENT_ID")
MFA_CLIENT_SECRET = setting("BROWSER_MFA_CLIENT_SECRET")

MFA_CALLBACK = f"{RP_URL}/mfa/callback"
TOTP_AMR = ["pwd", "otp"]
RECOVERY_AMR = ["pwd", "mfa"]
RECOVERY_CODE = re.compile(r"^[a-z2-7]{5}-[a-z2-7]{5}$")
STEP_SECONDS = 30


# --- an authenticator app ---------------------------------------------------------------

# The last TOTP step spent per user: the server takes each step once.
spent_steps = {}


def fresh_code(username, secret):
    """The current code of secret, from a step username has not spent yet (waiting for the
    next 30-second step when needed), as an authenticator app shows it."""
    totp = pyotp.TOTP(secret)
    while True:
        now = time.time()
        step = int(now // STEP_SECONDS)
        if step > spent_steps.get(username, -1):
            spent_steps[username] = step
            return totp.at(step * STEP_SECONDS)
        time.sleep((step + 1) * STEP_SECONDS - now + 0.2)


def wrong_code(secret):
    """A six-digit code that is none of the codes around now (the server accepts one step
    either side)."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    near = {totp.at(now + offset * STEP_SECONDS) for offset in range(-2, 3)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)


def otpauth_uri(username, secret):
    """What the enrolment QR code must say: the issuer label is the issuer URL's host:port."""
    label = urllib.parse.quote(urllib.parse.urlsplit(ISSUER).netloc, safe="@")
    account = urllib.parse.quote(username, safe="@")
    return (
        f"otpauth://totp/{label}:{account}?secret={secret}&issuer={label}"
        "&algorithm=SHA1&digits=6&period=30"
    )


# --- the pages ---------------------------------------------------------------------------


@pytest.fixture
def new_page(browser):
    """Pages in browser profiles of their own (another device, no cookies shared)."""
    contexts = []

    def make():
        context = browser.new_context(viewport=WIDE)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


def submit_password(page, username, password=MFA_PASSWORD, add_second_factor=False):
    form = login_form(page)
    checkbox = form.locator("input[type=checkbox][name=add_second_factor]")
    assert checkbox.count() == 1, form.inner_html()
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    if add_second_factor:
        checkbox.check()
    return click(page, form.locator("button[type=submit]"))


def code_form(page):
    """The form of the enrolment or verification page: an otp field, one submit button."""
    form = page.locator("form[method=post]", has=page.locator("input[name=otp]"))
    assert form.count() == 1, (page.url, page.content())
    otp = form.locator("input[name=otp]")
    assert otp.get_attribute("autocomplete") == "one-time-code"
    assert form.locator("button[type=submit]").count() == 1, form.inner_html()
    return form


def assert_verification_page(page):
    assert is_signet(page.url), page.url
    assert not shows_login_form(page), page.content()
    assert page.locator("[data-totp-secret]").count() == 0, page.content()
    assert page.locator("figure.qr").count() == 0, page.content()
    form = code_form(page)
    assert form.locator("input[type=checkbox][name=new_recovery_codes]").count() == 1, form.inner_html()
    return form


def enrolment_secret(page):
    """Checks the enrolment page (QR code with an accessible name, the secret as text, the
    code form) and returns the secret, spaces taken out."""
    assert is_signet(page.url), page.url
    assert not shows_login_form(page), page.content()
    qr = page.locator("figure.qr svg")
    assert qr.count() == 1, page.content()
    assert qr.get_attribute("role") == "img"
    assert (qr.get_attribute("aria-label") or "").strip(), qr.evaluate("e => e.outerHTML.slice(0, 300)")
    secret_element = page.locator("[data-totp-secret]")
    assert secret_element.count() == 1, page.content()
    shown = secret_element.inner_text()
    secret = "".join(shown.split())
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), shown
    # Grouped by four for typing.
    assert shown.strip().split(" ") == [secret[i : i + 4] for i in range(0, len(secret), 4)], shown
    code_form(page)
    return secret


def read_qr(page):
    """The text of the enrolment page's QR code, as a camera would read it."""
    png = page.locator("figure.qr svg").screenshot()
    symbols = pyzbar.decode(Image.open(io.BytesIO(png)))
    assert len(symbols) == 1, symbols
    assert symbols[0].type == "QRCODE", symbols
    return symbols[0].data.decode("utf-8")


def submit_code(page, code, new_recovery_codes=False):
    form = code_form(page)
    form.locator("input[name=otp]").fill(code)
    if new_recovery_codes:
        form.locator("input[name=new_recovery_codes]").check()
    return click(page, form.locator("button[type=submit]"))


def refusal(page):
    """The message of a refused code: role=alert, visible, on the same form again."""
    alert = page.locator("[role=alert]")
    assert alert.count() == 1, page.content()
    assert alert.is_visible()
    text = alert.inner_text().strip()
    assert text, page.content()
    code_form(page)
    return text


def recovery_codes(page):
    """The ten codes of the recovery codes page."""
    assert is_signet(page.url), page.url
    codes = [element.inner_text().strip() for element in page.locator("[data-recovery-code]").all()]
    assert len(codes) == 10, page.content()
    assert len(set(codes)) == 10, codes
    for code in codes:
        assert RECOVERY_CODE.match(code), code
    return codes


def continue_after_codes(page):
    buttons = page.locator("form[method=post] button[type=submit]")
    assert buttons.count() == 1, page.content()
    return click(page, buttons)


def enrol(page, username):
    """On the enrolment page: scans the secret, types its code, reads the recovery codes and
    continues. Returns (secret, recovery codes)."""
    secret = enrolment_secret(page)
    submit_code(page, fresh_code(username, secret))
    codes = recovery_codes(page)
    continue_after_codes(page)
    return secret, codes


def finish(page, application, amr, acr):
    """The callback of a finished sign-in: exchanges the code, checks the ID token (amr,
    acr) and the access token's copy of them; returns (token response, ID token claims)."""
    params = at_callback(page, application.redirect_uri)
    assert_code_response(params, application)
    token = application.fetch_token(page.url)
    claims = verify_id_token(application.metadata, token, application, amr=amr, acr=acr)
    access = verify_access_token(application.metadata, token["access_token"])
    assert access["amr"] == list(amr), access
    assert access["acr"] == acr, access
    return token, claims


def admin_user(metadata, user_id):
    response = requests.get(f"{ADMIN_URL}/admin/users/{user_id}", headers=admin_headers(metadata), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def mfa_app(metadata):
    return Application(metadata, MFA_CLIENT_ID, MFA_CLIENT_SECRET, MFA_CALLBACK)


# --- discovery --------------------------------------------------------------------------


def test_discovery_lists_the_authentication_levels(metadata):
    assert {"1", "2"} <= set(metadata["acr_values_supported"]), metadata
    assert {"amr", "acr"} <= set(metadata["claims_supported"]), metadata


# --- enrolment ---------------------------------------------------------------------------


def test_a_user_sets_up_totp_from_the_login_page_with_the_qr_code(page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, ENROL_USERNAME, add_second_factor=True)

    secret = enrolment_secret(page)
    assert page.locator("[role=alert]").count() == 0
    # The QR code says what the text says, in the Key Uri Format authenticator apps read.
    scanned = read_qr(page)
    assert scanned == otpauth_uri(ENROL_USERNAME, secret), scanned
    assert pyotp.parse_uri(scanned).secret == secret
    screenshot(page, "enrolment")

    # A wrong code: refused, the same secret offered again.
    submit_code(page, wrong_code(secret))
    refusal(page)
    assert enrolment_secret(page) == secret
    assert read_qr(page) == scanned

    submit_code(page, fresh_code(ENROL_USERNAME, secret))
    codes = recovery_codes(page)
    screenshot(page, "recovery-codes")
    continue_after_codes(page)
    token, claims = finish(page, application, TOTP_AMR, "2")

    # Introspection tells the resource server the same.
    introspected = requests.post(
        metadata["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(application.client_id, application.session.client_secret),
        timeout=TIMEOUT,
    )
    assert introspected.status_code == 200, introspected.text
    body = introspected.json()
    assert body["active"] is True, body
    assert body["amr"] == TOTP_AMR and body["acr"] == "2", body

    # The admin sees TOTP and ten unused recovery codes.
    assert admin_user(metadata, claims["sub"])["mfa"] == {"totp": True, "recovery_codes_left": len(codes)}


def test_a_user_with_the_admin_role_must_set_up_totp_after_the_password(page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, ADMIN_ROLE_USERNAME)  # the box left unticked
    enrol(page, ADMIN_ROLE_USERNAME)
    finish(page, application, TOTP_AMR, "2")


def test_a_client_that_requires_mfa_takes_its_users_through_the_second_factor(page, metadata):
    application = mfa_app(metadata)
    page.goto(application.authorization_url())
    assert shows_login_form(page), page.url
    submit_password(page, MFA_APP_USERNAME)
    enrol(page, MFA_APP_USERNAME)
    _, claims = finish(page, application, TOTP_AMR, "2")

    # The session has two factors: another application signs in without a page, at acr 2.
    web = web_app(metadata)
    recorder = Recorder(page)
    page.goto(web.authorization_url(prompt="none"))
    _, web_claims = finish(page, web, TOTP_AMR, "2")
    recorder.assert_passed_straight_through()
    assert web_claims["sid"] == claims["sid"]


# --- verification ------------------------------------------------------------------------


def test_a_totp_code_signs_in_once_and_its_replay_is_refused(page, new_page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, TOTP_USERNAME)
    assert_verification_page(page)
    assert page.locator("[role=alert]").count() == 0
    screenshot(page, "second-factor")
    code = fresh_code(TOTP_USERNAME, TOTP_SECRET)
    submit_code(page, code)
    finish(page, application, TOTP_AMR, "2")

    # The same code on another device: refused, the code page shown again.
    other = new_page()
    again = web_app(metadata)
    other.goto(again.authorization_url())
    submit_password(other, TOTP_USERNAME)
    assert_verification_page(other)
    submit_code(other, code)
    refusal(other)
    assert not other.url.startswith(RP_URL), other.url
    screenshot(other, "second-factor-error")

    # The next code works, and asks for new recovery codes on the way.
    submit_code(other, fresh_code(TOTP_USERNAME, TOTP_SECRET), new_recovery_codes=True)
    recovery_codes(other)
    continue_after_codes(other)
    finish(other, again, TOTP_AMR, "2")


def test_a_recovery_code_signs_in_once(page, new_page, metadata):
    first_code, second_code, grant_code = RECOVERY_CODES[:3]
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, RECOVERY_USERNAME)
    assert_verification_page(page)
    submit_code(page, first_code)
    _, claims = finish(page, application, RECOVERY_AMR, "2")
    assert "mfa" in claims["amr"]

    other = new_page()
    again = web_app(metadata)
    other.goto(again.authorization_url())
    submit_password(other, RECOVERY_USERNAME)
    submit_code(other, first_code)
    refusal(other)
    submit_code(other, second_code.upper())  # as typed from a printout
    finish(other, again, RECOVERY_AMR, "2")

    # The password grant wants the second factor too, as `totp`.
    def password_grant(**extra):
        return post_token(
            metadata,
            {"grant_type": "password", "username": RECOVERY_USERNAME, "password": MFA_PASSWORD, "scope": "openid", **extra},
            auth=(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
        )

    missing = password_grant()
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"] == "invalid_grant", missing.text
    assert "second factor" in missing.json().get("error_description", ""), missing.text
    granted = password_grant(totp=grant_code)
    assert granted.status_code == 200, granted.text
    access = verify_access_token(metadata, granted.json()["access_token"])
    assert access["amr"] == RECOVERY_AMR and access["acr"] == "2", access
    spent = password_grant(totp=grant_code)
    assert spent.status_code == 400, spent.text
    assert spent.json()["error"] == "invalid_grant", spent.text

    assert admin_user(metadata, claims["sub"])["mfa"] == {"totp": True, "recovery_codes_left": 7}


# --- step-up -----------------------------------------------------------------------------


def test_step_up_with_acr_values_sets_up_totp_without_the_password_page(page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, STEPUP_USERNAME)
    _, first = finish(page, application, ["pwd"], "1")

    # A password-only session cannot silently reach an application that requires MFA.
    silent = mfa_app(metadata)
    page.goto(silent.authorization_url(prompt="none"))
    assert_error_response(at_callback(page, MFA_CALLBACK), "interaction_required", silent.state)

    # acr_values=2: the enrolment page straight away, no password asked again.
    stepped = web_app(metadata)
    page.goto(stepped.authorization_url(acr_values="2"))
    assert not shows_login_form(page), page.url
    enrol(page, STEPUP_USERNAME)
    _, claims = finish(page, stepped, TOTP_AMR, "2")
    assert claims["sub"] == first["sub"]
    assert claims["sid"] == first["sid"]  # the same session, raised

    # Raised for every application: the one requiring MFA lets it in without a page.
    raised = mfa_app(metadata)
    recorder = Recorder(page)
    page.goto(raised.authorization_url(prompt="none"))
    finish(page, raised, TOTP_AMR, "2")
    recorder.assert_passed_straight_through()


def test_step_up_with_acr_values_asks_for_the_code_of_a_user_with_totp(page, new_page, metadata):
    # Signed in with the password before the user had TOTP...
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, STEPUP_TOTP_USERNAME)
    _, first = finish(page, application, ["pwd"], "1")

    # ...which the user then sets up on another device.
    other = new_page()
    elsewhere = web_app(metadata)
    other.goto(elsewhere.authorization_url())
    submit_password(other, STEPUP_TOTP_USERNAME, add_second_factor=True)
    secret, _ = enrol(other, STEPUP_TOTP_USERNAME)
    finish(other, elsewhere, TOTP_AMR, "2")

    # Back on the first browser: acr_values=2 asks for the code only.
    stepped = web_app(metadata)
    page.goto(stepped.authorization_url(acr_values="2"))
    if shows_login_form(page):
        pytest.fail("the password-only session ended when TOTP was set up elsewhere: no step-up to test")
    assert_verification_page(page)
    submit_code(page, fresh_code(STEPUP_TOTP_USERNAME, secret))
    _, claims = finish(page, stepped, TOTP_AMR, "2")
    assert claims["sid"] == first["sid"]


# --- reset -------------------------------------------------------------------------------


def test_an_admin_reset_removes_totp_and_ends_the_sessions(page, metadata):
    application = web_app(metadata)
    page.goto(application.authorization_url())
    submit_password(page, RESET_USERNAME)
    assert_verification_page(page)
    submit_code(page, fresh_code(RESET_USERNAME, RESET_SECRET))
    token, claims = finish(page, application, TOTP_AMR, "2")
    user_id = claims["sub"]

    headers = admin_headers(metadata)
    reset = requests.delete(f"{ADMIN_URL}/admin/users/{user_id}/mfa", headers=headers, timeout=TIMEOUT)
    assert reset.status_code == 204, (reset.status_code, reset.text)
    read = requests.get(f"{ADMIN_URL}/admin/users/{user_id}", headers=headers, timeout=TIMEOUT)
    assert read.status_code == 200, read.text
    assert read.json()["mfa"] == {"totp": False, "recovery_codes_left": 0}, read.text

    # The browser session ended with it: the password page again, and then no second step.
    refreshed = post_token(
        metadata,
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(application.client_id, application.session.client_secret),
    )
    assert refreshed.status_code == 400, refreshed.text
    after = web_app(metadata)
    page.goto(after.authorization_url())
    assert shows_login_form(page), page.url
    submit_password(page, RESET_USERNAME)
    finish(page, after, ["pwd"], "1")
