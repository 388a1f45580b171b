"""HTTP load generator: N keep-alive connections hammer one URL for a fixed time.

``python -m bench.http_load URL [--connections 32] [--duration 15] [--header 'K: V']
[--method POST --body '{}']`` prints JSON: requests, requests per second, latency percentiles
(ms), status counts, errors. Written on asyncio streams with a minimal HTTP/1.1 client so the
generator costs little CPU next to the server it measures (this machine has 2 cores). Loopback
only: the URL must name 127.0.0.1 or localhost. Bounded: it stops after ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.harness import latency_summary

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Target:
    host: str
    port: int
    request: bytes  # the bytes of one request, sent again and again

    @classmethod
    def build(cls, url: str, method: str = "GET", headers: list[str] | None = None,
              body: str | None = None) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("only http:// URLs on the loopback interface are allowed")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}",
                 "Connection: keep-alive", "Accept: application/json"]
        lines += headers or []
        payload = (body or "").encode()
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        return cls(parts.hostname, parts.port or 80, raw)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0

    def error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") != "close"


async def _connection(target: Target, deadline: float, measure_from: float,
                      tally: Tally) -> None:
    writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(target.host, target.port)
            started = time.perf_counter()
            writer.write(target.request)
            status, keep_alive = await _read_response(reader)
            finished = time.perf_counter()
            if started >= measure_from:
                tally.latencies_ms.append((finished - started) * 1000)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if not keep_alive:
                writer.close()
                writer = None
                tally.reconnects += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            if time.perf_counter() >= measure_from:
                tally.error(exc)
            if writer is not None:
                writer.close()
            writer = None
            tally.reconnects += 1
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run_load(target: Target, connections: int, duration: float,
                   warmup: float = 1.0) -> dict:
    """Keep ``connections`` connections busy for ``warmup + duration`` seconds; only requests
    started after the warm-up count."""
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + duration
    tally = Tally()
    await asyncio.gather(*(_connection(target, deadline, measure_from, tally)
                           for _ in range(connections)))
    measured = time.perf_counter() - measure_from
    ok = sum(n for status, n in tally.statuses.items() if 200 <= status < 400)
    return {
        "connections": connections,
        "duration_s": round(measured, 3),
        "requests": len(tally.latencies_ms),
        "ok_requests": ok,
        "rps": round(ok / measured, 1) if measured > 0 else 0.0,
        "latency_ms": latency_summary(tally.latencies_ms),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "reconnects": tally.reconnects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[],
                        help="'Name: value', repeatable")
    parser.add_argument("--body", default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 1024 or not 0 < args.duration <= 120:
        parser.error("connections must be 1..1024 and duration 0..120 s")
    target = Target.build(args.url, args.method, args.header, args.body)
    result = asyncio.run(run_load(target, args.connections, args.duration, args.warmup))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
