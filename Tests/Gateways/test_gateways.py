"""Gateway recipes: resource servers that accept Signet's access tokens (docs/gateways.md).

- Apache httpd with mod_auth_openidc as an OAuth 2.0 resource server (apache-api.conf),
  started by scripts/gateways.sh on 127.0.0.4;
- a Python resource server (resource_server.py: PyJWT's PyJWKClient, joserfc for encrypted
  tokens and DPoP proofs), started here in a thread;
- introspection (RFC 7662) with a cache, and a revocation seen through it.

Run through scripts/gateways.sh, which starts the servers and passes these settings:

    SIGNET_URL                     the issuer / public base URL
    SIGNET_ADMIN_URL               base URL of the admin listener
    SIGNET_BIN                     the signet executable (key rotation), run with the
                                   environment of this process
    GATEWAY_AUDIENCE               the API's audience (aud of the callers' tokens)
    GATEWAY_OTHER_AUDIENCE         the audience of another API
    GATEWAY_APACHE_URL             Apache with mod_auth_openidc guarding /api
    GATEWAY_APACHE_LOG, _ACCESS_LOG
                                   its error and access logs (the access log shows JWKS fetches)
    GATEWAY_CLIENT_ID/_SECRET      client_credentials client, scope api, the API's audience
    GATEWAY_SHORT_CLIENT_ID/_SECRET
                                   the same, with 10-second access tokens
    GATEWAY_OTHER_CLIENT_ID/_SECRET
                                   client_credentials client for the other API
    GATEWAY_INTROSPECTION_CLIENT_ID/_SECRET
                                   the gateway's own confidential client
    GATEWAY_ADMIN_USERNAME/_PASSWORD, GATEWAY_ADMIN_RECOVERY_CODES,
    GATEWAY_ADMIN_CLIENT_ID/_SECRET
                                   an admin (TOTP recovery codes) and the admin-audience client
"""

import base64
import json
import os
import pathlib
import secrets
import subprocess
import time

import jwt
import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from resource_server import AccessTokenVerifier, CachingIntrospector, Refused, b64url, serve

TIMEOUT = 10
HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# How long a running server may take to sign with a key rotated from the command line.
ROTATION_PICKUP_SECONDS = 35


def setting(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the suite through scripts/gateways.sh")
    return value


ISSUER = setting("SIGNET_URL").rstrip("/")
ADMIN_URL = setting("SIGNET_ADMIN_URL").rstrip("/")
AUDIENCE = setting("GATEWAY_AUDIENCE")
OTHER_AUDIENCE = setting("GATEWAY_OTHER_AUDIENCE")
APACHE_URL = setting("GATEWAY_APACHE_URL").rstrip("/")
APACHE_API = f"{APACHE_URL}/api/hello.txt"
APACHE_CONTENT = "hello from the protected API\n"
CALLER = (setting("GATEWAY_CLIENT_ID"), setting("GATEWAY_CLIENT_SECRET"))
SHORT_LIVED = (setting("GATEWAY_SHORT_CLIENT_ID"), setting("GATEWAY_SHORT_CLIENT_SECRET"))
OTHER_CALLER = (setting("GATEWAY_OTHER_CLIENT_ID"), setting("GATEWAY_OTHER_CLIENT_SECRET"))
INTROSPECTOR = (setting("GATEWAY_INTROSPECTION_CLIENT_ID"), setting("GATEWAY_INTROSPECTION_CLIENT_SECRET"))
TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"


# --- helpers ----------------------------------------------------------------


def client_token(client=CALLER, proof=None):
    """An access token by the client credentials grant (with a DPoP proof if given)."""
    response = requests.post(
        TOKEN_ENDPOINT, data={"grant_type": "client_credentials", "scope": "api"}, auth=client,
        headers={"DPoP": proof} if proof else {}, timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def access_token(client=CALLER):
    return client_token(client)["access_token"]


def unverified(token):
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def tampered(token):
    """One character of the signature changed (in the middle: the last one may carry only padding bits)."""
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    changed = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{changed}{signature[middle + 1:]}"


def alg_none(token):
    """The real claims under {"alg":"none","typ":"at+jwt"} with an empty signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "at+jwt"}, separators=(",", ":")).encode())
    return f"{header}.{token.split('.')[1]}."


def apache_get(token=None, scheme="Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return requests.get(APACHE_API, headers=headers, timeout=TIMEOUT)


def assert_apache_accepts(token):
    response = apache_get(token)
    assert response.status_code == 200, (response.status_code, response.headers, apache_log_tail())
    assert response.text == APACHE_CONTENT


def assert_apache_refuses(token, statuses=(401,)):
    response = apache_get(token)
    assert response.status_code in statuses, (response.status_code, response.text, apache_log_tail())
    assert APACHE_CONTENT not in response.text
    return response


def apache_log_tail(lines=15):
    try:
        return "\n".join(pathlib.Path(setting("GATEWAY_APACHE_LOG")).read_text().splitlines()[-lines:])
    except OSError:
        return "(no error log)"


def dpop_proof(key, method, url, access_token=None, jti=None, iat=None):
    """A client's DPoP proof (RFC 9449 section 4.2), made with joserfc."""
    claims = {"jti": jti or secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": iat or int(time.time())}
    if access_token:
        import hashlib

        claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jose_jwt.encode(header, claims, key, algorithms=["ES256"])


def as_list(value):
    return value if isinstance(value, list) else [value]


def jwks_kids():
    response = requests.get(f"{ISSUER}/.well-known/jwks.json", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return {key["kid"] for key in response.json()["keys"]}


@pytest.fixture(scope="module")
def verifier():
    """One verifier for the whole module, like a long-running API: its JWKS cache persists."""
    return AccessTokenVerifier(ISSUER, AUDIENCE)


@pytest.fixture(scope="module")
def api(verifier):
    server, base_url = serve(verifier)
    yield f"{base_url}/api/hello"
    server.shutdown()
    server.server_close()


def refused(verifier, token):
    with pytest.raises(Refused) as caught:
        verifier.verify(token)
    return str(caught.value)


# --- Apache httpd with mod_auth_openidc ---------------------------------------


def test_apache_serves_the_api_to_a_fresh_access_token():
    token = access_token()
    header, claims = unverified(token)
    assert header["typ"] == "at+jwt" and header["kid"], header
    assert claims["aud"] == AUDIENCE and claims["iss"] == ISSUER, claims
    assert_apache_accepts(token)


def test_apache_asks_for_a_token_when_there_is_none():
    response = apache_get()
    assert response.status_code == 401, response.status_code
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), response.headers


def test_apache_refuses_a_tampered_token():
    token = access_token()
    assert_apache_accepts(token)
    response = assert_apache_refuses(tampered(token))
    assert 'error="invalid_token"' in response.headers.get("WWW-Authenticate", ""), response.headers


def test_apache_refuses_an_unsigned_alg_none_token():
    assert_apache_refuses(alg_none(access_token()))


def test_apache_refuses_a_token_for_another_api():
    token = access_token(OTHER_CALLER)
    assert unverified(token)[1]["aud"] == OTHER_AUDIENCE
    assert_apache_refuses(token)


# --- the Python resource server --------------------------------------------------


def test_python_verifier_accepts_a_fresh_access_token(verifier, api):
    token = access_token()
    claims = verifier.verify(token)
    assert claims["client_id"] == CALLER[0] and claims["scope"] == "api", claims
    response = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": claims["sub"], "client_id": CALLER[0]}


def test_python_verifier_refuses_forged_and_misdirected_tokens(verifier, api):
    token = access_token()
    assert "Signature" in refused(verifier, tampered(token))
    # Another typ (an ID token is "JWT"): refused before the signature is even looked at.
    header, payload, signature = token.split(".")
    as_id_token = b64url(json.dumps({**unverified(token)[0], "typ": "JWT"}).encode())
    assert "not at+jwt" in refused(verifier, f"{as_id_token}.{payload}.{signature}")
    assert "alg 'none'" in refused(verifier, alg_none(token))
    assert "audience" in refused(verifier, access_token(OTHER_CALLER)).lower()
    # Another expected issuer.
    other_issuer = AccessTokenVerifier(ISSUER, AUDIENCE)
    other_issuer.issuer = "https://elsewhere.example.com"
    assert "issuer" in refused(other_issuer, token).lower()
    # A token signed by someone else's key, with Signet's kid: the signature fails.
    header, claims = unverified(token)
    forged = jwt.encode(claims, ECKey.generate_key("P-256").as_pem(private=True), algorithm="ES256", headers=header)
    assert "Signature" in refused(verifier, forged)
    # Without a token, or with a tampered one, the API answers 401 with WWW-Authenticate.
    for headers in ({}, {"Authorization": f"Bearer {tampered(token)}"}):
        response = requests.get(api, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer error="), response.headers


def test_python_verifier_refuses_a_token_before_its_nbf(verifier):
    # Signet's tokens carry nbf = iat; a negative leeway plays a gateway whose clock is 60 s behind.
    token = access_token()
    claims = unverified(token)[1]
    assert claims["nbf"] <= claims["iat"] < claims["exp"] - 60, claims
    behind = AccessTokenVerifier(ISSUER, AUDIENCE, leeway=-60)
    assert "not yet valid" in refused(behind, token).lower()


# --- expiry (the suite's only wait) -------------------------------------------------


def test_apache_python_and_introspection_refuse_an_expired_token(verifier):
    token = access_token(SHORT_LIVED)
    claims = unverified(token)[1]
    assert claims["exp"] - claims["iat"] == 10, claims
    assert_apache_accepts(token)
    verifier.verify(token)
    introspector = CachingIntrospector(ISSUER, *INTROSPECTOR)
    assert introspector.introspect(token)["active"] is True
    time.sleep(max(0.0, claims["exp"] - time.time()) + 1.5)
    assert_apache_refuses(token)
    assert "expired" in refused(verifier, token).lower()
    # The cached answer was kept only until the token's exp: this asks Signet again. Signet
    # still answers active within its clock-skew leeway (access_token.leeway_seconds, 30 s
    # by default); the introspector checks exp itself and takes the token as inactive.
    assert introspector.introspect(token) == {"active": False}
    assert introspector.calls == 2


# --- encrypted access tokens ----------------------------------------------------


@pytest.fixture(scope="module")
def admin_token():
    codes = setting("GATEWAY_ADMIN_RECOVERY_CODES").split()
    response = requests.post(
        TOKEN_ENDPOINT,
        data={"grant_type": "password", "username": setting("GATEWAY_ADMIN_USERNAME"),
              "password": setting("GATEWAY_ADMIN_PASSWORD"), "scope": "openid profile", "totp": codes[0]},
        auth=(setting("GATEWAY_ADMIN_CLIENT_ID"), setting("GATEWAY_ADMIN_CLIENT_SECRET")), timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_python_verifier_decrypts_an_encrypted_access_token_then_verifies_it(admin_token):
    # The resource server's key pair; Signet gets only the public half (the client's jwks).
    key = ECKey.generate_key("P-256", parameters={"use": "enc", "kid": "api-enc-1"})
    registered = requests.post(
        f"{ADMIN_URL}/admin/clients",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "client_id": f"jwe-caller-{secrets.token_hex(3)}", "grant_types": ["client_credentials"],
            "scope": "api", "audience": AUDIENCE,
            "jwks": {"keys": [key.as_dict(private=False)]},
            "access_token_encrypted_response_alg": "ECDH-ES+A256KW",
        },
        timeout=TIMEOUT,
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    token = access_token((client["client_id"], client["client_secret"]))
    assert token.count(".") == 4, "a compact JWE"

    claims = AccessTokenVerifier(ISSUER, AUDIENCE, decryption_key=key).verify(token)
    assert claims["client_id"] == client["client_id"] and claims["aud"] == AUDIENCE, claims
    # Without the key (or with another one) the token is refused.
    assert "no decryption key" in refused(AccessTokenVerifier(ISSUER, AUDIENCE), token)
    other = AccessTokenVerifier(ISSUER, AUDIENCE, decryption_key=ECKey.generate_key("P-256"))
    assert "cannot decrypt" in refused(other, token)
    # mod_auth_openidc, configured as above (no decryption key), refuses it too.
    assert_apache_refuses(token)


# --- DPoP-bound access tokens ------------------------------------------------------


def test_python_resource_server_checks_a_dpop_bound_token_against_its_proof(api, verifier):
    key = ECKey.generate_key("P-256")
    body = client_token(proof=dpop_proof(key, "POST", TOKEN_ENDPOINT))
    assert body["token_type"] == "DPoP", body
    token = body["access_token"]
    claims = verifier.verify(token)
    assert claims["cnf"] == {"jkt": key.thumbprint()}, claims

    def call(scheme="DPoP", proof=None):
        headers = {"Authorization": f"{scheme} {token}"}
        if proof:
            headers["DPoP"] = proof
        return requests.get(api, headers=headers, timeout=TIMEOUT)

    good = dpop_proof(key, "GET", api, access_token=token)
    assert call(proof=good).status_code == 200
    refusals = {
        "replayed proof": call(proof=good),
        "stolen token as a bearer token": call(scheme="Bearer"),
        "stolen token, no proof": call(),
        "stolen token, the thief's own key": call(proof=dpop_proof(ECKey.generate_key("P-256"), "GET", api, access_token=token)),
        "proof for another method": call(proof=dpop_proof(key, "POST", api, access_token=token)),
        "proof for another URL": call(proof=dpop_proof(key, "GET", api + "/other", access_token=token)),
        "proof without ath": call(proof=dpop_proof(key, "GET", api)),
        "stale proof": call(proof=dpop_proof(key, "GET", api, access_token=token, iat=int(time.time()) - 300)),
    }
    for case, response in refusals.items():
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert response.headers["WWW-Authenticate"].startswith("DPoP error="), (case, response.headers)
    # A plain bearer token presented as DPoP is refused as well.
    plain = access_token()
    response = requests.get(api, headers={"Authorization": f"DPoP {plain}"}, timeout=TIMEOUT)
    assert response.status_code == 401, response.text


def test_apache_takes_a_dpop_bound_token_as_a_plain_bearer_token():
    # What this mod_auth_openidc (2.4.12, Debian 12) does: it knows nothing of DPoP and checks no
    # cnf claim, so a stolen DPoP-bound token passes it as "Bearer". Put DPoP-bound tokens only
    # behind a resource server that checks the proof (docs/gateways.md, "DPoP").
    key = ECKey.generate_key("P-256")
    token = client_token(proof=dpop_proof(key, "POST", TOKEN_ENDPOINT))["access_token"]
    assert unverified(token)[1]["cnf"] == {"jkt": key.thumbprint()}
    assert_apache_accepts(token)


# --- introspection with a cache --------------------------------------------------------


def test_cached_introspection_sees_a_revocation_once_the_entry_is_gone():
    now = [time.time()]
    introspector = CachingIntrospector(ISSUER, *INTROSPECTOR, max_cache_seconds=30, clock=lambda: now[0])
    token = access_token()
    first = introspector.introspect(token)
    assert first["active"] is True and first["client_id"] == CALLER[0] and first["scope"] == "api", first
    assert AUDIENCE in as_list(first["aud"]) and first["iss"] == ISSUER, first
    assert introspector.introspect(token) is first and introspector.calls == 1, "the second check is a cache hit"

    revoked = requests.post(
        f"{ISSUER}/oauth2/revoke", data={"token": token, "token_type_hint": "access_token"}, auth=CALLER,
        timeout=TIMEOUT,
    )
    assert revoked.status_code == 200, revoked.text
    # The price of the cache: until the entry goes, the revoked token is still taken.
    assert introspector.introspect(token)["active"] is True and introspector.calls == 1
    now[0] += 31  # past max_cache_seconds
    assert introspector.introspect(token) == {"active": False}
    assert introspector.calls == 2
    # Offline verification cannot see a revocation at all: the JWT stays valid until exp.
    AccessTokenVerifier(ISSUER, AUDIENCE).verify(token)


def test_introspection_reports_the_binding_of_a_dpop_token():
    key = ECKey.generate_key("P-256")
    token = client_token(proof=dpop_proof(key, "POST", TOKEN_ENDPOINT))["access_token"]
    answer = CachingIntrospector(ISSUER, *INTROSPECTOR).introspect(token)
    assert answer["active"] is True and answer["cnf"] == {"jkt": key.thumbprint()}, answer


# --- key rotation ---------------------------------------------------------------


def rotate_keys(old_kid):
    """`signet keys rotate --force` (another process, as an operator runs it); returns the first
    token signed with the new key and how long the server took to sign with it."""
    started = time.monotonic()
    rotation = subprocess.run(
        [setting("SIGNET_BIN"), "keys", "rotate", "--force"],
        cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=60,
    )
    assert rotation.returncode == 0, rotation.stderr or rotation.stdout
    # The server learns of a rotation made by another process through the database.
    while True:
        token = access_token()
        if unverified(token)[0]["kid"] != old_kid or time.monotonic() - started > ROTATION_PICKUP_SECONDS:
            break
        time.sleep(0.2)
    pickup = time.monotonic() - started
    assert unverified(token)[0]["kid"] != old_kid, f"still signing with {old_kid} {pickup:.1f} s after the rotation"
    print(f"the server signed with the new key {pickup:.2f} s after `signet keys rotate` started")
    return token


def apache_jwks_fetches():
    """How many times Apache has fetched the JWKS (its TLS front logs each GET)."""
    log = pathlib.Path(setting("GATEWAY_APACHE_ACCESS_LOG")).read_text()
    return sum("GET /.well-known/jwks.json" in line for line in log.splitlines())


def test_key_rotation_reaches_apache_and_python_without_a_restart():
    # Last of the token tests: it makes Signet sign with a key the module's verifier may not
    # fetch for 30 s (see below). This verifier is a long-running API's: one key-set cache.
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE)
    old = access_token()
    old_kid = unverified(old)[0]["kid"]
    assert_apache_accepts(old)  # Apache has fetched and cached the key set
    verifier.verify(old)
    fetches = apache_jwks_fetches()
    assert fetches >= 1
    published_before = jwks_kids()
    assert old_kid in published_before and len(published_before) >= 2, published_before

    new = rotate_keys(old_kid)
    new_kid = unverified(new)[0]["kid"]
    # The new signing key was published before the rotation: caches already hold it.
    assert new_kid in published_before, (new_kid, published_before)
    published_after = jwks_kids()
    assert {old_kid, new_kid} <= published_after and published_after - published_before, published_after
    assert_apache_accepts(new)
    assert_apache_accepts(old)  # the retired key stays published until its tokens expire
    assert apache_jwks_fetches() == fetches, "Apache verified both tokens with its cached key set"
    assert verifier.verify(new)["jti"] != verifier.verify(old)["jti"]

    # Rotating again promotes the key published after the first rotation, which neither
    # gateway has fetched: a kid they do not know makes them fetch the key set again, once.
    newer = rotate_keys(new_kid)
    newer_kid = unverified(newer)[0]["kid"]
    assert newer_kid not in published_before and newer_kid in published_after, newer_kid
    assert_apache_accepts(newer)
    assert apache_jwks_fetches() == fetches + 1
    assert_apache_accepts(newer)
    assert_apache_accepts(old)
    assert apache_jwks_fetches() == fetches + 1
    # PyJWT's PyJWKClient refetches on an unknown kid too, but (PyJWT 2.15, as tested) at most once per
    # cooldown_duration (30 s) after its last fetch: this forced second rotation came seconds
    # after the first. A verifier whose last fetch is older (here: a new one) takes the token.
    AccessTokenVerifier(ISSUER, AUDIENCE).verify(newer)
    verifier.verify(old)


# --- the documentation shows what runs here -----------------------------------------------


def test_docs_show_the_configuration_and_code_these_tests_run():
    docs = (REPO_ROOT / "docs" / "gateways.md").read_text()
    for name in ("apache-api.conf", "resource_server.py"):
        assert (HERE / name).read_text() in docs, f"docs/gateways.md is out of date: paste Tests/Gateways/{name} again"
