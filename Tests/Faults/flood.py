"""Login flood against a running signet: N concurrent password logins from raw sockets while
/healthz, the JWKS and a refresh are probed, and the server's resident memory is sampled.

Prints the figures as JSON and exits non-zero if a bound is broken:
- resident memory (VmHWM) stays under threads x Argon2 memory + 100 MiB;
- every login answer is 200 or 503 (+ Retry-After): no other status, no dropped connection;
- /healthz, the JWKS and refresh keep answering 200 during the flood;
- afterwards every account of the flood can log in (shed or timed-out logins lock no one out).
"""
import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
import urllib.parse


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def request(host, port, method, path, body=b"", headers=None):
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    response_headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return status, response_headers, payload


async def main():
    parser = argparse.ArgumentParser()
    for name in ("host", "client", "secret", "user", "password"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--logins", type=int, default=1000)
    # Logins of one account run one at a time (and are shed past a few waiting), so the flood
    # is spread over accounts --user-0 ... --user-(N-1) to reach the hashing queue itself.
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--argon2-kib", type=int, required=True)
    args = parser.parse_args()

    auth = "Basic " + base64.b64encode(f"{args.client}:{args.secret}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}
    def body_for(user):
        return urllib.parse.urlencode({"grant_type": "password", "username": user, "password": args.password}).encode()

    users = [args.user] if args.users == 1 else [f"{args.user}-{index}" for index in range(args.users)]
    login_body = body_for(users[0])

    status, _, payload = await request(args.host, args.port, "POST", "/oauth2/token", login_body, form)
    assert status == 200, payload
    refresh_token = json.loads(payload)["refresh_token"]
    idle_rss = rss_kib(args.pid, "VmRSS")

    async def login(index=0):
        try:
            status, headers, _ = await request(
                args.host, args.port, "POST", "/oauth2/token", body_for(users[index % len(users)]), form)
            return status, headers.get("retry-after")
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            return f"dropped: {error}", None

    probes = {"healthz": [], "jwks": [], "refresh": []}
    failures = []
    flood_done = asyncio.Event()

    async def probe():
        nonlocal refresh_token
        while not flood_done.is_set():
            for name, call in (
                ("healthz", lambda: request(args.host, args.port, "GET", "/healthz")),
                ("jwks", lambda: request(args.host, args.port, "GET", "/.well-known/jwks.json")),
                ("refresh", lambda: request(args.host, args.port, "POST", "/oauth2/token", urllib.parse.urlencode(
                    {"grant_type": "refresh_token", "refresh_token": refresh_token}).encode(), form)),
            ):
                start = time.perf_counter()
                status, _, payload = await call()
                probes[name].append((time.perf_counter() - start) * 1000)
                if status != 200:
                    failures.append(f"{name} answered {status} during the flood")
                elif name == "refresh":
                    refresh_token = json.loads(payload)["refresh_token"]
            await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    start = time.perf_counter()
    results = await asyncio.gather(*(login(index) for index in range(args.logins)))
    flood_seconds = time.perf_counter() - start
    flood_done.set()
    await prober
    peak_rss = rss_kib(args.pid, "VmHWM")
    # Logins the server turned away or gave up on were never judged: no account may be locked by them.
    for user in users:
        status, _, payload = await request(args.host, args.port, "POST", "/oauth2/token", body_for(user), form)
        if status != 200:
            failures.append(f"after the flood, {user} could not log in: {status} {payload[:120]!r}")

    statuses = [status for status, _ in results]
    bound_kib = args.threads * args.argon2_kib + 100 * 1024
    for status, retry_after in results:
        if status == 503 and retry_after is None:
            failures.append("503 without Retry-After")
        elif status not in (200, 503):
            failures.append(f"login answered {status}")
    if peak_rss > bound_kib:
        failures.append(f"peak RSS {peak_rss} KiB exceeds {bound_kib} KiB")
    if statuses.count(200) == 0:
        failures.append("no login succeeded")

    def summary(samples):
        samples = sorted(samples)
        return {"n": len(samples), "p50_ms": round(statistics.median(samples), 2),
                "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2)} if samples else {}

    report = {
        "logins": args.logins, "flood_seconds": round(flood_seconds, 2),
        "ok": statuses.count(200), "shed_503": statuses.count(503), "shed_share": round(statuses.count(503) / len(statuses), 3),
        "idle_rss_mib": round(idle_rss / 1024, 1), "peak_rss_mib": round(peak_rss / 1024, 1), "bound_mib": round(bound_kib / 1024, 1),
        "healthz": summary(probes["healthz"]), "jwks": summary(probes["jwks"]), "refresh": summary(probes["refresh"]),
        "failures": sorted(set(failures)),
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if failures else 0)


asyncio.run(main())
