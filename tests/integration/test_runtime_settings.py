"""Runtime settings (``/admin/settings/*``): API key defaults and maximums enforced on every
key path as soon as they are saved, new-user defaults applied at first sign-in and pushed to
LiteLLM, the currency shown by ``/config``; cached per process yet never stale after a write."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditLog, User
from app.services import key_defaults, settings
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
    user_id,
)
from tests.support.jobs import settle_jobs, wait_for_job

OPEN = "gpt-4o"
KEYS = "/api/v1/admin/settings/api-key-defaults"
LIMITS = {"defaults": {"maxBudget": 5, "tpmLimit": 100, "rpmLimit": 10, "budgetDuration": "monthly",
                       "softBudget": 4, "expirationDays": 30},
          "maximums": {"maxBudget": 50, "tpmLimit": 1000, "rpmLimit": 20, "expirationDays": 60}}


@pytest.fixture
def admin(login):
    return login("admin")


def test_api_key_limits_saved_at_runtime_are_served_and_enforced(app, client, login, sim,
                                                               admin):
    assert client.get(KEYS, headers=login("adminro")).get_json()["maximums"]["maxBudget"] is None
    saved = client.put(KEYS, json=LIMITS, headers=admin)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json() == {**LIMITS, "defaults": {**LIMITS["defaults"]}}
    public = client.get("/api/v1/config/api-key-defaults").get_json()
    assert public == LIMITS  # what the user's key dialog pre-fills and checks
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, OPEN)
    key = create_key(client, user, [OPEN])
    assert (key["maxBudget"], key["tpmLimit"], key["rpmLimit"]) == (5, 100, 10)
    assert key["budgetDuration"] == "monthly" and key["expiresAt"]
    over = create_key(client, user, [OPEN], expect=400, maxBudget=51)
    assert "maxBudget" in over["error"]["details"]["fields"]
    edit = client.patch(f"/api/v1/api-keys/{key['id']}", json={"tpmLimit": 1001}, headers=user)
    assert edit.status_code == 400
    # lowered again: the very next request obeys (no stale cache)
    client.put(KEYS, json={**LIMITS, "maximums": {**LIMITS["maximums"], "maxBudget": 6}},
               headers=admin)
    create_key(client, user, [OPEN], expect=400, maxBudget=7)
    with app.app_context():
        row = db.session.scalar(select(AuditLog).where(
            AuditLog.action == "SETTINGS_API_KEY_DEFAULTS_UPDATED"))
        assert row.details["after"]["maximums"]["max_budget"] == 50


def test_a_default_above_its_maximum_is_refused(client, admin):
    body = {"defaults": {"maxBudget": 60}, "maximums": {"maxBudget": 50}}
    response = client.put(KEYS, json=body, headers=admin)
    assert response.status_code == 400
    assert "defaults.maxBudget" in response.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize("body", [
    {}, {"defaults": {}}, {"defaults": {"maxBudget": -1}, "maximums": {}},
    {"defaults": {"tpmLimit": 1.5}, "maximums": {}},
    {"defaults": {"budgetDuration": "forever"}, "maximums": {}},
    {"defaults": {"expirationDays": 0}, "maximums": {}},
    {"defaults": {}, "maximums": {"softBudget": 1}},
    {"defaults": {"maxBudget": "NaN"}, "maximums": {}},
    {"defaults": {}, "maximums": {}, "extra": 1},
])
def test_bad_key_limits_are_400(client, admin, body):
    response = client.put(KEYS, json=body, headers=admin)
    assert response.status_code == 400, body
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_user_defaults_apply_to_new_users_and_litellm(app, client, login, sim, celery_worker,
                                                      admin):
    view = client.get("/api/v1/admin/settings/user-defaults", headers=admin).get_json()
    assert view["maxBudget"] is None
    assert view["envDefaults"]["maxBudget"] == app.config["DEFAULT_USER_MAX_BUDGET"]
    saved = client.put("/api/v1/admin/settings/user-defaults", headers=admin,
                       json={"maxBudget": 12.5, "tpmLimit": 4321, "rpmLimit": None})
    assert saved.status_code == 200
    assert saved.get_json() == {"maxBudget": 12.5, "tpmLimit": 4321, "rpmLimit": None}
    newcomer = login("newcomer")
    newcomer_id = user_id(client, newcomer)
    with app.app_context():
        user = db.session.get(User, newcomer_id)
        assert (float(user.max_budget), user.tpm_limit, user.rpm_limit) == (12.5, 4321, None)
        job = db.session.scalar(text("SELECT id FROM jobs WHERE kind = 'provision_user' "
                                     "AND params->>'user_id' = :id"), {"id": newcomer_id})
    assert wait_for_job(client, admin, job)["status"] == "succeeded"
    remote = sim.state.users[newcomer_id]
    assert (remote["max_budget"], remote["tpm_limit"]) == (12.5, 4321)
    assert remote["rpm_limit"] == app.config["DEFAULT_USER_RPM_LIMIT"]
    admin_row = client.get(f"/api/v1/admin/users/{user_id(client, admin)}",
                           headers=admin).get_json()
    assert admin_row["ownLimits"]["maxBudget"] is None  # existing users keep theirs
    assert admin_row["maxBudget"] == app.config["DEFAULT_USER_MAX_BUDGET"]


@pytest.mark.parametrize("body", [{"maxBudget": -1}, {"tpmLimit": "x"}, {"rpmLimit": 2.5},
                                  {"budgetDuration": "1d"}, {"maxBudget": "Infinity"}])
def test_bad_user_defaults_are_400(client, admin, body):
    response = client.put("/api/v1/admin/settings/user-defaults", json=body, headers=admin)
    assert response.status_code == 400, body


def test_currency_is_chosen_at_runtime_and_served_by_config(app, client, login, admin):
    assert client.get("/api/v1/config").get_json()["currency"]["code"] == "USD"
    supported = client.get("/api/v1/admin/settings/currency/supported",
                           headers=login("adminro")).get_json()
    assert {"code": "EUR", "symbol": "€", "name": "Euro"} in supported
    saved = client.put("/api/v1/admin/settings/currency", json={"code": "eur"}, headers=admin)
    assert saved.status_code == 200
    assert saved.get_json() == {"code": "EUR", "symbol": "€", "name": "Euro"}
    assert client.get("/api/v1/config").get_json()["currency"]["code"] == "EUR"
    assert client.get("/api/v1/admin/settings/currency", headers=admin).get_json()["code"] == "EUR"
    custom = client.put("/api/v1/admin/settings/currency", headers=admin,
                        json={"code": "GBP", "symbol": "GBP", "name": "Pound sterling"})
    assert custom.get_json()["name"] == "Pound sterling"
    with app.app_context():
        assert db.session.scalar(select(AuditLog).where(
            AuditLog.action == "SETTINGS_CURRENCY_UPDATED")) is not None


@pytest.mark.parametrize("body", [{}, {"code": "XXX"}, {"code": "EURO"}, {"code": "EUR",
                                  "symbol": "<script>"}, {"code": "EUR", "name": ""},
                                  {"code": "EUR", "symbol": "123456"}, {"code": 978}])
def test_bad_currency_is_400(client, admin, body):
    response = client.put("/api/v1/admin/settings/currency", json=body, headers=admin)
    assert response.status_code == 400, body


def test_readonly_admin_and_users_cannot_change_settings(client, login):
    for who in ("adminro", "user"):
        headers = login(who)
        for path, body in ((KEYS, LIMITS), ("/api/v1/admin/settings/user-defaults", {}),
                           ("/api/v1/admin/settings/currency", {"code": "EUR"})):
            assert client.put(path, json=body, headers=headers).status_code == 403, (who, path)
    assert client.get(KEYS, headers=login("user")).status_code == 403


def test_cache_follows_writes_from_anywhere(app, client, admin):
    """A write that bypasses the service (another process, psql) is seen at the next read:
    the cache is keyed by the version token the table's trigger bumps."""
    with app.app_context():
        assert settings.currency()["code"] == "USD"
        settings.currency()  # cached now
        db.session.execute(text("INSERT INTO settings (key, value) VALUES ('currency', "
                                "'{\"code\": \"JPY\", \"symbol\": \"¥\", \"name\": \"Yen\"}')"))
        db.session.commit()
        assert settings.currency()["code"] == "JPY"
        db.session.execute(text("DELETE FROM settings WHERE key = 'currency'"))
        db.session.commit()
        assert settings.currency()["code"] == "USD"
        assert key_defaults.api_key_defaults() == key_defaults.env_api_key_defaults()


@pytest.fixture(autouse=True)
def _settle(request, app):
    yield
    if "celery_worker" in request.fixturenames:
        settle_jobs(app)
