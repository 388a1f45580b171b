"""The simulator's usage knobs: deterministic live traffic, the ticker ``make run`` turns on,
and the fault that fails one page of ``/user/daily/activity``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from litellm_sim import start_in_thread
from litellm_sim.spend import tick_activity
from tests.integration.usage_world import today

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-usage-sim-key-0123456789abcdef"


def new_key(url: str, master: str, key: str = KEY, user_id: str = "u1") -> None:
    answer = requests.post(f"{url}/key/generate", json={"key": key, "user_id": user_id},
                           headers={"Authorization": f"Bearer {master}"}, timeout=5)
    assert answer.status_code == 200, answer.text


def activity(url: str, master: str, page: int = 1, page_size: int = 1000) -> requests.Response:
    return requests.get(f"{url}/user/daily/activity", timeout=5,
                        headers={"Authorization": f"Bearer {master}"},
                        params={"start_date": today().isoformat(),
                                "end_date": today().isoformat(), "page": page,
                                "page_size": page_size})


def test_live_traffic_is_deterministic_by_seed():
    runs = []
    for _ in range(2):
        server = start_in_thread(models=12, seed=5)
        try:
            new_key(server.url, server.master_key)
            with server.state.lock:
                made = tick_activity(server.state, 9, tick=3, seed=5)
                runs.append((made, sorted(map(str, server.state.spend_rows.values()))))
        finally:
            server.stop()

    assert runs[0] == runs[1] and runs[0][0] == 9


def test_fail_page_knob_fails_only_that_page():
    server = start_in_thread(models=12, seed=5)
    try:
        new_key(server.url, server.master_key)
        with server.state.lock:
            tick_activity(server.state, 30, tick=0, seed=5)
        server.configure(activity_fail_page=2)

        first = activity(server.url, server.master_key, page=1, page_size=1)
        second = activity(server.url, server.master_key, page=2, page_size=1)

        assert first.status_code == 200 and first.json()["metadata"]["has_more"]
        assert second.status_code == 500
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_simulator_makes_traffic_when_asked():
    port, master = _free_port(), "sk-sim-auto-master"
    env = {**os.environ, "SIM_ACTIVITY_AUTO": "true", "SIM_ACTIVITY_INTERVAL": "0.2",
           "SIM_ACTIVITY_REQUESTS": "3", "LITELLM_MASTER_KEY": master, "SIM_MODELS": "12"}
    proc = subprocess.Popen([sys.executable, "-m", "litellm_sim", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/health/liveliness", timeout=0.5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        new_key(url, master)

        requests_seen = 0
        while time.monotonic() < deadline and requests_seen < 6:
            time.sleep(0.2)
            requests_seen = activity(url, master).json()["metadata"]["total_api_requests"]

        assert requests_seen >= 6
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
