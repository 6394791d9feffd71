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
    SIGNET_BIN                   the signet executable (for key rotation), run
                                 with the environment of this process
    INTEROP_ROTATION_PICKUP_SECONDS
                                 how long the server may take to sign with a key
                                 rotated from the command line (default 35)

The server runs with a refresh-token reuse grace period of 0 seconds.
"""

import os
import pathlib
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


def basic_session(scope=SCOPE):
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_basic",
        scope=scope,
    )


def password_login(token_endpoint):
    """Log in as the test user through authlib's password grant."""
    session = basic_session()
    token = session.fetch_token(
        token_endpoint, username=USERNAME, password=PASSWORD, grant_type="password"
    )
    return session, token


def verify_access_token(token, jwks_uri, jwks_client=None):
    """Validate an access token exactly as an API gateway does."""
    client = jwks_client or jwt.PyJWKClient(jwks_uri)
    signing_key = client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=ALGORITHMS,
        audience=AUDIENCE,
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
