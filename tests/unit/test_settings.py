import secrets

import pytest
from cryptography.fernet import Fernet

from config.settings import DEV_JWT_SECRET, ConfigError, Settings, load_settings

BASE = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://localhost/0"}


def test_development_defaults_are_valid():
    settings = load_settings({**BASE, "APP_ENV": "development"}).validate()
    assert settings.APP_ENV == "development"
    assert settings.PORT == 8080
    assert settings.mock_auth is True


def test_production_refuses_default_jwt_secret_and_mock_auth():
    env = {**BASE, "APP_ENV": "production", "OAUTH_MOCK": "true"}
    with pytest.raises(ConfigError) as err:
        load_settings(env).validate()
    assert "JWT_SECRET" in str(err.value)
    assert "OAUTH_MOCK=true is refused" in str(err.value)


def test_production_with_complete_settings_starts():
    env = {**BASE, "APP_ENV": "production", "JWT_SECRET": secrets.token_urlsafe(48),
           "OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "s",
           "OAUTH_ISSUER_URL": "https://issuer", "LITELLM_API_KEY": "sk-master",
           "OAUTH_CALLBACK_URL": "https://portal.example.com/api/auth/callback",
           "TRANSIT_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    settings = load_settings(env).validate()
    assert settings.mock_auth is False
    assert settings.JWT_SECRET != DEV_JWT_SECRET


def test_unparsable_values_are_reported_by_name():
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({**BASE, "PORT": "eighty"})
    with pytest.raises(ConfigError, match="OAUTH_MOCK"):
        load_settings({**BASE, "OAUTH_MOCK": "maybe"})


def test_missing_database_url_is_an_error():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings(REDIS_URL="redis://x").validate()


def test_lists_are_comma_separated():
    settings = load_settings({**BASE, "ADMIN_API_KEYS": "a, b,,c"})
    assert settings.ADMIN_API_KEYS == ("a", "b", "c")
