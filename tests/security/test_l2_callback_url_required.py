"""L2 — the Host header must not set the OAuth redirect_uri: OAUTH_CALLBACK_URL is required in
production, and a configured one is used whatever Host says."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet

from config.settings import ConfigError, load_settings
from tests.support.apps import extra_app
from tests.support.sign_in import oidc_settings

pytestmark = pytest.mark.usefixtures("fresh_provider")

PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "postgresql://x/y",
              "REDIS_URL": "redis://localhost/0", "JWT_SECRET": secrets.token_urlsafe(48),
              "OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "s",
              "OAUTH_ISSUER_URL": "https://issuer", "LITELLM_API_KEY": "sk-master",
              "TRANSIT_ENCRYPTION_KEY": Fernet.generate_key().decode()}


def test_production_requires_oauth_callback_url():
    with pytest.raises(ConfigError, match="OAUTH_CALLBACK_URL"):
        load_settings(PRODUCTION).validate()
    configured = {**PRODUCTION, "OAUTH_CALLBACK_URL": "https://portal.example.com/api/auth/callback"}
    assert load_settings(configured).validate()


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/auth/login"])
def test_a_forged_host_header_does_not_choose_the_redirect_uri(settings, provider, path):
    callback = "https://portal.example.com/api/auth/callback"
    with extra_app(settings, OAUTH_CALLBACK_URL=callback, **oidc_settings(provider)) as app:
        client = app.test_client()
        headers = {"Host": "evil.example.net"}
        if path.startswith("/api/v1"):
            location = client.get(path, headers=headers).headers["Location"]
        else:
            location = client.post(path, json={}, headers=headers).get_json()["authUrl"]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [callback]
