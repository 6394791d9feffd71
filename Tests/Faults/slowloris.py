"""Slow clients against a running signet (slowloris): many connections that send half a request
line and go silent, and one that trickles a body a byte at a time, while /healthz is probed and
the server's CPU time and open sockets are sampled.

Prints the figures as JSON and exits non-zero if a bound is broken:
- every silent connection is closed by the server within the idle timeout plus slack;
- the trickled body's connection is closed within the read timeout plus slack;
- /healthz answers 200 during the attack (queued clients wait, none fails);
- the server never holds more sockets than its connection caps allow, and does not spin
  (CPU time during the attack stays well under one core).
"""
import argparse
import asyncio
import json
import os
import sys
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_sockets(pid):
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


async def silent_connection(host, port):
    """Half a request line, then nothing: seconds until the server closes it (None if never)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /heal")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=60)
        writer.close()
        return time.monotonic() - started, data
    except (ConnectionError, OSError):
        return time.monotonic() - started, b""
    except asyncio.TimeoutError:
        return None, b""


async def trickled_body(host, port):
    """A head announcing 1000 bytes, then one byte every 0.5 s: seconds until it is closed."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 1000\r\n\r\n")
    await writer.drain()
    try:
        for _ in range(120):
            writer.write(b"a")
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=0.5)
                if data == b"" or data.startswith(b"HTTP/"):
                    break
            except asyncio.TimeoutError:
                continue
    except (ConnectionError, OSError):
        pass
    writer.close()
    return time.monotonic() - started


async def healthz(host, port):
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=60)
    writer.close()
    return time.monotonic() - started, data.split(b"\r\n", 1)[0].decode("latin-1")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--idle-timeout", type=float, required=True)
    parser.add_argument("--read-timeout", type=float, required=True)
    parser.add_argument("--fd-limit", type=int, required=True, help="the server's descriptor limit")
    parser.add_argument("--cap", type=int, required=True, help="the public listener's connection cap in force")
    args = parser.parse_args()

    failures = []
    cpu_before, started = cpu_seconds(args.pid), time.monotonic()
    silent = [asyncio.create_task(silent_connection(args.host, args.port)) for _ in range(args.connections)]
    await asyncio.sleep(0.5)
    trickle = asyncio.create_task(trickled_body(args.host, args.port))
    peak_sockets = 0
    probe = asyncio.create_task(healthz(args.host, args.port))
    while not all(task.done() for task in silent + [probe, trickle]):
        peak_sockets = max(peak_sockets, open_sockets(args.pid))
        if time.monotonic() - started > 90:
            failures.append("the attack did not end within 90 s")
            break
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(args.pid) - cpu_before

    closed = [task.result()[0] for task in silent if task.done()]
    never = sum(1 for seconds in closed if seconds is None) + sum(1 for task in silent if not task.done())
    answered = [task.result()[1] for task in silent if task.done() and task.result()[1]]
    if never:
        failures.append(f"{never} silent connections were never closed")
    # Silent connections queue behind the cap and are each closed one idle timeout after acceptance.
    batches = args.connections / max(1, args.cap)
    slack = args.idle_timeout * (batches + 2) + 5
    slowest = max((seconds for seconds in closed if seconds is not None), default=0)
    if slowest > slack:
        failures.append(f"a silent connection stayed open {slowest:.1f} s (bound {slack:.1f} s)")
    if any(not data.startswith(b"HTTP/1.1 4") for data in answered):
        failures.append("a silent connection got something other than a 4xx or a close")
    trickle_seconds = trickle.result() if trickle.done() else None
    if trickle_seconds is None or trickle_seconds > args.read_timeout + slack:
        failures.append(f"the trickled body held its connection {trickle_seconds} s")
    probe_seconds, probe_status = probe.result() if probe.done() else (None, "no answer")
    if "200" not in probe_status:
        failures.append(f"/healthz during the attack: {probe_status}")
    if peak_sockets >= args.fd_limit - 16:
        failures.append(f"the server held {peak_sockets} sockets, at its descriptor limit {args.fd_limit}")
    if cpu > 0.5 * elapsed:
        failures.append(f"the server used {cpu:.1f} s of CPU in {elapsed:.1f} s: spinning")

    print(json.dumps({
        "connections": args.connections, "elapsed_s": round(elapsed, 1), "server_cpu_s": round(cpu, 2),
        "peak_server_sockets": peak_sockets, "slowest_silent_close_s": round(slowest, 1),
        "trickled_body_closed_after_s": trickle_seconds and round(trickle_seconds, 1),
        "healthz_s": probe_seconds and round(probe_seconds, 1), "failures": failures,
    }, indent=2))
    sys.exit(1 if failures else 0)


asyncio.run(main())
