"""The audit trail endpoint: filters, newest first, keyset and page pagination, roles, and no
way to change or delete rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import AuditLog

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(app, login):
    """Admin and user signed in, plus 30 synthetic rows with known times (some share one)."""
    headers = {"admin": login("admin"), "adminro": login("adminro"), "user": login("user")}
    with app.app_context():
        from app.models import User

        user_id = db.session.query(User.id).filter_by(username="user").scalar()
        for i in range(30):
            db.session.add(AuditLog(
                action="KEY_CREATE" if i % 3 else "KEY_DELETE", resource_type="api_key",
                resource_id=f"key-{i % 5}", success=i % 4 != 0, details={"n": i},
                actor_id=user_id if i % 2 else None, actor_label="jwt:user" if i % 2 else None,
                # rows 10..14 share one timestamp: the cursor must still not skip or repeat
                created_at=T0 + timedelta(minutes=10 if 10 <= i < 15 else i),
            ))
        db.session.commit()
    return headers, str(user_id)


def get(client, headers, query=""):
    response = client.get(f"/api/v1/audit-logs{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def synthetic(rows):
    return [r for r in rows if r["resourceType"] == "api_key"]


def test_newest_first_and_keyset_pages_cover_every_row_once(client, trail):
    headers, _ = trail
    seen, cursor = [], None
    while True:
        query = "?resourceType=api_key&limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = get(client, headers["admin"], query)
        seen.extend(page["data"])
        assert page["pagination"]["limit"] == 7
        cursor = page["pagination"]["nextCursor"]
        if not page["pagination"]["hasMore"]:
            assert cursor is None
            break
    assert len(seen) == 30 and len({r["id"] for r in seen}) == 30
    stamps = [r["createdAt"] for r in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_filters(client, trail):
    headers, user_id = trail
    admin = headers["admin"]
    deletes = synthetic(get(client, admin, "?action=key_delete&limit=100")["data"])
    assert len(deletes) == 10 and {r["action"] for r in deletes} == {"KEY_DELETE"}
    failed = get(client, admin, "?resourceType=api_key&success=false&limit=100")["data"]
    assert len(failed) == 8 and not any(r["success"] for r in failed)
    one = get(client, admin, "?resourceType=api_key&resourceId=key-3&limit=100")["data"]
    assert len(one) == 6 and {r["resourceId"] for r in one} == {"key-3"}
    by_id = synthetic(get(client, admin, f"?actor={user_id}&limit=100")["data"])
    by_name = synthetic(get(client, admin, "?actor=user&limit=100")["data"])
    assert len(by_id) == 15 and by_id == by_name
    assert all(r["actorUsername"] == "user" for r in by_id)
    window = get(client, admin, "?resourceType=api_key&limit=100"
                 "&from=2026-03-01T12:20:00%2B00:00&to=2026-03-01T12:25:00Z")["data"]
    assert [r["details"]["n"] for r in window] == [24, 23, 22, 21, 20]


def test_page_mode_gives_totals(client, trail):
    headers, _ = trail
    page = get(client, headers["adminro"], "?resourceType=api_key&page=2&limit=20")
    assert page["pagination"]["total"] == 30 and page["pagination"]["totalPages"] == 2
    assert page["pagination"]["page"] == 2 and len(page["data"]) == 10
    assert page["pagination"]["hasMore"] is False


@pytest.mark.parametrize("query", [
    "?cursor=not-a-cursor", "?cursor=abc&page=2", "?limit=500", "?success=perhaps",
    "?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "?from=yesterday",
])
def test_bad_queries_answer_400(client, trail, query):
    headers, _ = trail
    response = client.get(f"/api/v1/audit-logs{query}", headers=headers["admin"])
    assert response.status_code == 400, query
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_only_admins_and_readonly_admins_read_the_trail(client, trail):
    headers, _ = trail
    assert client.get("/api/v1/audit-logs").status_code == 401
    assert client.get("/api/v1/audit-logs", headers=headers["user"]).status_code == 403
    assert client.get("/api/v1/audit-logs", headers=headers["adminro"]).status_code == 200


def test_no_endpoint_changes_or_deletes_audit_rows(client, trail):
    headers, _ = trail
    spec = client.get("/docs/json").get_json()
    for path, item in spec["paths"].items():
        if "audit" in path:
            assert set(item) <= {"get", "parameters"}, path
    row_id = get(client, headers["admin"], "?limit=1")["data"][0]["id"]
    for method in ("post", "put", "patch", "delete"):
        for path in ("/api/v1/audit-logs", f"/api/v1/audit-logs/{row_id}"):
            response = getattr(client, method)(path, headers=headers["admin"], json={})
            assert response.status_code in (404, 405), (method, path)


def test_refused_permission_and_failed_login_are_in_the_trail(client, trail):
    headers, _ = trail
    client.get("/api/v1/users", headers=headers["user"])
    client.get("/api/v1/auth/me", headers={"Authorization": "Bearer forged.token.value"})
    rows = get(client, headers["admin"], "?success=false&limit=100")["data"]
    actions = {r["action"] for r in rows}
    assert {"PERMISSION_DENIED", "AUTH_FAILED"} <= actions
    denied = next(r for r in rows if r["action"] == "PERMISSION_DENIED")
    assert denied["resourceId"] == "users:read" and denied["requestId"]
    assert denied["actorUsername"] == "user" and denied["ipAddress"] == "127.0.0.1"


def test_keyset_query_uses_the_index(app, trail):
    """The newest-first page and a filtered page are index scans, not sorts of the table."""
    from sqlalchemy import text

    with app.app_context():
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in db.session.execute(text(
            "EXPLAIN SELECT * FROM audit_logs WHERE (created_at, id) < (now(), :id) "
            "ORDER BY created_at DESC, id DESC LIMIT 50"), {"id": uuid.uuid4()}))
        assert "ix_audit_logs_created_id" in plan and "Sort" not in plan.split("->")[0]
        db.session.rollback()
