"""Bad input on every kind of write: oversized bodies (413), wrong content types (415),
invalid UUIDs, negative budgets, far-future expiry, unusable unicode and very long names,
SQL/HTML in stored names — each answered with a 4xx in the error envelope, and nothing stored
(row counts checked before and after)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, AuditLog, Subscription, Team, User
from tests.integration.provisioning_support import seed_models, subscribe

TABLES = (ApiKey, Team, Subscription, User)


@pytest.fixture
def world(app, client, login, sim):
    models = seed_models(app, sim, count=2)
    user, admin = login("user"), login("admin")
    subscribe(client, user, models[0])
    user_id = client.get("/api/v1/auth/me", headers=user).get_json()["id"]
    return {"user": user, "admin": admin, "model": models[0], "user_id": user_id}


def counts(app) -> dict[str, int]:
    with app.app_context():
        found = {t.__tablename__: db.session.scalar(select(func.count()).select_from(t))
                 for t in TABLES}
        db.session.remove()
    return found


def refused(response, *statuses: int) -> dict:
    assert response.status_code in (statuses or range(400, 500)), (response.status_code,
                                                                   response.get_data())
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"].isupper()
    assert isinstance(body["error"]["message"], str) and "details" in body["error"]
    return body["error"]


def key_body(world, **fields):
    return {"name": "k", "modelIds": [world["model"]], **fields}


def test_oversized_bodies_are_413_and_store_nothing(app, client, world):
    before = counts(app)
    huge = "x" * (2 * 1024 * 1024)  # twice the default MAX_CONTENT_LENGTH (1 MiB)
    for path, headers in (("/api/v1/api-keys", world["user"]),
                          ("/api/v1/teams", world["admin"])):
        refused(client.post(path, data=json.dumps({"name": huge}), headers=headers,
                            content_type="application/json"), 413)
    assert counts(app) == before


@pytest.mark.parametrize("content_type,data", [
    ("text/plain", '{"name": "k"}'),
    ("application/x-www-form-urlencoded", "name=k"),
    ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"n\""
                                        "\r\n\r\nk\r\n--x--\r\n"),
    ("application/xml", "<name>k</name>"),
])
def test_non_json_bodies_are_415_and_store_nothing(app, client, world, content_type, data):
    before = counts(app)
    refused(client.post("/api/v1/api-keys", data=data, content_type=content_type,
                        headers=world["user"]), 415)
    refused(client.post("/api/v1/teams", data=data, content_type=content_type,
                        headers=world["admin"]), 415)
    assert counts(app) == before


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g",
                                    "%27%20OR%201%3D1--", "..%2F..%2Fetc%2Fpasswd"])
def test_invalid_uuids_in_paths_are_4xx(client, world, bad_id):
    admin, user = world["admin"], world["user"]
    for method, path, headers in (
            ("get", f"/api/v1/api-keys/{bad_id}", user),
            ("patch", f"/api/v1/api-keys/{bad_id}", user),
            ("delete", f"/api/v1/api-keys/{bad_id}", user),
            ("get", f"/api/v1/jobs/{bad_id}", admin),
            ("get", f"/api/v1/teams/{bad_id}", admin),
            ("get", f"/api/v1/users/{bad_id}", admin),
            ("patch", f"/api/v1/users/{bad_id}", admin),
            ("get", f"/api/v1/subscriptions/{bad_id}", user),
            ("post", f"/api/v1/admin/subscriptions/{bad_id}/approve", admin),
            ("get", f"/api/v1/admin/users/{bad_id}", admin),
            ("patch", f"/api/v1/admin/users/{bad_id}/budget-limits", admin),
            ("post", f"/api/v1/admin/users/{bad_id}/reset-spend", admin),
            ("get", f"/api/v1/admin/users/{bad_id}/api-keys", admin),
            ("post", f"/api/v1/admin/users/{bad_id}/subscriptions", admin),
            ("patch", f"/api/v1/admin/users/{world['user_id']}/api-keys/{bad_id}", admin),
            ("delete", f"/api/v1/admin/users/{world['user_id']}/api-keys/{bad_id}", admin)):
        kwargs = {"json": {"name": "x"}} if method in ("patch", "post") else {}
        refused(getattr(client, method)(path, headers=headers, **kwargs), 400, 404)


@pytest.mark.parametrize("fields", [
    {"maxBudget": -1}, {"maxBudget": -0.01}, {"softBudget": -5}, {"tpmLimit": -1},
    {"rpmLimit": -100}, {"maxBudget": "NaN"}, {"maxBudget": "Infinity"}, {"maxBudget": 1e40},
    {"expiresAt": "9999-12-31T23:59:59Z"}, {"expiresAt": "2400-01-01T00:00:00Z"},
    {"expiresAt": "2000-01-01T00:00:00Z"}, {"expiresAt": "tomorrow"},
])
def test_bad_key_limits_are_400_and_store_nothing(app, client, world, sim, fields):
    before = counts(app)
    error = refused(client.post("/api/v1/api-keys", json=key_body(world, **fields),
                                headers=world["user"]), 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert counts(app) == before
    with sim.state.lock:
        assert sim.state.keys == {}  # nothing reached LiteLLM either


@pytest.mark.parametrize("fields", [{"maxBudget": -1}, {"tpmLimit": -1}, {"rpmLimit": -3}])
def test_negative_team_and_user_budgets_are_400(app, client, world, fields):
    before = counts(app)
    refused(client.post("/api/v1/teams", json={"name": "team", **fields},
                        headers=world["admin"]), 400)
    refused(client.patch(f"/api/v1/users/{world['user_id']}", json=fields,
                         headers=world["admin"]), 400)
    refused(client.patch(f"/api/v1/admin/users/{world['user_id']}/budget-limits", json=fields,
                         headers=world["admin"]), 400)
    refused(client.post("/api/v1/admin/users/bulk-update-limits", json=fields,
                        headers=world["admin"]), 400)
    refused(client.put("/api/v1/admin/settings/user-defaults", json=fields,
                       headers=world["admin"]), 400)
    refused(client.post(f"/api/v1/admin/users/{world['user_id']}/api-keys",
                        json=key_body(world, **fields), headers=world["admin"]), 400)
    assert counts(app) == before
    shown = client.get(f"/api/v1/users/{world['user_id']}", headers=world["admin"]).get_json()
    assert shown["maxBudget"] is None or shown["maxBudget"] >= 0


BAD_NAMES = [
    "x" * 256, "é" * 5000, "",
    "\ud800",  # a lone surrogate: not storable text
    "name\u0000with-nul", "bell\u0007", "line\nbreak",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "'; DROP TABLE users; --", "\u202eevil-rtl",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unusable_names_are_400_and_store_nothing(app, client, world, sim, name):
    before = counts(app)
    refused(client.post("/api/v1/api-keys", json=key_body(world, name=name),
                        headers=world["user"]), 400)
    refused(client.post("/api/v1/teams", json={"name": name}, headers=world["admin"]), 400)
    assert counts(app) == before
    with sim.state.lock:
        assert sim.state.keys == {}


@pytest.mark.parametrize("name", ["Clé de test", "模型密钥", "ключ-1", "key 😀 emoji"])
def test_ordinary_unicode_names_are_kept_exactly(client, world, name):
    response = client.post("/api/v1/api-keys", json=key_body(world, name=name),
                           headers=world["user"])
    assert response.status_code == 201, response.get_json()
    key_id = response.get_json()["id"]
    assert client.get(f"/api/v1/api-keys/{key_id}",
                      headers=world["user"]).get_json()["name"] == name


@pytest.mark.parametrize("text", ["'; DROP TABLE models; --", "' OR '1'='1", "%", "_",
                                  "<script>", "\\", "a" * 200])
def test_sql_and_html_in_search_filters_are_plain_text(app, client, world, text):
    """Filters are bound parameters: such text matches nothing and harms nothing."""
    before = counts(app)
    for path, headers in (("/api/v1/models", world["user"]),
                          ("/api/v1/api-keys", world["user"]),
                          ("/api/v1/teams", world["admin"]),
                          ("/api/v1/users", world["admin"])):
        response = client.get(path, query_string={"search": text}, headers=headers)
        assert response.status_code == 200, (path, response.get_json())
        assert response.get_json()["data"] == []
    assert counts(app) == before
    assert client.get("/api/v1/models", headers=world["user"]).get_json()["pagination"][
        "total"] == 2


def test_refusals_leave_no_audit_rows_of_changes(app, client, world):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action.in_(("API_KEY_CREATED", "TEAM_CREATED"))))
        db.session.remove()
    for name in BAD_NAMES[:4]:
        client.post("/api/v1/api-keys", json=key_body(world, name=name), headers=world["user"])
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action.in_(("API_KEY_CREATED", "TEAM_CREATED"))))
        db.session.remove()
    assert after == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/auth/dev-token", {"username": "<b>admin</b>"}),
    ("post", "/api/auth/dev-token", {"username": "a" * 65}),
    ("post", "/api/auth/dev-token", {"username": "admin", "roles": "admin"}),
    ("post", "/api/auth/dev-token", {"username": "admin", "roles": ["x"] * 11}),
    ("post", "/api/auth/dev-token", {"username": "admin", "isAdmin": True}),
    ("post", "/api/auth/login", {"returnTo": "https://evil.example.com"}),
    ("get", "/api/auth/callback?code=" + "c" * 5000, None),
    ("get", "/api/v1/config?x=%00", None),
])
def test_bad_input_to_the_web_ui_sign_in_is_4xx_and_stores_nothing(app, client, method, path,
                                                                    body):
    from app.models import UserSession

    response = getattr(client, method)(path, json=body) if body is not None else getattr(
        client, method)(path)
    refused(response, 400)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
        db.session.remove()
