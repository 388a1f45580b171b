"""`make run` stops cleanly on SIGTERM and SIGHUP, embedded PostgreSQL and Redis included, and
starts again at once; a taken port is named before anything starts; two gunicorns on a host
do not share a control socket.

The stack runs under a data directory of the test's own (LITEMAAS_DATA_DIR) on free ports,
with embedded servers (no DATABASE_URL / REDIS_URL / LITELLM_API_URL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app import devstack
from tests.reliability.support import ROOT, free_port
from tests.support.processes import processes_under

pytestmark = pytest.mark.slow


def _stack_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "LITELLM_API_URL", "APP_ENV",
                        "PROMETHEUS_MULTIPROC_DIR")}
    return {**env, "LITEMAAS_DATA_DIR": str(data), "PORT": str(free_port()),
            "FLOWER_PORT": str(free_port()), "SIM_PORT": str(free_port()),
            "EMBEDDED_REDIS_PORT": str(free_port()), "WEB_CONCURRENCY": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(data / "prometheus"),
            "MODEL_SYNC_ON_START": "false", "SIM_ACTIVITY_AUTO": "false",
            "USAGE_ROLLUP_INTERVAL": "0", "LOG_LEVEL": "WARNING"}


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.devstack"], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_ready(proc: subprocess.Popen, env: dict[str, str], log: Path,
                timeout: float = 180) -> None:
    url = f"http://127.0.0.1:{env['PORT']}/api/v1/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"make run did not come up:\n{log.read_text()[-3000:]}")


def _assert_all_gone(proc: subprocess.Popen, data: Path, env: dict[str, str], log: Path):
    assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 15
    while processes_under(data) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_under(data) == [], log.read_text()[-2000:]
    for name in ("PORT", "FLOWER_PORT", "SIM_PORT", "EMBEDDED_REDIS_PORT"):
        assert not devstack.port_in_use(int(env[name])), name


def _kill_leftovers(data: Path) -> None:
    import psutil

    for line in processes_under(data):
        pid = int(line.split()[0])
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


@pytest.fixture
def stack_dir(tmp_path):
    data = tmp_path / "data"
    yield data
    _kill_leftovers(data)  # only if the test failed: it asserts there are none


def test_sigterm_to_the_process_group_then_sighup_stop_everything(stack_dir, tmp_path):
    env, log = _stack_env(stack_dir), tmp_path / "run.log"
    first = _start(env, log)
    try:
        _wait_ready(first, env, log)
        os.killpg(first.pid, signal.SIGTERM)  # kill, systemd, docker stop, a CI runner
        _assert_all_gone(first, stack_dir, env, log)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)

    second = _start(env, log)  # same ports, same data: it starts
    try:
        _wait_ready(second, env, log)
        os.kill(second.pid, signal.SIGHUP)  # the terminal closed: only the parent is told
        _assert_all_gone(second, stack_dir, env, log)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    assert "Traceback" not in log.read_text()


def test_a_taken_port_is_named_before_anything_starts(stack_dir, tmp_path):
    env = _stack_env(stack_dir)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", int(env["PORT"])))
        taken.listen()
        done = subprocess.run([sys.executable, "-m", "app.devstack"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"port {env['PORT']} (web) is already in use" in done.stderr
    assert "PORT=" in done.stderr and "Traceback" not in done.stderr
    assert processes_under(stack_dir) == []


def test_the_default_redis_port_taken_picks_a_free_one(monkeypatch, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(devstack, "DEFAULT_REDIS_PORT", busy)
        port = devstack._redis_port({})
    assert port != busy and not devstack.port_in_use(port)
    assert f"127.0.0.1:{port} instead" in capsys.readouterr().err
    with pytest.raises(devstack.PortTaken, match="EMBEDDED_REDIS_PORT"), socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        devstack.embedded_redis_url(str(ROOT / ".data/never"), port=s.getsockname()[1])


def test_two_gunicorns_keep_no_shared_control_socket(settings, app, tmp_path):
    """Each gunicorn has its own control socket or none: none by default (the default path is
    one per user), the one GUNICORN_CONTROL_SOCKET names otherwise."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "APP_ENV": "test",
           "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
           "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX, "WEB_CONCURRENCY": "1",
           "MODEL_SYNC_ON_START": "false", "LOG_LEVEL": "WARNING",
           "LITELLM_API_URL": settings.LITELLM_API_URL,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    env.pop("XDG_RUNTIME_DIR", None)
    own = tmp_path / "second.ctl"
    servers, ports = [], [free_port(), free_port()]
    try:
        for port, extra in zip(ports, ({}, {"GUNICORN_CONTROL_SOCKET": str(own)}), strict=True):
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind",
                 f"127.0.0.1:{port}", "app:create_app()"], cwd=ROOT,
                env={**env, "PORT": str(port), **extra},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, server in zip(ports, servers, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, "gunicorn exited"
                try:
                    requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                    break
                except requests.RequestException:
                    assert time.monotonic() < deadline, "gunicorn did not come up"
                    time.sleep(0.3)
        assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
        assert own.exists()
        servers[0].terminate()
        servers[0].wait(timeout=30)
        assert own.exists()  # the first one's exit leaves the second's socket alone
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
    assert not own.exists()  # its own is removed with it
