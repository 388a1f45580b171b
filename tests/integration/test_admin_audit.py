"""The web UI's audit page: ``/admin/audit`` (pages with totals, the fields the page shows,
search, action, category, user and day filters, excluded categories), ``/actions`` and
``/categories``; readonly admins read, users are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import AuditLog, User
from app.services import audit

AUDIT = "/api/v1/admin/audit"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(app, login):
    """Signed-in admin, readonly admin and user, plus synthetic rows at known times."""
    headers = {"admin": login("admin"), "adminro": login("adminro"), "user": login("user")}
    with app.app_context():
        user = db.session.query(User).filter_by(username="user").one()
        user.email = "user@example.com"
        rows = [
            ("API_KEY_CREATED", "api_key", "key-1", True, {"name": "Team Alpha key"}, 0),
            ("API_KEY_REVOKED", "api_key", "key-2", True, {"reason": "rotated 100%_off"}, 1),
            ("SUBSCRIPTION_APPROVED", "subscription", "sub-1", True, {"model": "gpt-4o"}, 2),
            ("API_KEY_CREATE_FAILED", "api_key", None, False,
             {"error": "LiteLLM refused the key"}, 3),
            ("API_REQUEST", "API_ACCESS", "/api/v1/models", True, {}, 4),
        ]
        for action, kind, resource, success, details, day in rows:
            db.session.add(AuditLog(
                action=action, resource_type=kind, resource_id=resource, success=success,
                details=audit.redact(details), actor_id=user.id, actor_label="jwt:user",
                ip_address="10.0.0.7", created_at=T0 + timedelta(days=day)))
        db.session.commit()
        user_id = str(user.id)
    return headers, user_id


def page(client, headers, **query) -> dict:
    answer = client.get(AUDIT, query_string=query, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def synthetic(body) -> list[str]:
    return [row["action"] for row in body["data"]
            if row["createdAt"] >= T0.isoformat().replace("+00:00", "")]


def test_rows_carry_the_fields_the_audit_page_shows(client, trail):
    headers, user_id = trail
    body = page(client, headers["admin"], action="API_KEY_CREATE_FAILED")
    assert body["pagination"] == {**body["pagination"], "page": 1, "limit": 20, "total": 1,
                                  "totalPages": 1}
    [row] = body["data"]
    assert row["userId"] == user_id and row["username"] == "user"
    assert row["email"] == "user@example.com"
    assert row["resourceType"] == "api_key" and row["resourceId"] is None
    assert row["success"] is False
    assert row["errorMessage"] == "LiteLLM refused the key"
    assert row["metadata"] == {"error": "LiteLLM refused the key"}
    assert row["ipAddress"] == "10.0.0.7"
    assert row["createdAt"].startswith("2026-03-04T12:00:00")


def test_newest_first_with_page_numbers_and_totals(client, trail):
    headers, _ = trail
    first = page(client, headers["admin"], resourceType="api_key", limit=2)
    second = page(client, headers["admin"], resourceType="api_key", limit=2, page=2)
    assert first["pagination"]["total"] == 3 and first["pagination"]["totalPages"] == 2
    assert [r["action"] for r in first["data"] + second["data"]] == [
        "API_KEY_CREATE_FAILED", "API_KEY_REVOKED", "API_KEY_CREATED"]


@pytest.mark.parametrize(("search", "expected"), [
    ("team alpha", ["API_KEY_CREATED"]),            # in the details, any case
    ("key-2", ["API_KEY_REVOKED"]),                 # the resource id
    ("subscription_app", ["SUBSCRIPTION_APPROVED"]),  # the action
    ("100%_", ["API_KEY_REVOKED"]),                 # % and _ are plain characters
    ("%", ["API_KEY_REVOKED"]),
    ("no such text anywhere", []),
])
def test_search_finds_text_in_actions_resources_and_details(client, trail, search, expected):
    headers, _ = trail
    body = page(client, headers["admin"], search=search, startDate="2026-03-01")
    assert [r["action"] for r in body["data"]] == expected


def test_search_finds_the_actor_by_username(client, trail):
    headers, _ = trail
    body = page(client, headers["admin"], search="USER", startDate="2026-03-01",
                endDate="2026-03-05", excludeResourceTypes="API_ACCESS")
    assert len(body["data"]) == 4


def test_filters_by_action_category_user_days_and_excluded_categories(client, trail):
    headers, user_id = trail
    admin = headers["admin"]
    assert synthetic(page(client, admin, resourceType="subscription")) == [
        "SUBSCRIPTION_APPROVED"]
    assert [r["action"] for r in page(client, admin, userId=user_id,
                                      startDate="2026-03-02", endDate="2026-03-03")["data"]] \
        == ["SUBSCRIPTION_APPROVED", "API_KEY_REVOKED"]
    # the end day is included whole; a moment is an exact bound
    assert len(page(client, admin, startDate="2026-03-05", endDate="2026-03-05")["data"]) == 1
    assert page(client, admin, startDate="2026-03-05",
                endDate="2026-03-05T11:59:59Z")["data"] == []
    days = page(client, admin, startDate="2026-03-01", endDate="2026-03-05")
    assert "API_REQUEST" in [r["action"] for r in days["data"]]
    hidden = page(client, admin, startDate="2026-03-01", endDate="2026-03-05",
                  excludeResourceTypes="API_ACCESS, subscription")
    assert [r["action"] for r in hidden["data"]] == [
        "API_KEY_CREATE_FAILED", "API_KEY_REVOKED", "API_KEY_CREATED"]


def test_action_and_category_menus(client, trail):
    headers, _ = trail
    admin = headers["adminro"]
    actions = client.get(f"{AUDIT}/actions", headers=admin).get_json()["actions"]
    assert {"API_KEY_CREATED", "API_REQUEST", "SUBSCRIPTION_APPROVED", "LOGIN"} <= set(actions)
    assert actions == sorted(actions)
    of_keys = client.get(f"{AUDIT}/actions?resourceType=api_key",
                         headers=admin).get_json()["actions"]
    assert set(of_keys) >= {"API_KEY_CREATED", "API_KEY_REVOKED", "API_KEY_CREATE_FAILED"}
    assert all(action.startswith("API_KEY") for action in of_keys)
    without = client.get(f"{AUDIT}/actions?excludeResourceTypes=API_ACCESS",
                         headers=admin).get_json()["actions"]
    assert "API_REQUEST" not in without and "LOGIN" in without
    categories = client.get(f"{AUDIT}/categories", headers=admin).get_json()["categories"]
    assert {"API_ACCESS", "api_key", "subscription", "user"} <= set(categories)
    assert categories == sorted(categories)


def test_secrets_never_reach_the_page(client, trail, app):
    headers, _ = trail
    with app.app_context():
        audit.record("API_KEY_ROTATED", "api_key", "key-9",
                     details={"note": "old sk-abcdefghijklmnop", "token": "whatever"})
        db.session.commit()
    body = page(client, headers["admin"], action="API_KEY_ROTATED")
    text = str(body)
    assert "sk-abcdefghijklmnop" not in text and "whatever" not in text


@pytest.mark.parametrize("query", [
    "?page=0", "?limit=0", "?limit=101", "?userId=42", "?startDate=yesterday",
    "?startDate=2026-03-02&endDate=2026-03-01", "?startDate=2026-03-01T10:00:00",
    "?search=" + "x" * 201, "?search=", "?excludeResourceTypes=" + "a" * 501,
    "?page=abc",
])
def test_bad_audit_queries_are_400(client, trail, query):
    headers, _ = trail
    answer = client.get(f"{AUDIT}{query}", headers=headers["admin"])
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_bad_menu_queries_are_400(client, trail):
    headers, _ = trail
    for query in ("?resourceType=" + "x" * 51, "?excludeResourceTypes="):
        answer = client.get(f"{AUDIT}/actions{query}", headers=headers["admin"])
        assert answer.status_code == 400, query


def test_readonly_admin_reads_and_users_are_refused(client, trail):
    headers, _ = trail
    for path in (AUDIT, f"{AUDIT}/actions", f"{AUDIT}/categories"):
        assert client.get(path, headers=headers["adminro"]).status_code == 200, path
        refused = client.get(path, headers=headers["user"])
        assert refused.status_code == 403, path
        assert refused.get_json()["error"]["code"] == "FORBIDDEN"


def test_no_route_changes_the_trail(client, trail):
    headers, _ = trail
    for method in ("post", "put", "patch", "delete"):
        answer = getattr(client, method)(AUDIT, headers=headers["admin"])
        assert answer.status_code == 405, method
