"""What the browser suites share: settings, the browser, and the login page.

Run through scripts/browser.sh, which starts a server, registers the clients and
passes the settings named in test_browser.py and test_mod_auth_openidc.py.
"""

import os
import pathlib

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

# Playwright's own waits, in milliseconds: every page here is local.
TIMEOUT_MS = 10_000
NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 800}


def setting(name, default=None):
    value = os.environ.get(name, default)
    if not value:
        pytest.fail(f"{name} is not set; run the suite through scripts/browser.sh")
    return value


ISSUER = setting("SIGNET_URL").rstrip("/")
USERNAME = setting("BROWSER_USERNAME")
PASSWORD = setting("BROWSER_PASSWORD")
USER_ID = setting("BROWSER_USER_ID")
CHROMIUM = setting("BROWSER_CHROMIUM", "/usr/lib/chromium/chromium")
SCREENSHOT_DIR = pathlib.Path(setting("BROWSER_SCREENSHOT_DIR"))


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    """A browser profile of its own: no cookies from other tests."""
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context):
    return context.new_page()


def is_signet(url):
    return url == ISSUER or url.startswith(ISSUER + "/") or url.startswith(ISSUER + "?")


class Recorder:
    """What a page showed: the documents committed in its main frame and every response
    from Signet (redirect hops included)."""

    def __init__(self, page):
        self.page = page
        self.documents = []
        self.signet_responses = []
        page.on("framenavigated", self._navigated)
        page.on("response", self._response)

    def _navigated(self, frame):
        if frame == self.page.main_frame:
            self.documents.append(frame.url)

    def _response(self, response):
        if is_signet(response.url):
            self.signet_responses.append(response)

    def signet_documents(self):
        return [url for url in self.documents if is_signet(url)]

    def assert_passed_straight_through(self):
        """Signet answered only with redirects: no page of its own (login, consent) was shown."""
        assert self.signet_documents() == [], self.documents
        assert all(300 <= r.status < 400 for r in self.signet_responses), [
            (r.status, r.url) for r in self.signet_responses
        ]


def login_form(page):
    """The login form (form[method=post] holding the password field), checked against the
    contract: username and password fields with their autocomplete hints, one submit button."""
    form = page.locator("form[method=post]", has=page.locator("input[name=password]"))
    assert form.count() == 1, page.content()
    username = form.locator("input[name=username]")
    password = form.locator("input[name=password]")
    assert username.count() == 1 and password.count() == 1, page.content()
    assert username.get_attribute("autocomplete") == "username"
    assert password.get_attribute("autocomplete") == "current-password"
    assert password.get_attribute("type") == "password"
    assert form.locator("button[type=submit]").count() == 1, form.inner_html()
    return form


def shows_login_form(page):
    return is_signet(page.url) and page.locator("input[name=password]").count() > 0


def submit_login(page, username=USERNAME, password=PASSWORD):
    """Fills in and submits the login form; returns the response of the page that follows
    (after every redirect)."""
    form = login_form(page)
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation() as navigation:
        form.locator("button[type=submit]").click()
    return navigation.value


def wait_for(page, matches, expected, timeout_ms=5_000):
    """Waits until the page's URL satisfies matches(url); on time-out fails with what the
    browser shows instead (an error page's text, say), not just a time-out."""
    try:
        page.wait_for_url(matches, timeout=timeout_ms)
        return
    except PlaywrightTimeoutError:
        pass
    try:
        shown = page.locator("body").inner_text(timeout=1_000)
    except PlaywrightError as error:
        shown = f"(no text: {error})"
    pytest.fail(f"expected to reach {expected}; the browser is at {page.url} showing:\n{shown}")


def screenshot(page, name):
    """Full-page PNGs of the current page at a phone and a desktop width:
    <name>-narrow.png and <name>-wide.png in BROWSER_SCREENSHOT_DIR."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for label, size in (("narrow", NARROW), ("wide", WIDE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOT_DIR / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(WIDE)
