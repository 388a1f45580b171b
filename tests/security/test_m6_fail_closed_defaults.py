"""M6 — defaults fail closed: unset APP_ENV means production (no mock sign-in); `make run`
opts into development explicitly; .env.example does not enable mock sign-in; docker compose
refuses to start with placeholder secrets and does not publish LiteLLM's admin port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app import devstack
from config.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://localhost/0"}
SECRETS = ("JWT_SECRET", "LITELLM_MASTER_KEY", "FLOWER_BASIC_AUTH")


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = re.split(r"\s+#", value, maxsplit=1)[0].strip()
    return values


def test_unset_app_env_means_production_without_mock_sign_in():
    settings = load_settings(BASE)
    assert settings.APP_ENV == "production"
    assert settings.mock_auth is False
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        settings.validate()  # and production's requirements apply


def test_make_run_opts_into_development(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    for name, value in {**BASE, "LITELLM_API_URL": "http://127.0.0.1:1",
                        "JWT_SECRET": "j" * 40, "FLOWER_BASIC_AUTH": "a:b"}.items():
        monkeypatch.setenv(name, value)
    env, children = devstack.prepare_environment()
    assert children == []
    assert env["APP_ENV"] == "development"
    assert load_settings(env).mock_auth is True


def test_env_example_does_not_enable_mock_sign_in():
    values = _env_example()
    settings = load_settings({**values, **BASE})
    assert settings.mock_auth is False
    assert values.get("OAUTH_MOCK", "false").lower() in ("", "false", "0", "no")
    assert not values.get("JWT_SECRET"), "no usable example secret"
    assert "change-me" not in (ROOT / ".env.example").read_text()


def test_compose_refuses_placeholder_secrets_and_hides_litellm():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    assert "change-me" not in text
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        assert all(use.startswith(":?") for use in uses), (name, uses)
    litellm = compose["services"]["litellm"]
    assert "ports" not in litellm  # its admin API stays on the compose network
    web_env = compose["x-app"]["environment"]
    assert web_env["JWT_SECRET"].startswith("${JWT_SECRET:?")
    assert web_env["APP_ENV"] == "${APP_ENV:-production}"
