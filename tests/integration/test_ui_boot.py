"""What the upstream web UI reads before and after sign-in: /config, /config/admin-analytics,
/config/api-key-defaults, /branding and /banners answer (public, the shapes the UI reads), and
the key defaults and maximums are one place that the server enforces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.errors import ValidationError
from app.services.key_defaults import api_key_defaults, check_maximums, with_defaults
from tests.support.apps import extra_app


def test_config_tells_the_ui_how_to_sign_in_and_where_litellm_is(client, settings):
    response = client.get("/api/v1/config")
    assert response.status_code == 200
    body = response.get_json()
    assert body["authMode"] == "mock"  # APP_ENV=test: mock sign-in is on
    assert body["authProvider"] == "openshift"
    assert body["version"] == "1.0.0" and body["environment"] == "development"
    assert body["litellmApiUrl"] == settings.LITELLM_API_URL.rstrip("/")
    assert body["currency"] == {"code": "USD", "symbol": "$", "name": "US Dollar"}
    assert body["usageCacheTtlMinutes"] >= 1


def test_config_names_litellms_public_url_and_oauth_mode(settings):
    with extra_app(settings, LITELLM_PUBLIC_URL="https://llm.example.com/", OAUTH_MOCK=False,
                   OAUTH_PROVIDER="oidc") as other:
        body = other.test_client().get("/api/v1/config").get_json()
    assert body["litellmApiUrl"] == "https://llm.example.com"
    assert (body["authMode"], body["authProvider"]) == ("oauth", "oidc")


def test_admin_analytics_config_has_every_section_the_ui_reads(client):
    body = client.get("/api/v1/config/admin-analytics").get_json()
    assert set(body) == {"pagination", "topLimits", "dateRangeLimits", "warnings", "trends",
                         "export"}
    assert body["pagination"]["maxPageSize"] == 100  # what the admin usage pagers accept
    assert body["dateRangeLimits"]["maxAnalyticsDays"] == 366


def test_branding_answers_the_defaults_and_banners_an_empty_list(client):
    branding = client.get("/api/v1/branding")
    assert branding.status_code == 200
    assert branding.get_json()["loginTitleEnabled"] is False
    assert branding.get_json()["updatedAt"] is None
    banners = client.get("/api/v1/banners")
    assert (banners.status_code, banners.get_json()) == (200, [])


def test_boot_routes_are_not_rate_limited(settings):
    with extra_app(settings, RATE_LIMIT_ANONYMOUS=2) as limited:
        client = limited.test_client()
        statuses = {client.get(path).status_code for _ in range(3)
                    for path in ("/api/v1/config", "/api/v1/branding", "/api/v1/banners")}
        assert statuses == {200}
        assert {client.get("/api/v1/auth/config").status_code for _ in range(3)} == {200, 429}


def test_boot_routes_refuse_unknown_methods_in_the_envelope(client):
    response = client.post("/api/v1/config", json={})
    assert response.status_code == 405
    assert set(response.get_json()) == {"error"}


KEY_LIMITS = {"API_KEY_DEFAULT_MAX_BUDGET": 25.0, "API_KEY_DEFAULT_TPM_LIMIT": 1000,
              "API_KEY_DEFAULT_BUDGET_DURATION": "monthly", "API_KEY_DEFAULT_EXPIRATION_DAYS": 30,
              "API_KEY_MAX_BUDGET": 100.0, "API_KEY_MAX_RPM_LIMIT": 60,
              "API_KEY_MAX_EXPIRATION_DAYS": 90}


@pytest.fixture
def limited_app(settings):
    with extra_app(settings, **KEY_LIMITS) as app:
        yield app


def test_api_key_defaults_come_from_the_settings(limited_app, client):
    body = limited_app.test_client().get("/api/v1/config/api-key-defaults").get_json()
    assert body["defaults"] == {"maxBudget": 25.0, "tpmLimit": 1000, "rpmLimit": None,
                                "budgetDuration": "monthly", "softBudget": None,
                                "expirationDays": 30}
    assert body["maximums"] == {"maxBudget": 100.0, "tpmLimit": None, "rpmLimit": 60,
                                "expirationDays": 90}
    unset = client.get("/api/v1/config/api-key-defaults").get_json()
    assert set(unset["defaults"].values()) == {None} and set(unset["maximums"].values()) == {None}


def test_key_defaults_fill_a_new_key_and_maximums_cap_what_is_asked(limited_app):
    with limited_app.app_context():
        filled = with_defaults({"name": "k", "rpm_limit": 10})
        assert filled["max_budget"] == Decimal("25.0") and filled["tpm_limit"] == 1000
        assert filled["budget_duration"] == "monthly" and filled["rpm_limit"] == 10
        assert abs(filled["expires_at"] - (datetime.now(UTC) + timedelta(days=30))) < timedelta(
            minutes=1)
        with pytest.raises(ValidationError) as over:
            check_maximums({"max_budget": Decimal("500"), "rpm_limit": 61,
                            "expires_at": datetime.now(UTC) + timedelta(days=365)},
                           expiry_given=True)
        assert set(over.value.details["fields"]) == {"maxBudget", "rpmLimit", "expiresAt"}
        check_maximums({"max_budget": Decimal("100"), "rpm_limit": 60}, expiry_given=False)
        assert api_key_defaults()["maximums"]["max_budget"] == 100.0
