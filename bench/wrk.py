"""HTTP load with ``wrk`` (a C load generator: the load does not take a core from the server
the way a Python client does), plus the machine-is-idle check every figure goes through.

``run(url, ...)`` → {"rps", "requests", "latency_ms": {p50, p75, p90, p99, max}, "statuses",
"errors", "load_before": {...}}. Varied URLs (a different search, filter or page on every
request, as a UI produces) come from ``paths``: a Lua script picks one per request.

``idle_check()`` samples the CPU for a second: if less than ``BENCH_MIN_IDLE_PCT`` (default 80)
percent of the machine is idle while the benchmark's own processes are idle, someone else is
using it; it waits up to ``BENCH_IDLE_WAIT`` seconds (default 60) for that to pass. The
answer, with the 1-minute load average, is recorded before each figure; a figure taken on a
busy machine makes ``make bench`` refuse to write its results.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

MIN_IDLE_PCT = float(os.environ.get("BENCH_MIN_IDLE_PCT", "80"))
IDLE_WAIT_S = float(os.environ.get("BENCH_IDLE_WAIT", "60"))
THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))


class MachineBusy(RuntimeError):
    """Figures were taken while other work used the machine: they would not mean anything."""


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields)


def idle_percent(seconds: float = 1.0) -> float:
    idle0, total0 = _cpu_times()
    time.sleep(seconds)
    idle1, total1 = _cpu_times()
    return 100.0 * (idle1 - idle0) / max(1, total1 - total0)


def idle_check(wait: float | None = None) -> dict:
    """Wait (up to ``wait`` s) for an idle machine; returns what was seen (``busy`` if not)."""
    wait = IDLE_WAIT_S if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        idle = idle_percent()
        if idle >= MIN_IDLE_PCT or time.monotonic() >= deadline:
            return {"load_average_1m": round(os.getloadavg()[0], 2), "idle_pct": round(idle, 1),
                    "busy": idle < MIN_IDLE_PCT}


def binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: run `make bench` (it installs it) or "
                           "`apt-get install wrk`")
    return found


_SCRIPT = r"""
local paths = {%(paths)s}
local counter = 0
%(setup)s
request = function()
    counter = counter + 1
    return wrk.format(nil, paths[(counter %% #paths) + 1])
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(url: str, *, seconds: float, connections: int, paths: list[str] | None = None,
        method: str = "GET", headers: list[str] | None = None, body: str | None = None,
        check_idle: bool = True) -> dict:
    """One wrk run against ``url`` (scheme://host:port/path); ``paths`` vary the path."""
    load = idle_check() if check_idle else None
    match = re.match(r"^(https?://[^/]+)(/.*)?$", url)
    base, path = match[1], match[2] or "/"
    setup = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        setup.append(f"wrk.body = {_lua_string(body)}")
    for header in headers or []:
        name, _, value = header.partition(":")
        setup.append(f"wrk.headers[{_lua_string(name.strip())}] = {_lua_string(value.strip())}")
    if body is not None:
        setup.append('wrk.headers["Content-Type"] = "application/json"')
    script = _SCRIPT % {"paths": ", ".join(_lua_string(p) for p in (paths or [path])),
                        "setup": "\n".join(setup)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        threads = max(1, min(THREADS, connections))
        done = subprocess.run(
            [binary(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
             "--timeout", "10s", "--latency", "-s", handle.name, base + path],
            capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return {**parse(done.stdout), "load_before": load, "raw": done.stdout[-1500:]}


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)$", text).groups()
    return round(float(number) * _UNITS[unit], 3)


def parse(output: str) -> dict:
    """wrk's text report → figures."""
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M))
    requests = int(re.search(r"^\s+(\d+) requests in", output, re.M)[1])
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    latency_max = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "requests": requests,
        "latency_ms": {**{f"p{k}": _ms(v) for k, v in percentiles.items()},
                       "max": _ms(latency_max[1]) if latency_max else None},
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }
