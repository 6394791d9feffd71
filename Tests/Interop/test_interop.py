"""Interoperability tests: Signet seen by a third-party gateway or application.

Everything here uses only standard OAuth 2 / OIDC / JOSE client libraries
(authlib, PyJWT, requests) and the published metadata; nothing knows how
Signet works inside. Run through scripts/interop.sh, which starts a server and
passes these settings:

    SIGNET_URL                   the issuer / public base URL
    INTEROP_AUDIENCE             the audience of the clients' access tokens
    INTEROP_CLIENT_ID/_SECRET    confidential client, client_secret_basic,
                                 grants password, refresh_token,
                                 client_credentials
    INTEROP_POST_CLIENT_ID/_SECRET
                                 confidential client, client_secret_post
    INTEROP_PUBLIC_CLIENT_ID     public client (auth method none)
    INTEROP_USERNAME/_PASSWORD   a user holding the role "user"
    SIGNET_ADMIN_URL             base URL of the admin listener
    INTEROP_ADMIN_USERNAME/_PASSWORD
                                 a user holding the role "admin"
    INTEROP_ADMIN_AUDIENCE       the admin audience (setting admin.audience): the
                                 admin listener accepts only access tokens for it
    INTEROP_ADMIN_CLIENT_ID/_SECRET
                                 confidential client, client_secret_basic, grants
                                 password, refresh_token, scopes openid profile,
                                 registered with the admin audience (admin-cli)
    SIGNET_BIN                   the signet executable (for key rotation), run
                                 with the environment of this process
    INTEROP_ROTATION_PICKUP_SECONDS
                                 how long the server may take to sign with a key
                                 rotated from the command line (default 35)

The server runs with a refresh-token reuse grace period of 0 seconds.
"""

import datetime
import os
import pathlib
import secrets
import subprocess
import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256"]
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
SCOPE = "openid profile api"
# The scopes of the admin-audience client.
ADMIN_SCOPE = "openid profile"
TIMEOUT = 10
# How long a running server may take to sign with a key rotated by another process.
ROTATION_PICKUP_SECONDS = float(os.environ.get("INTEROP_ROTATION_PICKUP_SECONDS", "35"))
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def setting(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the suite through scripts/interop.sh")
    return value


ISSUER = setting("SIGNET_URL").rstrip("/")
AUDIENCE = setting("INTEROP_AUDIENCE")
CLIENT_ID = setting("INTEROP_CLIENT_ID")
CLIENT_SECRET = setting("INTEROP_CLIENT_SECRET")
POST_CLIENT_ID = setting("INTEROP_POST_CLIENT_ID")
POST_CLIENT_SECRET = setting("INTEROP_POST_CLIENT_SECRET")
PUBLIC_CLIENT_ID = setting("INTEROP_PUBLIC_CLIENT_ID")
USERNAME = setting("INTEROP_USERNAME")
PASSWORD = setting("INTEROP_PASSWORD")
ADMIN_URL = setting("SIGNET_ADMIN_URL").rstrip("/")
ADMIN_USERNAME = setting("INTEROP_ADMIN_USERNAME")
ADMIN_PASSWORD = setting("INTEROP_ADMIN_PASSWORD")
ADMIN_AUDIENCE = setting("INTEROP_ADMIN_AUDIENCE")
ADMIN_CLIENT_ID = setting("INTEROP_ADMIN_CLIENT_ID")
ADMIN_CLIENT_SECRET = setting("INTEROP_ADMIN_CLIENT_SECRET")
# Claims a live access token's introspection answer repeats from the token.
INTROSPECTED_CLAIMS = [
    "sub", "client_id", "scope", "exp", "iat", "nbf", "jti", "iss", "aud", "sid", "roles",
    "auth_time",
]


# --- helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def metadata():
    response = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def token_endpoint(metadata):
    return metadata["token_endpoint"]


@pytest.fixture(scope="module")
def jwks_uri(metadata):
    return metadata["jwks_uri"]


@pytest.fixture(scope="module")
def revocation_endpoint(metadata):
    return metadata["revocation_endpoint"]


@pytest.fixture(scope="module")
def introspection_endpoint(metadata):
    return metadata["introspection_endpoint"]


@pytest.fixture(scope="module")
def userinfo_endpoint(metadata):
    return metadata["userinfo_endpoint"]


def basic_session(scope=SCOPE, client_id=CLIENT_ID, client_secret=CLIENT_SECRET):
    return OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_basic",
        scope=scope,
    )


def password_login(
    token_endpoint,
    username=USERNAME,
    password=PASSWORD,
    scope=SCOPE,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    **extra,
):
    """Log in as a user (the test user by default) through authlib's password grant,
    with a client_secret_basic client (the gateway client by default); `extra`
    parameters (such as `totp`) go along."""
    session = basic_session(scope=scope, client_id=client_id, client_secret=client_secret)
    token = session.fetch_token(
        token_endpoint, username=username, password=password, grant_type="password", **extra
    )
    return session, token


# The admin role requires a second factor: each admin login spends one recovery code
# (the codes of `signet users enrol-totp`), sent as `totp` beside the password.
ADMIN_RECOVERY_CODES = setting("INTEROP_ADMIN_RECOVERY_CODES").split()


def admin_login(token_endpoint, username=ADMIN_USERNAME, password=ADMIN_PASSWORD):
    """Log in (the admin by default, with a recovery code) through the admin-audience
    client, the only kind of client whose access tokens the admin listener accepts."""
    extra = {"totp": ADMIN_RECOVERY_CODES.pop(0)} if username == ADMIN_USERNAME else {}
    return password_login(
        token_endpoint,
        username,
        password,
        scope=ADMIN_SCOPE,
        client_id=ADMIN_CLIENT_ID,
        client_secret=ADMIN_CLIENT_SECRET,
        **extra,
    )


def introspect(introspection_endpoint, token, token_type_hint=None):
    """Ask for a token's status the way a resource server does (RFC 7662, client_secret_basic)."""
    response = basic_session().introspect_token(
        introspection_endpoint, token=token, token_type_hint=token_type_hint, timeout=TIMEOUT
    )
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    return response.json()


def as_list(value):
    return value if isinstance(value, list) else [value]


def parse_time(value):
    """An RFC 3339 timestamp as an aware datetime."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    return parsed


def assert_not_cacheable(response):
    assert "no-store" in response.headers.get("Cache-Control", "").lower(), response.headers


def verify_access_token(token, jwks_uri, jwks_client=None, audience=AUDIENCE):
    """Validate an access token exactly as an API gateway (or the admin API) does."""
    client = jwks_client or jwt.PyJWKClient(jwks_uri)
    signing_key = client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=ALGORITHMS,
        audience=audience,
        issuer=ISSUER,
        options={"require": REQUIRED_CLAIMS},
    )


def post_token(token_endpoint, data, auth=None):
    return requests.post(token_endpoint, data=data, auth=auth, timeout=TIMEOUT)


def assert_oauth_error(response, status, error):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    assert response.json()["error"] == error, response.text


# --- discovery --------------------------------------------------------------


def test_discovery_document_describes_this_issuer(metadata):
    assert metadata["issuer"] == ISSUER
    for name in (
        "token_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
    ):
        url = metadata[name]
        assert url.startswith(("http://", "https://")), (name, url)
        assert url.startswith(ISSUER + "/"), (name, url)
    assert {"password", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    for name in (
        "response_types_supported",
        "scopes_supported",
        "id_token_signing_alg_values_supported",
        "subject_types_supported",
    ):
        assert isinstance(metadata[name], list), name


def test_oauth_authorization_server_metadata_is_the_same_document(metadata):
    response = requests.get(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json() == metadata


# --- password grant ---------------------------------------------------------


def test_password_login_issues_an_rfc9068_access_token_a_gateway_accepts(token_endpoint, jwks_uri):
    _, token = password_login(token_endpoint)

    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
    assert token["refresh_token"]

    access_token = token["access_token"]
    header = jwt.get_unverified_header(access_token)
    assert header["typ"] == "at+jwt"
    assert header.get("kid")
    assert header["alg"] in ALGORITHMS

    claims = verify_access_token(access_token, jwks_uri)
    assert claims["client_id"] == CLIENT_ID
    assert isinstance(claims["scope"], str)
    assert set(claims["scope"].split()) == set(SCOPE.split())
    assert claims["sid"]
    assert isinstance(claims["roles"], list) and "user" in claims["roles"]
    assert isinstance(claims["auth_time"], int)
    assert claims["auth_time"] <= claims["iat"]
    assert claims["sub"] != CLIENT_ID


def test_token_responses_are_not_cacheable(token_endpoint):
    response = post_token(
        token_endpoint,
        {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "scope": SCOPE},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers.get("Cache-Control", "").lower()
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["refresh_token"]


def test_client_secret_post_client_logs_in_with_credentials_in_the_body(token_endpoint, jwks_uri):
    response = post_token(
        token_endpoint,
        {
            "grant_type": "password",
            "username": USERNAME,
            "password": PASSWORD,
            "client_id": POST_CLIENT_ID,
            "client_secret": POST_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"]
    claims = verify_access_token(body["access_token"], jwks_uri)
    assert claims["client_id"] == POST_CLIENT_ID


def test_public_client_logs_in_with_only_its_client_id(token_endpoint, jwks_uri):
    response = post_token(
        token_endpoint,
        {
            "grant_type": "password",
            "username": USERNAME,
            "password": PASSWORD,
            "client_id": PUBLIC_CLIENT_ID,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"]
    claims = verify_access_token(body["access_token"], jwks_uri)
    assert claims["client_id"] == PUBLIC_CLIENT_ID


def test_wrong_client_secret_is_rejected_as_invalid_client(token_endpoint):
    response = post_token(
        token_endpoint,
        {"grant_type": "password", "username": USERNAME, "password": PASSWORD},
        auth=(CLIENT_ID, CLIENT_SECRET + "x"),
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers.get("WWW-Authenticate")


def test_authlib_reports_a_wrong_password_as_invalid_grant(token_endpoint):
    with pytest.raises(OAuthError) as failure:
        basic_session().fetch_token(
            token_endpoint, username=USERNAME, password=PASSWORD + "x", grant_type="password"
        )
    assert failure.value.error == "invalid_grant"


def test_wrong_password_and_unknown_user_get_identical_answers(token_endpoint):
    wrong_password = post_token(
        token_endpoint,
        {"grant_type": "password", "username": USERNAME, "password": PASSWORD + "x"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    unknown_user = post_token(
        token_endpoint,
        {"grant_type": "password", "username": "nobody-" + USERNAME, "password": PASSWORD},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert_oauth_error(wrong_password, 400, "invalid_grant")
    assert_oauth_error(unknown_user, 400, "invalid_grant")
    assert wrong_password.content == unknown_user.content


# --- refresh ----------------------------------------------------------------


def test_refresh_rotates_the_refresh_token_within_the_same_session(token_endpoint, jwks_uri):
    session, first = password_login(token_endpoint)
    first_claims = verify_access_token(first["access_token"], jwks_uri)

    second = session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])

    assert second["refresh_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    second_claims = verify_access_token(second["access_token"], jwks_uri)
    assert second_claims["sid"] == first_claims["sid"]
    assert second_claims["sub"] == first_claims["sub"]
    assert second_claims["jti"] != first_claims["jti"]


def test_reusing_a_spent_refresh_token_revokes_the_whole_session(token_endpoint):
    session, first = password_login(token_endpoint)
    second = session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]

    reuse = post_token(
        token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert_oauth_error(reuse, 400, "invalid_grant")

    newest = post_token(
        token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert_oauth_error(newest, 400, "invalid_grant")


def test_authlib_reports_a_refresh_of_a_revoked_session_as_invalid_grant(token_endpoint):
    session, first = password_login(token_endpoint)
    session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    with pytest.raises(OAuthError) as failure:
        basic_session().refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert failure.value.error == "invalid_grant"


# --- client credentials -----------------------------------------------------


def test_client_credentials_token_is_issued_to_the_client_itself(token_endpoint, jwks_uri):
    # A machine-to-machine call asks for the API scope only (no user, no openid).
    session = basic_session(scope="api")
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")

    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    header = jwt.get_unverified_header(token["access_token"])
    assert header["typ"] == "at+jwt"
    claims = verify_access_token(token["access_token"], jwks_uri)
    assert claims["sub"] == CLIENT_ID
    assert claims["client_id"] == CLIENT_ID
    assert claims["scope"].split() == ["api"]


# --- JWKS -------------------------------------------------------------------


def test_jwks_publishes_only_public_signing_keys(jwks_uri):
    response = requests.get(jwks_uri, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        for member in ("kty", "kid", "alg"):
            assert key.get(member), (member, key)
        assert key.get("use") == "sig", key
        leaked = [member for member in PRIVATE_JWK_MEMBERS if member in key]
        assert not leaked, (leaked, key["kid"])
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids)), kids


def test_jwks_is_cacheable_and_revalidates_with_its_etag(jwks_uri):
    response = requests.get(jwks_uri, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert "max-age" in response.headers.get("Cache-Control", "").lower(), response.headers
    etag = response.headers.get("ETag")
    assert etag, response.headers

    revalidated = requests.get(jwks_uri, headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert revalidated.status_code == 304, (revalidated.status_code, revalidated.text)
    assert not revalidated.content


# --- key rotation -----------------------------------------------------------


def test_key_rotation_keeps_earlier_tokens_verifiable(token_endpoint, jwks_uri):
    _, before = password_login(token_endpoint)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    verify_access_token(before["access_token"], jwks_uri)

    rotation = subprocess.run(
        [os.environ["SIGNET_BIN"], "keys", "rotate", "--force"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotation.returncode == 0, rotation.stderr or rotation.stdout

    fresh_client = jwt.PyJWKClient(jwks_uri)
    verify_access_token(before["access_token"], jwks_uri, jwks_client=fresh_client)

    # The rotation was made by another process; a server picks it up on its
    # next key reload, so new logins switch to the new key within a bound.
    deadline = time.monotonic() + ROTATION_PICKUP_SECONDS
    while True:
        _, after = password_login(token_endpoint)
        new_kid = jwt.get_unverified_header(after["access_token"])["kid"]
        if new_kid != old_kid or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert new_kid != old_kid, f"still signing with {old_kid} {ROTATION_PICKUP_SECONDS} s after the rotation"
    verify_access_token(after["access_token"], jwks_uri, jwks_client=jwt.PyJWKClient(jwks_uri))
    # The token signed before the rotation stays valid for a gateway that
    # (re)fetches the key set after the new key is in use.
    verify_access_token(before["access_token"], jwks_uri, jwks_client=jwt.PyJWKClient(jwks_uri))


# --- revocation (RFC 7009) and introspection (RFC 7662) ---------------------


def test_revoking_a_refresh_token_ends_its_session(
    token_endpoint, revocation_endpoint, introspection_endpoint
):
    session, token = password_login(token_endpoint)
    assert introspect(introspection_endpoint, token["access_token"])["active"] is True

    response = session.revoke_token(
        revocation_endpoint,
        token=token["refresh_token"],
        token_type_hint="refresh_token",
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, (response.status_code, response.text)

    with pytest.raises(OAuthError) as failure:
        basic_session().refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    assert failure.value.error == "invalid_grant"
    assert introspect(introspection_endpoint, token["access_token"]) == {"active": False}
    assert introspect(introspection_endpoint, token["refresh_token"]) == {"active": False}


def test_revoking_an_access_token_deactivates_it_but_keeps_its_session(
    token_endpoint, jwks_uri, revocation_endpoint, introspection_endpoint
):
    session, token = password_login(token_endpoint)
    first_claims = verify_access_token(token["access_token"], jwks_uri)

    response = session.revoke_token(
        revocation_endpoint,
        token=token["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, (response.status_code, response.text)
    assert introspect(introspection_endpoint, token["access_token"]) == {"active": False}

    refreshed = session.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    refreshed_claims = verify_access_token(refreshed["access_token"], jwks_uri)
    assert refreshed_claims["sid"] == first_claims["sid"]
    assert refreshed_claims["jti"] != first_claims["jti"]
    assert introspect(introspection_endpoint, refreshed["access_token"])["active"] is True


def test_revocation_finds_the_token_whatever_the_type_hint(
    token_endpoint, revocation_endpoint, introspection_endpoint
):
    # RFC 7009 2.1: a wrong hint only widens the search.
    session, token = password_login(token_endpoint)
    response = session.revoke_token(
        revocation_endpoint, token=token["refresh_token"], token_type_hint="access_token", timeout=TIMEOUT
    )
    assert response.status_code == 200, (response.status_code, response.text)
    assert introspect(introspection_endpoint, token["refresh_token"]) == {"active": False}
    assert introspect(introspection_endpoint, token["access_token"]) == {"active": False}

    session, token = password_login(token_endpoint)
    response = session.revoke_token(
        revocation_endpoint, token=token["access_token"], token_type_hint="refresh_token", timeout=TIMEOUT
    )
    assert response.status_code == 200, (response.status_code, response.text)
    assert introspect(introspection_endpoint, token["access_token"]) == {"active": False}
    assert introspect(introspection_endpoint, token["refresh_token"])["active"] is True


def test_a_client_cannot_revoke_tokens_issued_to_another_client(
    token_endpoint, revocation_endpoint, introspection_endpoint
):
    session, token = password_login(token_endpoint)
    others = [
        OAuth2Session(
            POST_CLIENT_ID, POST_CLIENT_SECRET, token_endpoint_auth_method="client_secret_post"
        ),
        OAuth2Session(PUBLIC_CLIENT_ID, token_endpoint_auth_method="none"),
    ]
    for other in others:
        for name in ("access_token", "refresh_token"):
            response = other.revoke_token(
                revocation_endpoint, token=token[name], token_type_hint=name, timeout=TIMEOUT
            )
            assert response.status_code < 500, (other.client_id, name, response.status_code, response.text)

    assert introspect(introspection_endpoint, token["access_token"])["active"] is True
    assert introspect(introspection_endpoint, token["refresh_token"])["active"] is True
    refreshed = session.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    assert refreshed["access_token"]


def test_introspection_of_a_live_access_token_agrees_with_the_token(
    token_endpoint, jwks_uri, introspection_endpoint
):
    _, token = password_login(token_endpoint)
    claims = verify_access_token(token["access_token"], jwks_uri)

    result = introspect(introspection_endpoint, token["access_token"], "access_token")

    assert result["active"] is True
    assert result["token_type"] == "Bearer"
    for name in INTROSPECTED_CLAIMS:
        assert name in result, (name, result)
        if name == "aud":
            assert as_list(result["aud"]) == as_list(claims["aud"]), (result["aud"], claims["aud"])
        else:
            assert result[name] == claims[name], (name, result[name], claims[name])


def test_introspection_reports_the_current_refresh_token_of_a_live_session(
    token_endpoint, introspection_endpoint
):
    session, first = password_login(token_endpoint)
    result = introspect(introspection_endpoint, first["refresh_token"], "refresh_token")
    assert result["active"] is True, result
    assert result["token_type"] == "refresh_token", result

    second = session.refresh_token(token_endpoint, refresh_token=first["refresh_token"])
    assert introspect(introspection_endpoint, second["refresh_token"])["active"] is True
    assert introspect(introspection_endpoint, first["refresh_token"]) == {"active": False}


def test_introspection_of_an_unknown_or_malformed_token_is_inactive(
    token_endpoint, introspection_endpoint
):
    _, token = password_login(token_endpoint)
    header, payload, signature = token["access_token"].split(".")
    flipped = "B" if signature[10] == "A" else "A"
    tampered = ".".join([header, payload, signature[:10] + flipped + signature[11:]])
    for candidate in ("not-a-token", secrets.token_urlsafe(32), tampered, token["refresh_token"] + "x"):
        assert introspect(introspection_endpoint, candidate) == {"active": False}, candidate


def test_revoking_an_unknown_token_succeeds(revocation_endpoint):
    session = basic_session()
    for hint in ("refresh_token", "access_token", None):
        response = session.revoke_token(
            revocation_endpoint,
            token=secrets.token_urlsafe(32),
            token_type_hint=hint,
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, (hint, response.status_code, response.text)


def test_revocation_and_introspection_responses_are_not_cacheable(
    token_endpoint, revocation_endpoint, introspection_endpoint
):
    session, token = password_login(token_endpoint)
    client = basic_session()

    live = client.introspect_token(introspection_endpoint, token=token["access_token"], timeout=TIMEOUT)
    assert live.status_code == 200, live.text
    assert live.json()["active"] is True
    assert_not_cacheable(live)

    revoked = session.revoke_token(
        revocation_endpoint, token=token["refresh_token"], token_type_hint="refresh_token", timeout=TIMEOUT
    )
    assert revoked.status_code == 200, revoked.text
    assert_not_cacheable(revoked)

    unknown = session.revoke_token(revocation_endpoint, token=secrets.token_urlsafe(32), timeout=TIMEOUT)
    assert unknown.status_code == 200, unknown.text
    assert_not_cacheable(unknown)

    inactive = client.introspect_token(introspection_endpoint, token=token["access_token"], timeout=TIMEOUT)
    assert inactive.status_code == 200, inactive.text
    assert inactive.json() == {"active": False}
    assert_not_cacheable(inactive)


def test_introspection_rejects_a_client_with_a_wrong_secret(token_endpoint, introspection_endpoint):
    _, token = password_login(token_endpoint)
    impostor = OAuth2Session(
        CLIENT_ID, CLIENT_SECRET + "x", token_endpoint_auth_method="client_secret_basic"
    )
    response = impostor.introspect_token(
        introspection_endpoint, token=token["access_token"], timeout=TIMEOUT
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in response.json()


def test_introspection_is_refused_to_a_public_client(token_endpoint, introspection_endpoint):
    _, token = password_login(token_endpoint)
    spa = OAuth2Session(PUBLIC_CLIENT_ID, token_endpoint_auth_method="none")
    response = spa.introspect_token(introspection_endpoint, token=token["access_token"], timeout=TIMEOUT)
    assert response.status_code in (400, 401), (response.status_code, response.text)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client"), response.text
    assert "active" not in response.json()


# --- userinfo (OIDC Core 5.3) -----------------------------------------------


def test_userinfo_returns_the_claims_of_the_bearer(token_endpoint, jwks_uri, userinfo_endpoint):
    session, token = password_login(token_endpoint)
    claims = verify_access_token(token["access_token"], jwks_uri)

    response = session.get(userinfo_endpoint, timeout=TIMEOUT)

    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    userinfo = response.json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["preferred_username"] == USERNAME
    assert isinstance(userinfo["roles"], list) and "user" in userinfo["roles"]


def test_userinfo_leaves_out_the_profile_without_the_profile_scope(token_endpoint, userinfo_endpoint):
    session, token = password_login(token_endpoint, scope="openid")
    assert token["scope"].split() == ["openid"]

    response = session.get(userinfo_endpoint, timeout=TIMEOUT)

    assert response.status_code == 200, (response.status_code, response.text)
    userinfo = response.json()
    assert userinfo["sub"]
    assert "preferred_username" not in userinfo, userinfo


def test_userinfo_needs_the_openid_scope(token_endpoint, userinfo_endpoint):
    session, _ = password_login(token_endpoint, scope="api")
    response = session.get(userinfo_endpoint, timeout=TIMEOUT)
    assert response.status_code == 403, (response.status_code, response.text)
    assert "insufficient_scope" in response.headers.get("WWW-Authenticate", ""), response.headers


def test_userinfo_refuses_a_missing_or_revoked_bearer_token(
    token_endpoint, revocation_endpoint, userinfo_endpoint
):
    anonymous = requests.get(userinfo_endpoint, timeout=TIMEOUT)
    assert anonymous.status_code == 401, (anonymous.status_code, anonymous.text)
    assert anonymous.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), anonymous.headers

    session, token = password_login(token_endpoint)
    assert session.get(userinfo_endpoint, timeout=TIMEOUT).status_code == 200
    revoked = session.revoke_token(
        revocation_endpoint, token=token["access_token"], token_type_hint="access_token", timeout=TIMEOUT
    )
    assert revoked.status_code == 200, revoked.text
    response = session.get(userinfo_endpoint, timeout=TIMEOUT)
    assert response.status_code == 401, (response.status_code, response.text)
    assert "invalid_token" in response.headers.get("WWW-Authenticate", ""), response.headers


# --- admin listener ---------------------------------------------------------


def test_admin_reads_the_audit_trail_on_the_admin_listener(token_endpoint, jwks_uri):
    session, token = admin_login(token_endpoint)
    claims = verify_access_token(token["access_token"], jwks_uri, audience=ADMIN_AUDIENCE)
    assert claims["client_id"] == ADMIN_CLIENT_ID
    assert "admin" in claims["roles"], claims["roles"]
    admin_id, sid = claims["sub"], claims["sid"]

    response = session.get(
        f"{ADMIN_URL}/admin/audit", params={"type": "login_succeeded"}, timeout=TIMEOUT
    )

    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    events = response.json()["events"]
    assert events
    for event in events:
        assert event["type"] == "login_succeeded", event
        for name in ("id", "at", "user_id", "client_id"):
            assert name in event, (name, event)
    assert admin_id in {event["user_id"] for event in events}, events

    times = [parse_time(event["at"]) for event in events]
    assert times == sorted(times, reverse=True), "audit events are not newest first"

    mine = session.get(
        f"{ADMIN_URL}/admin/audit",
        params={"type": "login_succeeded", "user_id": admin_id},
        timeout=TIMEOUT,
    )
    assert mine.status_code == 200, (mine.status_code, mine.text)
    my_events = mine.json()["events"]
    assert my_events
    assert {event["user_id"] for event in my_events} == {admin_id}
    # The newest of them is the login that issued this token.
    assert my_events[0]["session_id"] == sid, (my_events[0], sid)
    assert my_events[0]["client_id"] == ADMIN_CLIENT_ID, my_events[0]


def test_admin_listener_refuses_a_user_without_the_admin_role(token_endpoint, jwks_uri):
    # A token for the admin audience, so that only the missing role can be refused.
    session, token = admin_login(token_endpoint, USERNAME, PASSWORD)
    claims = verify_access_token(token["access_token"], jwks_uri, audience=ADMIN_AUDIENCE)
    assert "admin" not in claims["roles"], claims["roles"]
    response = session.get(
        f"{ADMIN_URL}/admin/audit", params={"type": "login_succeeded"}, timeout=TIMEOUT
    )
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    assert response.json()["error"], response.text


def test_admin_listener_refuses_an_admin_token_for_another_audience(token_endpoint, jwks_uri):
    # The admin's own token, but issued through the gateway client for the API audience.
    session, token = password_login(
        token_endpoint, ADMIN_USERNAME, ADMIN_PASSWORD, totp=ADMIN_RECOVERY_CODES.pop(0)
    )
    claims = verify_access_token(token["access_token"], jwks_uri)
    assert "admin" in claims["roles"], claims["roles"]
    assert ADMIN_AUDIENCE not in as_list(claims["aud"]), claims["aud"]
    response = session.get(
        f"{ADMIN_URL}/admin/audit", params={"type": "login_succeeded"}, timeout=TIMEOUT
    )
    assert response.status_code == 401, (response.status_code, response.text)
    assert "invalid_token" in response.headers.get("WWW-Authenticate", ""), response.headers


def test_admin_listener_requires_a_bearer_token():
    response = requests.get(
        f"{ADMIN_URL}/admin/audit", params={"type": "login_succeeded"}, timeout=TIMEOUT
    )
    assert response.status_code == 401, (response.status_code, response.text)
    forged = requests.get(
        f"{ADMIN_URL}/admin/audit",
        params={"type": "login_succeeded"},
        headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
        timeout=TIMEOUT,
    )
    assert forged.status_code == 401, (forged.status_code, forged.text)


def test_admin_api_is_not_served_on_the_public_listener(token_endpoint):
    session, _ = admin_login(token_endpoint)
    response = session.get(
        f"{ISSUER}/admin/audit", params={"type": "login_succeeded"}, timeout=TIMEOUT
    )
    assert response.status_code == 404, (response.status_code, response.text)


# --- Second factor --------------------------------------------------------------


def test_discovery_lists_both_levels_of_assurance(metadata):
    assert metadata["acr_values_supported"] == ["1", "2"], metadata.get("acr_values_supported")


def test_an_account_with_totp_needs_it_in_the_password_grant(token_endpoint):
    with pytest.raises(OAuthError) as refused:
        password_login(
            token_endpoint, ADMIN_USERNAME, ADMIN_PASSWORD,
            scope=ADMIN_SCOPE, client_id=ADMIN_CLIENT_ID, client_secret=ADMIN_CLIENT_SECRET,
        )
    assert refused.value.error == "invalid_grant", refused.value
    assert "second factor" in refused.value.description, refused.value.description


def test_a_totp_code_from_an_authenticator_works_once(token_endpoint, jwks_uri):
    import pyotp

    totp = pyotp.TOTP(setting("INTEROP_ADMIN_TOTP_SECRET"))
    # A code not used before by this account (recovery codes do not spend TOTP steps).
    step = int(time.time()) // 30
    code = totp.at((step + 1) * 30)
    _, token = password_login(
        token_endpoint, ADMIN_USERNAME, ADMIN_PASSWORD,
        scope=ADMIN_SCOPE, client_id=ADMIN_CLIENT_ID, client_secret=ADMIN_CLIENT_SECRET, totp=code,
    )
    claims = verify_access_token(token["access_token"], jwks_uri, audience=ADMIN_AUDIENCE)
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "2", claims
    with pytest.raises(OAuthError) as replayed:
        password_login(
            token_endpoint, ADMIN_USERNAME, ADMIN_PASSWORD,
            scope=ADMIN_SCOPE, client_id=ADMIN_CLIENT_ID, client_secret=ADMIN_CLIENT_SECRET, totp=code,
        )
    assert replayed.value.error == "invalid_grant"


def test_the_admin_listener_wants_a_second_factor_from_admins(token_endpoint, jwks_uri):
    session, token = admin_login(token_endpoint)
    claims = verify_access_token(token["access_token"], jwks_uri, audience=ADMIN_AUDIENCE)
    assert claims["amr"] == ["pwd", "mfa"] and claims["acr"] == "2", claims
    response = session.get(f"{ADMIN_URL}/admin/users/{claims['sub']}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    mfa = response.json()["mfa"]
    assert mfa["totp"] is True and 0 < mfa["recovery_codes_left"] < 10, mfa
    # A plain user's one-factor token says so.
    _, plain = password_login(token_endpoint)
    plain_claims = verify_access_token(plain["access_token"], jwks_uri)
    assert plain_claims["amr"] == ["pwd"] and plain_claims["acr"] == "1", plain_claims


# --- Encrypted tokens (JWE) -------------------------------------------------------


@pytest.fixture(scope="module")
def admin_session(token_endpoint):
    session, _ = admin_login(token_endpoint)
    return session


def register_encrypting_client(admin_session, key, **members):
    """A client_credentials client whose tokens are encrypted to `key` (a joserfc key)."""
    body = {
        "client_id": f"jwe-{secrets.token_hex(4)}",
        "grant_types": ["client_credentials"],
        "scope": "api",
        "audience": AUDIENCE,
        "jwks": {"keys": [key.as_dict(private=False)]},
        **members,
    }
    response = admin_session.post(f"{ADMIN_URL}/admin/clients", json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "algorithm", ["ECDH-ES+A256KW", "RSA-OAEP-256"]
)
def test_an_encrypted_access_token_decrypts_with_joserfc_and_verifies_with_pyjwt(
    admin_session, token_endpoint, jwks_uri, algorithm
):
    from joserfc import jwe
    from joserfc.jwk import ECKey, RSAKey

    parameters = {"use": "enc", "kid": f"rs-{algorithm.lower()}"}
    key = (
        ECKey.generate_key("P-256", parameters=parameters)
        if algorithm.startswith("ECDH")
        else RSAKey.generate_key(2048, parameters=parameters)
    )
    client = register_encrypting_client(
        admin_session, key, access_token_encrypted_response_alg=algorithm
    )
    assert client["access_token_encrypted_response_enc"] == "A256GCM"
    response = requests.post(
        token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert token.count(".") == 4, "a compact JWE"
    decrypted = jwe.decrypt_compact(token, key, algorithms=[algorithm, "A256GCM"])
    header = decrypted.protected
    assert header["alg"] == algorithm and header["enc"] == "A256GCM", header
    assert header["cty"] == "JWT" and header["kid"] == parameters["kid"], header
    claims = verify_access_token(decrypted.plaintext.decode(), jwks_uri)
    assert claims["client_id"] == client["client_id"] and claims["scope"] == "api", claims
    # Another key cannot open it.
    other = ECKey.generate_key("P-256") if algorithm.startswith("ECDH") else RSAKey.generate_key(2048)
    with pytest.raises(Exception):
        jwe.decrypt_compact(token, other, algorithms=[algorithm, "A256GCM"])


def test_discovery_lists_the_id_token_encryption_values(metadata):
    assert set(metadata["id_token_encryption_alg_values_supported"]) == {"ECDH-ES+A256KW", "RSA-OAEP-256"}
    assert metadata["id_token_encryption_enc_values_supported"] == ["A256GCM"]


def test_unsupported_encryption_is_invalid_client_metadata(admin_session):
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"use": "enc"})
    response = admin_session.post(
        f"{ADMIN_URL}/admin/clients",
        json={
            "grant_types": ["client_credentials"],
            "jwks": {"keys": [key.as_dict(private=False)]},
            "access_token_encrypted_response_alg": "RSA1_5",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata", response.text


# --- Sender-constrained tokens (DPoP) -----------------------------------------------


def dpop_proof(key, method, url, access_token=None, jti=None, alg="ES256"):
    """A DPoP proof (RFC 9449 §4.2) made with joserfc, as a client library makes one."""
    import base64
    import hashlib

    from joserfc import jwt as jose_jwt

    claims = {"jti": jti or secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    return jose_jwt.encode(header, claims, key, algorithms=[alg])


def test_a_dpop_proof_binds_the_token_and_cannot_be_replayed(token_endpoint, jwks_uri, metadata):
    from joserfc.jwk import ECKey

    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    key = ECKey.generate_key("P-256")
    proof = dpop_proof(key, "POST", token_endpoint)
    response = requests.post(
        token_endpoint, data={"grant_type": "client_credentials"}, headers={"DPoP": proof},
        auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP", body
    claims = verify_access_token(body["access_token"], jwks_uri)
    assert claims["cnf"] == {"jkt": key.thumbprint()}, claims
    replayed = requests.post(
        token_endpoint, data={"grant_type": "client_credentials"}, headers={"DPoP": proof},
        auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT,
    )
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_dpop_proof", replayed.text
    wrong_url = requests.post(
        token_endpoint, data={"grant_type": "client_credentials"},
        headers={"DPoP": dpop_proof(key, "POST", token_endpoint + "x")},
        auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT,
    )
    assert wrong_url.status_code == 400 and wrong_url.json()["error"] == "invalid_dpop_proof"


def test_a_public_clients_dpop_bound_refresh_token_needs_the_key(token_endpoint, metadata):
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    login = requests.post(
        token_endpoint,
        data={"grant_type": "password", "username": USERNAME, "password": PASSWORD, "client_id": PUBLIC_CLIENT_ID},
        headers={"DPoP": dpop_proof(key, "POST", token_endpoint)}, timeout=TIMEOUT,
    )
    assert login.status_code == 200 and login.json()["token_type"] == "DPoP", login.text
    refresh = {"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"], "client_id": PUBLIC_CLIENT_ID}
    unproven = requests.post(token_endpoint, data=refresh, timeout=TIMEOUT)
    assert unproven.status_code == 400 and unproven.json()["error"] == "invalid_grant", unproven.text
    proven = requests.post(token_endpoint, data=refresh, headers={"DPoP": dpop_proof(key, "POST", token_endpoint)}, timeout=TIMEOUT)
    assert proven.status_code == 200 and proven.json()["token_type"] == "DPoP", proven.text
    access = proven.json()["access_token"]
    userinfo = metadata["userinfo_endpoint"]
    as_bearer = requests.get(userinfo, headers={"Authorization": f"Bearer {access}"}, timeout=TIMEOUT)
    assert as_bearer.status_code == 401, as_bearer.text
    with_proof = requests.get(
        userinfo,
        headers={"Authorization": f"DPoP {access}", "DPoP": dpop_proof(key, "GET", userinfo, access_token=access)},
        timeout=TIMEOUT,
    )
    assert with_proof.status_code == 200, with_proof.text
