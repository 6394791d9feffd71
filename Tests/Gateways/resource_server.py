"""A resource server (API) that accepts Signet's access tokens: docs/gateways.md shows this file.

Offline checks with PyJWT (signature against the JWKS, `typ: at+jwt`, iss, aud, exp, nbf),
encrypted access tokens opened with joserfc, DPoP-bound tokens (RFC 9449) checked against
their proof, and a small caching client of the introspection endpoint (RFC 7662).
"""

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests
from joserfc import jwe
from joserfc import jwt as jose_jwt
from joserfc.jwk import JWKRegistry

SIGNING_ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256"]  # never "none", never HS*
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id"]
DPOP_MAX_AGE_SECONDS = 60


class Refused(Exception):
    """The request is refused: `scheme` and `error` make its WWW-Authenticate header."""

    def __init__(self, description, scheme="Bearer", error="invalid_token"):
        super().__init__(description)
        self.scheme, self.error = scheme, error


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AccessTokenVerifier:
    def __init__(self, issuer, audience, decryption_key=None, leeway=0):
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        # Caches the key set (5 minutes, like Signet's Cache-Control: max-age=300) and
        # refetches it when a token names a kid it does not hold: a key rotation needs nothing.
        self.jwks = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json", cache_keys=True, lifespan=300)
        self.decryption_key = decryption_key  # a joserfc key, for encrypted access tokens
        self.seen_proofs = {}  # DPoP proof jti -> when it may be forgotten

    def verify(self, token):
        """The claims of a valid access token; raises Refused otherwise."""
        if token.count(".") == 4:  # a JWE: decrypt with our key, then verify the inner JWT
            if self.decryption_key is None:
                raise Refused("encrypted token, no decryption key")
            try:
                opened = jwe.decrypt_compact(token, self.decryption_key, algorithms=["ECDH-ES+A256KW", "RSA-OAEP-256", "A256GCM"])
            except Exception as error:
                raise Refused(f"cannot decrypt: {error}") from error
            if opened.protected.get("cty") != "JWT":
                raise Refused("encrypted content is not a JWT")
            token = opened.plaintext.decode()
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "at+jwt":  # RFC 9068: not an ID token or another JWT
                raise Refused(f"typ is {header.get('typ')!r}, not at+jwt")
            if header.get("alg") not in SIGNING_ALGORITHMS:
                raise Refused(f"alg {header.get('alg')!r} is not accepted")
            key = self.jwks.get_signing_key(header.get("kid"))
            return jwt.decode(
                token, key.key, algorithms=[header["alg"]], issuer=self.issuer, audience=self.audience,
                leeway=self.leeway, options={"require": REQUIRED_CLAIMS},
            )
        except (jwt.PyJWTError, KeyError) as error:
            raise Refused(str(error)) from error

    def authorize(self, method, url, headers):
        """The claims of the caller of `method url`, from its Authorization (and DPoP) header."""
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "dpop") or not token:
            raise Refused("no access token", error="invalid_request")
        claims = self.verify(token)
        jkt = claims.get("cnf", {}).get("jkt")
        if jkt is None:
            if scheme.lower() != "bearer":
                raise Refused("not a DPoP-bound token", scheme="DPoP")
            return claims
        # A DPoP-bound token: only as "DPoP <token>", with a proof by the key it is bound to.
        if scheme.lower() != "dpop":
            raise Refused("a DPoP-bound token sent as a bearer token", scheme="DPoP")
        self.verify_dpop_proof(headers.get("DPoP", ""), method, url, token, jkt)
        return claims

    def verify_dpop_proof(self, proof, method, url, token, jkt):
        """RFC 9449 section 4.3, as a resource server checks a proof."""
        try:
            header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in SIGNING_ALGORITHMS:
                raise Refused("not a DPoP proof", scheme="DPoP", error="invalid_dpop_proof")
            if not isinstance(header.get("jwk"), dict) or "d" in header["jwk"]:
                raise Refused("the proof carries no public jwk", scheme="DPoP", error="invalid_dpop_proof")
            key = JWKRegistry.import_key(header["jwk"])
            claims = jose_jwt.decode(proof, key, algorithms=[header["alg"]]).claims
        except Refused:
            raise
        except Exception as error:
            raise Refused(f"bad DPoP proof: {error}", scheme="DPoP", error="invalid_dpop_proof") from error
        now = time.time()
        checks = {
            "key is the token's (cnf.jkt)": key.thumbprint() == jkt,
            "htm": claims.get("htm") == method,
            "htu": claims.get("htu") == url.split("?")[0].split("#")[0],
            "iat": isinstance(claims.get("iat"), int) and abs(now - claims["iat"]) <= DPOP_MAX_AGE_SECONDS,
            "ath": claims.get("ath") == b64url(hashlib.sha256(token.encode()).digest()),
            "jti": isinstance(claims.get("jti"), str) and self.seen_proofs.get(claims["jti"], 0) < now,
        }
        failed = [name for name, passed in checks.items() if not passed]
        if failed:
            raise Refused(f"DPoP proof fails: {', '.join(failed)}", scheme="DPoP", error="invalid_dpop_proof")
        self.seen_proofs[claims["jti"]] = now + 2 * DPOP_MAX_AGE_SECONDS  # each proof once


class CachingIntrospector:
    """Asks the introspection endpoint about a token and keeps an active answer until the
    token's exp, or `max_cache_seconds` if shorter. The cache saves a round trip per request,
    at a price: a token revoked meanwhile is still taken until its entry goes."""

    def __init__(self, issuer, client_id, client_secret, max_cache_seconds=60, clock=time.time):
        self.endpoint = f"{issuer}/oauth2/introspect"
        self.auth = (client_id, client_secret)
        self.max_cache_seconds, self.clock = max_cache_seconds, clock
        self.cache = {}  # token -> (cached until, answer)
        self.calls = 0

    def introspect(self, token):
        now = self.clock()
        cached = self.cache.get(token)
        if cached and now < cached[0]:
            return cached[1]
        self.cache.pop(token, None)
        response = requests.post(
            self.endpoint, data={"token": token, "token_type_hint": "access_token"}, auth=self.auth, timeout=10
        )
        response.raise_for_status()
        self.calls += 1
        answer = response.json()
        if answer.get("active") and answer["exp"] <= now:
            # Signet answers active up to access_token.leeway_seconds past exp (clock skew);
            # this gateway holds to exp.
            answer = {"active": False}
        if answer.get("active"):  # inactive answers are not kept: a token never comes back to life
            self.cache[token] = (min(answer["exp"], now + self.max_cache_seconds), answer)
        return answer


def serve(verifier, host="127.0.0.1", port=0, public_url=None):
    """An API on host:port: GET /api/hello answers the caller's sub and client_id as JSON.
    Returns the running server (`server.shutdown()` stops it) and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                claims = verifier.authorize("GET", base_url + self.path, self.headers)
            except Refused as refusal:
                body = json.dumps({"error": refusal.error}).encode()
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'{refusal.scheme} error="{refusal.error}"')
            else:
                body = json.dumps({"sub": claims["sub"], "client_id": claims["client_id"]}).encode()
                self.send_response(200 if self.path == "/api/hello" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    base_url = public_url or f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base_url
