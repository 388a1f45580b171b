"""Banners: admins create, edit, show, hide and delete them (audited, admin-readonly refused);
users see the ones targeted at them, in their time window, until they dismiss them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog


def _me(client, headers) -> dict:
    return client.get("/api/v1/auth/me", headers=headers).get_json()


def _create(client, admin, **fields) -> dict:
    body = {"name": "Maintenance", "content": {"en": "Down on **Saturday**", "fr": ""},
            "variant": "warning", "isActive": True, "isDismissible": True, **fields}
    response = client.post("/api/v1/banners/admin", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["banner"]


def _visible(client, headers=None) -> list[str]:
    response = client.get("/api/v1/banners", headers=headers or {})
    assert response.status_code == 200
    return [b["id"] for b in response.get_json()]


def test_a_created_banner_is_shown_then_hidden_once_dismissed(client, login):
    admin, user = login("admin"), login("user")
    banner = _create(client, admin, markdownEnabled=True, linkUrl="https://status.example.com",
                     linkText={"en": "Status"})
    assert banner["content"] == {"en": "Down on **Saturday**"}  # empty languages dropped
    assert banner["markdownEnabled"] is True and banner["linkText"] == {"en": "Status"}
    assert _visible(client, user) == [banner["id"]]
    assert _visible(client) == [banner["id"]]  # untargeted: also before sign-in
    dismissed = client.post(f"/api/v1/banners/{banner['id']}/dismiss", headers=user)
    assert dismissed.status_code == 200
    assert _visible(client, user) == []
    assert _visible(client, admin) == [banner["id"]]  # dismissal is per user
    # an admin edit shows it again to everyone, as upstream does
    edited = client.put(f"/api/v1/banners/admin/{banner['id']}", headers=admin,
                        json={"isActive": True, "content": {"en": "Moved to Sunday"}})
    assert edited.status_code == 200
    assert edited.get_json()["banner"]["content"] == {"en": "Moved to Sunday"}
    assert _visible(client, user) == [banner["id"]]


def test_targeting_by_role_and_user(client, login):
    admin, user, other = login("admin"), login("user"), login("other")
    for_admins = _create(client, admin, name="Admins", targetRoles=["admin", "admin-readonly"])
    for_user = _create(client, admin, name="One user", targetUserIds=[_me(client, user)["id"]])
    assert set(_visible(client, admin)) == {for_admins["id"]}
    assert set(_visible(client, user)) == {for_user["id"]}
    assert _visible(client, other) == []
    assert _visible(client) == []  # anonymous: no role, no user


def test_schedule_and_inactive_banners_are_not_shown(client, login):
    admin, user = login("admin"), login("user")
    now = datetime.now(UTC)
    _create(client, admin, name="Later", startDate=(now + timedelta(hours=1)).isoformat())
    _create(client, admin, name="Over", startDate=(now - timedelta(hours=2)).isoformat(),
            endDate=(now - timedelta(hours=1)).isoformat())
    hidden = _create(client, admin, name="Hidden", isActive=False)
    assert _visible(client, user) == []
    shown = client.patch("/api/v1/banners/admin/bulk-visibility", headers=admin,
                         json={hidden["id"]: True})
    assert shown.status_code == 200
    assert _visible(client, user) == [hidden["id"]]
    listed = client.get("/api/v1/banners/admin", headers=login("adminro")).get_json()
    assert {b["name"] for b in listed} == {"Later", "Over", "Hidden"}


def test_a_dismissal_expires_after_its_duration(app, client, login):
    admin, user = login("admin"), login("user")
    banner = _create(client, admin, dismissDurationHours=1)
    client.post(f"/api/v1/banners/{banner['id']}/dismiss", headers=user)
    assert _visible(client, user) == []
    with app.app_context():
        db.session.execute(db.text("UPDATE banner_dismissals SET dismissed_at = now() - "
                                   "interval '61 minutes'"))
        db.session.commit()
    assert _visible(client, user) == [banner["id"]]


def test_a_banner_that_is_not_dismissible_refuses_dismissal(client, login):
    admin, user = login("admin"), login("user")
    banner = _create(client, admin, isDismissible=False)
    response = client.post(f"/api/v1/banners/{banner['id']}/dismiss", headers=user)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "BANNER_NOT_DISMISSIBLE"
    assert _visible(client, user) == [banner["id"]]


def test_every_change_is_audited_and_the_history_reads_it_back(app, client, login):
    admin = login("admin")
    banner = _create(client, admin)
    client.patch(f"/api/v1/banners/admin/{banner['id']}", headers=admin,
                 json={"priority": 5, "targetRoles": ["user"]})
    client.patch("/api/v1/banners/admin/bulk-visibility", headers=admin,
                 json={banner["id"]: False})
    client.delete(f"/api/v1/banners/admin/{banner['id']}", headers=admin)
    history = client.get(f"/api/v1/banners/admin/{banner['id']}/audit",
                         headers=login("adminro")).get_json()
    assert [e["action"] for e in history["auditLogs"]] == ["delete", "deactivate", "update",
                                                           "create"]
    update = history["auditLogs"][2]
    assert update["changedBy"] == "admin"
    assert update["previousState"]["priority"] == 0 and update["newState"]["priority"] == 5
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action).where(
            AuditLog.resource_type == "banner")))
    assert {"BANNER_CREATED", "BANNER_UPDATED", "BANNER_DEACTIVATED",
            "BANNER_DELETED"} <= actions
    assert client.get(f"/api/v1/banners/admin/{banner['id']}",
                      headers=admin).status_code == 404


def test_admin_readonly_and_users_cannot_change_banners(client, login):
    admin = login("admin")
    banner = _create(client, admin)
    for who in ("adminro", "user"):
        headers = login(who)
        calls = [
            client.post("/api/v1/banners/admin", json={"name": "x", "content": {"en": "x"}},
                        headers=headers),
            client.put(f"/api/v1/banners/admin/{banner['id']}", headers=headers,
                       json={"isActive": False, "content": {"en": "x"}}),
            client.patch(f"/api/v1/banners/admin/{banner['id']}", json={"priority": 1},
                         headers=headers),
            client.patch("/api/v1/banners/admin/bulk-visibility", json={banner["id"]: False},
                         headers=headers),
            client.delete(f"/api/v1/banners/admin/{banner['id']}", headers=headers),
        ]
        assert {c.status_code for c in calls} == {403}, who
    assert client.get("/api/v1/banners/admin", headers=login("user")).status_code == 403
    assert _visible(client, login("user")) == [banner["id"]]


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "content": {"fr": "seulement"}}, "content"),  # English is required
    ({"name": "x", "content": {"en": "x" * 501}}, "content"),
    ({"name": "x", "content": {"EN!": "x"}}, "content"),
    ({"name": "x", "content": {"en": "x"}, "linkUrl": "javascript:alert(1)"}, "linkUrl"),
    ({"name": "x", "content": {"en": "x"}, "linkUrl": "data:text/html,hi"}, "linkUrl"),
    ({"name": "x", "content": {"en": "x"}, "variant": "purple"}, "variant"),
    ({"name": "x", "content": {"en": "x"}, "targetRoles": ["root"]}, "targetRoles"),
    ({"name": "x", "content": {"en": "x"}, "targetUserIds": ["not-a-uuid"]}, "targetUserIds"),
    ({"name": "x", "content": {"en": "x"},
      "targetUserIds": ["00000000-0000-4000-8000-000000000000"]}, "targetUserIds"),
    ({"name": "x", "content": {"en": "x"}, "startDate": "2026-12-02T00:00:00Z",
      "endDate": "2026-12-01T00:00:00Z"}, "endDate"),
    ({"name": "x", "content": {"en": "x"}, "dismissDurationHours": 0}, "dismissDurationHours"),
    ({"name": "<b>x</b>", "content": {"en": "x"}}, "name"),
    ({"name": "x", "content": {"en": "x"}, "createdBy": "me"}, "createdBy"),
])
def test_bad_banners_are_refused_and_nothing_is_stored(client, login, body, field):
    admin = login("admin")
    response = client.post("/api/v1/banners/admin", json=body, headers=admin)
    assert response.status_code == 400, response.get_json()
    fields = response.get_json()["error"]["details"]["fields"]
    assert field in fields.get("json", fields)
    assert client.get("/api/v1/banners/admin", headers=admin).get_json() == []


def test_bulk_visibility_refuses_unknown_or_malformed_ids(client, login):
    admin = login("admin")
    banner = _create(client, admin, isActive=False)
    unknown = client.patch("/api/v1/banners/admin/bulk-visibility", headers=admin, json={
        banner["id"]: True, "00000000-0000-4000-8000-000000000000": True})
    assert unknown.status_code == 404
    for body in ({}, {"x": True}, {banner["id"]: "yes"}, []):
        response = client.patch("/api/v1/banners/admin/bulk-visibility", json=body,
                                headers=admin)
        assert response.status_code == 400, body
    assert client.get(f"/api/v1/banners/admin/{banner['id']}",
                      headers=admin).get_json()["isActive"] is False


def test_bad_edits_are_refused_and_change_nothing(client, login):
    admin = login("admin")
    banner = _create(client, admin)
    path = f"/api/v1/banners/admin/{banner['id']}"
    for method, body in (
        ("patch", {}),
        ("patch", {"targetUserIds": ["00000000-0000-4000-8000-000000000000"]}),
        ("patch", {"targetRoles": ["superuser"]}),
        ("patch", {"linkUrl": "javascript:alert(document.cookie)"}),
        ("patch", {"endDate": "2000-01-01T00:00:00Z", "startDate": "2001-01-01T00:00:00Z"}),
        ("patch", {"priority": -1}),
        ("patch", {"content": {"en": ""}}),
        ("put", {"content": {"en": "x"}}),  # the settings form always sends isActive
        ("put", {"isActive": True}),
        ("put", {"isActive": True, "content": {"en": "x"}, "targetRoles": ["user"]}),
    ):
        response = getattr(client, method)(path, json=body, headers=admin)
        assert response.status_code == 400, (method, body, response.get_json())
    assert client.get(path, headers=admin).get_json() == banner
    assert client.patch("/api/v1/banners/admin/00000000-0000-4000-8000-000000000000",
                        json={"priority": 1}, headers=admin).status_code == 404
    assert client.post("/api/v1/banners/not-a-uuid/dismiss", headers=admin).status_code == 404
