"""Two `signet serve` processes on one PostgreSQL schema behave as one server.

Run through scripts/twonodes.sh, which starts node A and node B (same database, schema, issuer
and master key; different ports) and passes these settings:

    TWONODES_A_URL, TWONODES_B_URL              public base URLs of node A and node B
    TWONODES_A_ADMIN_URL                        admin base URL of node A
    TWONODES_ISSUER                             the issuer both nodes use
    TWONODES_AUDIENCE                           the audience of the client's access tokens
    TWONODES_CLIENT_ID, TWONODES_CLIENT_SECRET  confidential client (client_secret_basic),
                                                grants password and refresh_token
    TWONODES_USERNAME, TWONODES_PASSWORD        a user
    TWONODES_ADMIN_USERNAME, TWONODES_ADMIN_PASSWORD
                                                a user holding the role "admin"
    TWONODES_ADMIN_CLIENT_ID, TWONODES_ADMIN_CLIENT_SECRET
                                                confidential client (client_secret_basic),
                                                grants password and refresh_token, registered
                                                with the admin audience (admin.audience): the
                                                admin logs in through it, since the admin API
                                                accepts only access tokens for that audience
    SIGNET_BIN                                  the signet executable; `keys rotate --force` runs
                                                with the environment of this process
    TWONODES_PROPAGATION_SECONDS                how long a change made through one node may take
                                                to be seen by the other (default 1)

Both nodes reload their key set and drop their caches on a timer far longer than this test, so
everything that crosses from one node to the other here travels through PostgreSQL NOTIFY.
Each step prints `ok` or `FAIL` with the reason; the last line is `twonodes: N passed, M failed`.
"""

import os
import subprocess
import sys
import threading
import time
import traceback

import jwt
import requests

TIMEOUT = 10
POLL_PAUSE = 0.005
CONCURRENT_REFRESHES = 16


def setting(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"error: {name} is not set; run this through scripts/twonodes.sh")
    return value


NODE_URLS = {"A": setting("TWONODES_A_URL").rstrip("/"), "B": setting("TWONODES_B_URL").rstrip("/")}
ADMIN_A = setting("TWONODES_A_ADMIN_URL").rstrip("/")
ISSUER = setting("TWONODES_ISSUER").rstrip("/")
AUDIENCE = setting("TWONODES_AUDIENCE")
CLIENT = (setting("TWONODES_CLIENT_ID"), setting("TWONODES_CLIENT_SECRET"))
ADMIN_CLIENT = (setting("TWONODES_ADMIN_CLIENT_ID"), setting("TWONODES_ADMIN_CLIENT_SECRET"))
USER = (setting("TWONODES_USERNAME"), setting("TWONODES_PASSWORD"))
ADMIN = (setting("TWONODES_ADMIN_USERNAME"), setting("TWONODES_ADMIN_PASSWORD"))
SIGNET_BIN = setting("SIGNET_BIN")
PROPAGATION = float(os.environ.get("TWONODES_PROPAGATION_SECONDS", "1"))


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def describe(response):
    """One line describing an HTTP exchange, for failure messages."""
    body = response.text
    if len(body) > 300:
        body = body[:300] + "…"
    return f"{response.request.method} {response.url} -> {response.status_code} {body}"


def json_of(response):
    try:
        return response.json()
    except ValueError:
        raise Failure(f"not JSON: {describe(response)}") from None


# --- calls ------------------------------------------------------------------------------------


def token_request(node, data, session=requests, client=CLIENT):
    """A token request with client_secret_basic (how both clients are registered)."""
    return session.post(f"{NODE_URLS[node]}/oauth2/token", data=data, auth=client, timeout=TIMEOUT)


def login(node, user=USER, client=CLIENT):
    response = token_request(node, {"grant_type": "password", "username": user[0], "password": user[1],
                                    "scope": "openid profile"}, client=client)
    check(response.status_code == 200, f"password login at node {node} failed: {describe(response)}")
    body = json_of(response)
    check(body.get("access_token") and body.get("refresh_token"), f"login at node {node} returned no tokens: {body}")
    return body


def refresh(node, refresh_token, session=requests):
    return token_request(node, {"grant_type": "refresh_token", "refresh_token": refresh_token}, session)


def introspect(node, token):
    response = requests.post(f"{NODE_URLS[node]}/oauth2/introspect", data={"token": token}, auth=CLIENT,
                             timeout=TIMEOUT)
    check(response.status_code == 200, f"introspection at node {node} failed: {describe(response)}")
    body = json_of(response)
    check(isinstance(body.get("active"), bool), f"introspection at node {node} has no boolean 'active': {body}")
    return body


def jwks(node):
    response = requests.get(f"{NODE_URLS[node]}/.well-known/jwks.json", timeout=TIMEOUT)
    check(response.status_code == 200, f"JWKS of node {node}: {describe(response)}")
    return json_of(response)


def kids(key_set):
    return [key.get("kid") for key in key_set.get("keys", [])]


def kid_of(token):
    return jwt.get_unverified_header(token).get("kid")


def verify_with_jwks(token, key_set, node):
    """Verifies `token` as a gateway would, with the key set published by `node`."""
    header = jwt.get_unverified_header(token)
    check(header.get("typ") == "at+jwt", f"access token header typ is {header.get('typ')!r}, not 'at+jwt'")
    matching = [key for key in key_set.get("keys", []) if key.get("kid") == header.get("kid")]
    check(matching, f"kid {header.get('kid')!r} of the token is not in node {node}'s JWKS (kids: {kids(key_set)})")
    jwk = jwt.PyJWK.from_dict(matching[0])
    check(header.get("alg") == jwk.algorithm_name,
          f"token alg {header.get('alg')!r} differs from the JWKS key's alg {jwk.algorithm_name!r}")
    try:
        return jwt.decode(token, jwk.key, algorithms=[jwk.algorithm_name], audience=AUDIENCE, issuer=ISSUER,
                          options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})
    except jwt.PyJWTError as error:
        raise Failure(f"signature/claims check with node {node}'s JWKS failed: {error!r}") from None


def poll(limit, probe, what):
    """Calls `probe` until it returns (True, …); returns (seconds since the call, probes). `probe`
    returns (done, answer); fails with the last answer once `limit` seconds have passed."""
    start = time.monotonic()
    probes = 0
    while True:
        probes += 1
        done, answer = probe()
        elapsed = time.monotonic() - start
        if done:
            return elapsed, probes
        if elapsed > limit:
            raise Failure(f"{what}: not seen within {limit:g} s ({probes} probes); last answer: {answer}")
        time.sleep(POLL_PAUSE)


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


# --- steps ------------------------------------------------------------------------------------

delays = {}


def token_from_a_verifies_at_b():
    tokens = login("A")
    access = tokens["access_token"]
    key_set = jwks("B")
    check(kid_of(access) in kids(key_set),
          f"kid {kid_of(access)!r} of a token issued by A is missing from B's JWKS {kids(key_set)}")
    claims = verify_with_jwks(access, key_set, "B")
    answer = introspect("B", access)
    check(answer["active"] is True, f"B's introspection of a live token issued by A: {answer}")
    check(answer.get("jti") == claims["jti"] and answer.get("sub") == claims["sub"],
          f"B's introspection disagrees with the token: token jti/sub {claims['jti']}/{claims['sub']}, answer {answer}")
    algorithm = jwt.get_unverified_header(access)["alg"]
    return f"kid {kid_of(access)} verified with B's JWKS ({algorithm}); B introspects it active"


def refresh_at_b_of_a_token():
    tokens = login("A")
    response = refresh("B", tokens["refresh_token"])
    check(response.status_code == 200, f"refresh at B of a refresh token issued by A: {describe(response)}")
    body = json_of(response)
    check(body.get("refresh_token") and body["refresh_token"] != tokens["refresh_token"],
          f"refresh at B returned no new refresh token: {body}")
    first = verify_with_jwks(tokens["access_token"], jwks("B"), "B")
    second = verify_with_jwks(body["access_token"], jwks("A"), "A")
    check(first.get("sid") == second.get("sid"),
          f"the refreshed token belongs to another session: sid {first.get('sid')} -> {second.get('sid')}")
    # The spent token is refused at A too: the rotation is shared state, not B's memory.
    again = refresh("A", tokens["refresh_token"])
    check(again.status_code == 400 and json_of(again).get("error") == "invalid_grant",
          f"A accepted a refresh token already spent at B: {describe(again)}")
    return "200 with a new refresh token in the same session; A then refuses the spent one"


def concurrent_refreshes_across_nodes():
    tokens = login("A")
    refresh_token = tokens["refresh_token"]
    nodes = ["A", "B"] * (CONCURRENT_REFRESHES // 2)
    sessions = [requests.Session() for _ in nodes]
    for node, session in zip(nodes, sessions):
        # Opens the connection now, so that after the barrier only the refresh itself is sent.
        warm = session.get(f"{NODE_URLS[node]}/healthz", timeout=TIMEOUT)
        check(warm.status_code == 200, f"/healthz of node {node}: {describe(warm)}")
    barrier = threading.Barrier(len(nodes))
    results = [None] * len(nodes)

    def attempt(index):
        try:
            barrier.wait(timeout=TIMEOUT)
            response = refresh(nodes[index], refresh_token, sessions[index])
            try:
                error = response.json().get("error")
            except ValueError:
                error = None
            results[index] = (nodes[index], response.status_code, error, response.text[:200])
        except Exception as error:  # reported below as a failed attempt
            results[index] = (nodes[index], None, None, repr(error))

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in sessions:
        session.close()

    listing = "; ".join(f"{node}:{status} {error or text}" for node, status, error, text in results)
    server_errors = [r for r in results if r[1] is None or r[1] >= 500]
    check(not server_errors, f"server errors or dropped requests: {server_errors} (all: {listing})")
    winners = [r for r in results if r[1] == 200]
    check(len(winners) == 1,
          f"{len(winners)} of {len(nodes)} concurrent refreshes succeeded, expected exactly 1: {listing}")
    losers = [r for r in results if r[1] != 200]
    odd = [r for r in losers if not (r[1] == 400 and r[2] == "invalid_grant")]
    check(not odd, f"refused refreshes must be 400 invalid_grant, got: {odd}")
    half = len(nodes) // 2
    return (f"{len(nodes)} concurrent refreshes ({half} at A, {half} at B): one 200 at node {winners[0][0]}, "
            f"{len(losers)} x 400 invalid_grant")


def revocation_at_a_seen_by_b():
    tokens = login("A")
    access = tokens["access_token"]
    for _ in range(2):  # B has now answered "active" for this jti, so it may hold that in its cache
        answer = introspect("B", access)
        check(answer["active"] is True, f"B's introspection before the revocation: {answer}")
    response = requests.post(f"{NODE_URLS['A']}/oauth2/revoke",
                             data={"token": access, "token_type_hint": "access_token"}, auth=CLIENT, timeout=TIMEOUT)
    check(response.status_code == 200, f"revocation at A: {describe(response)}")

    def inactive_at_b():
        answer = introspect("B", access)
        return answer["active"] is False, answer

    delay, probes = poll(PROPAGATION, inactive_at_b, "B's introspection of the access token revoked at A")
    delays["access-token revocation A -> B introspection"] = (delay, probes)
    check(introspect("A", access)["active"] is False, "A itself still introspects the token it revoked as active")
    return f"B answered active:false {ms(delay)} after A's 200 ({probes} probe{'s' * (probes > 1)})"


def rotation_reaches_both_nodes():
    before_b = kids(jwks("B"))
    before_a = kids(jwks("A"))
    started = time.monotonic()
    process = subprocess.run([SIGNET_BIN, "keys", "rotate", "--force"], capture_output=True, text=True,
                             timeout=60)
    rotated = time.monotonic()
    check(process.returncode == 0,
          f"signet keys rotate --force exited with {process.returncode}: "
          f"{process.stderr.strip() or process.stdout.strip()}")
    lines = dict(line.split(": ", 1) for line in process.stdout.splitlines() if ": " in line)
    current, upcoming = lines.get("current"), lines.get("next")
    check(current and upcoming, f"signet keys rotate printed no current/next kids: {process.stdout!r}")
    check(upcoming not in before_b and upcoming not in before_a,
          f"the new next kid {upcoming} was already published before the rotation (A {before_a}, B {before_b})")
    check(current in before_b, f"the new current kid {current} was not published by B before its first use: {before_b}")

    # One clock for both nodes, started when the rotating process has exited (its commit is done).
    seen = {}
    last = {}

    def now():
        return time.monotonic() - rotated

    def probe():
        if "jwks_b" not in seen:
            last["jwks_b"] = kids(jwks("B"))
            if upcoming in last["jwks_b"]:
                seen["jwks_b"] = now()
        if "sign_a" not in seen:
            token = login("A")["access_token"]
            last["sign_a"] = kid_of(token)
            if last["sign_a"] == current:
                seen["sign_a"] = now()
                seen["token"] = token
        return "jwks_b" in seen and "sign_a" in seen

    while not probe():
        if time.monotonic() - rotated > PROPAGATION:
            missing = []
            if "jwks_b" not in seen:
                missing.append(f"B's JWKS still lacks the new next kid {upcoming} (kids: {last.get('jwks_b')})")
            if "sign_a" not in seen:
                missing.append(f"A still signs with kid {last.get('sign_a')}, not the new current kid {current}")
            raise Failure(f"{PROPAGATION:g} s after `signet keys rotate --force` exited: " + "; ".join(missing))
        time.sleep(POLL_PAUSE)
    delays["key rotation (CLI) -> B's JWKS lists the new next key"] = (seen["jwks_b"], None)
    delays["key rotation (CLI) -> A signs with the new current key"] = (seen["sign_a"], None)

    token = seen["token"]
    key_set = jwks("B")
    check(current in kids(key_set), f"B's JWKS lacks the new current kid {current}: {kids(key_set)}")
    verify_with_jwks(token, key_set, "B")
    answer = introspect("B", token)
    check(answer["active"] is True, f"B's introspection of A's token signed with the new key {current}: {answer}")
    return (f"rotate ran {ms(rotated - started)}; new next {upcoming} in B's JWKS after {ms(seen['jwks_b'])}, "
            f"A signing with {current} after {ms(seen['sign_a'])}; B verifies and introspects it active")


def admin_revocation_at_a_seen_by_b():
    admin = login("A", ADMIN, ADMIN_CLIENT)  # the admin API accepts only admin-audience tokens
    at_a = login("A")
    at_b = login("B")
    user_id = jwt.decode(at_a["access_token"], options={"verify_signature": False})["sub"]
    for name, tokens in (("A", at_a), ("B", at_b)):
        answer = introspect("B", tokens["access_token"])
        check(answer["active"] is True,
              f"B's introspection of the user's token from node {name} before the revocation: {answer}")
    response = requests.post(f"{ADMIN_A}/admin/revocations", json={"user_id": user_id},
                             headers={"Authorization": f"Bearer {admin['access_token']}"}, timeout=TIMEOUT)
    check(response.status_code == 201, f"admin revocation of user {user_id} at A: {describe(response)}")

    def both_inactive():
        answers = {name: introspect("B", tokens["access_token"]) for name, tokens in (("A", at_a), ("B", at_b))}
        done = all(answer["active"] is False for answer in answers.values())
        return done, "; ".join(f"token from node {name}: {answer}" for name, answer in answers.items())

    delay, probes = poll(PROPAGATION, both_inactive,
                         "B's introspection of the user's tokens after A's admin revocation")
    delays["admin user revocation at A -> B introspection"] = (delay, probes)
    for name, tokens in (("A", at_a), ("B", at_b)):
        answer = refresh("B", tokens["refresh_token"])
        check(answer.status_code == 400 and json_of(answer).get("error") == "invalid_grant",
              f"refresh at B of the revoked user's session from node {name}: {describe(answer)}")
    # Introspected by the app client: introspection answers for access tokens of any audience.
    still = introspect("B", admin["access_token"])
    check(still["active"] is True, f"the admin's own token went inactive with the user's revocation: {still}")
    return (f"both of the user's tokens inactive at B {ms(delay)} after A's 201 ({probes} probe{'s' * (probes > 1)}); "
            "their refresh tokens refused at B")


STEPS = [
    ("token issued by A verifies with B's JWKS and introspection", token_from_a_verifies_at_b),
    ("refresh at B of a refresh token issued by A", refresh_at_b_of_a_token),
    (f"{CONCURRENT_REFRESHES} concurrent refreshes of one token across both nodes", concurrent_refreshes_across_nodes),
    ("access-token revocation at A seen by B's introspection", revocation_at_a_seen_by_b),
    ("`signet keys rotate --force` reaches B's JWKS and A's signing", rotation_reaches_both_nodes),
    ("admin revocation of a user at A seen by B", admin_revocation_at_a_seen_by_b),
]


def main():
    for node, url in NODE_URLS.items():
        response = requests.get(f"{url}/.well-known/openid-configuration", timeout=TIMEOUT)
        check(response.status_code == 200, f"discovery of node {node}: {describe(response)}")
        check(json_of(response).get("issuer") == ISSUER,
              f"node {node} announces issuer {json_of(response).get('issuer')!r}, expected {ISSUER!r}")
    passed = failed = 0
    for number, (name, step) in enumerate(STEPS, 1):
        print(f"[{number}] {name} ...", flush=True)
        try:
            detail = step()
        except Failure as error:
            failed += 1
            print(f"[{number}] FAIL: {error}", flush=True)
        except Exception:  # an unexpected error is a failed step, with its traceback
            failed += 1
            print(f"[{number}] FAIL: unexpected error\n{traceback.format_exc()}", flush=True)
        else:
            passed += 1
            print(f"[{number}] ok: {detail}", flush=True)
    if delays:
        print("propagation delays (measured from the end of the action at A / of the CLI process):")
        for what, (delay, probes) in delays.items():
            extra = f", {probes} probe{'s' * (probes > 1)}" if probes else ""
            print(f"  {what}: {ms(delay)}{extra}")
    print(f"twonodes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
