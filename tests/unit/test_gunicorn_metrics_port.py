"""config/gunicorn.py's METRICS_PORT: empty (as .env.example ships it) or 0 means no separate
metrics bind; it must not crash gunicorn's when_ready hook."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["", "0"])
def test_an_empty_or_zero_metrics_port_binds_nothing(monkeypatch, tmp_path, value):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    monkeypatch.setenv("METRICS_PORT", value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "config" / "gunicorn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = []
    monkeypatch.setattr("prometheus_client.start_http_server",
                        lambda *a, **k: started.append((a, k)))
    assert module.when_ready(None) is None
    assert started == []
