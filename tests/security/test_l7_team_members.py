"""L7: a team owner adding members learns nothing about who exists (one 404 for an unknown id
and an inactive user) and never sees members' emails; admins still see them, and every member
sees their own. An added user sees the team and may leave it at any time."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import User
from tests.support.jobs import settle_jobs


@pytest.fixture
def team(app, client, login, celery_worker):
    headers = {name: login(name) for name in ("admin", "olga", "mike", "gone")}
    ids = {name: client.get("/api/v1/auth/me", headers=h).get_json()["id"]
           for name, h in headers.items()}
    with app.app_context():
        db.session.execute(update(User).where(User.username == "gone").values(is_active=False))
        db.session.commit()
    response = client.post("/api/v1/teams", json={"name": "research", "ownerId": ids["olga"]},
                           headers=headers["admin"])
    assert response.status_code == 201
    yield response.get_json()["id"], headers, ids
    settle_jobs(app)


def test_unknown_and_inactive_users_get_the_same_answer(client, team):
    team_id, headers, ids = team
    url = f"/api/v1/teams/{team_id}/members"
    unknown = client.post(url, json={"userId": str(uuid.uuid4())}, headers=headers["olga"])
    inactive = client.post(url, json={"userId": ids["gone"]}, headers=headers["olga"])
    assert unknown.status_code == inactive.status_code == 404
    assert unknown.get_json() == inactive.get_json()


def test_owners_never_see_member_emails(client, team):
    team_id, headers, ids = team
    url = f"/api/v1/teams/{team_id}/members"
    added = client.post(url, json={"userId": ids["mike"]}, headers=headers["olga"])
    assert added.status_code == 201
    assert added.get_json()["email"] is None
    owner_view = client.get(url, headers=headers["olga"]).get_json()["data"]
    emails = {m["username"]: m["email"] for m in owner_view}
    assert emails["mike"] is None and emails["olga"]  # only their own
    promoted = client.patch(f"{url}/{ids['mike']}", json={"role": "owner"},
                            headers=headers["olga"])
    assert promoted.get_json()["email"] is None
    admin_view = client.get(url, headers=headers["admin"]).get_json()["data"]
    assert all(m["email"] for m in admin_view)
    mike_view = client.get(url, headers=headers["mike"]).get_json()["data"]
    assert {m["username"]: m["email"] for m in mike_view}["olga"] is None


def test_an_added_user_may_leave(client, team):
    team_id, headers, ids = team
    url = f"/api/v1/teams/{team_id}/members"
    client.post(url, json={"userId": ids["mike"]}, headers=headers["olga"])
    assert client.delete(f"{url}/{ids['mike']}", headers=headers["mike"]).status_code == 202
    assert "mike" not in {m["username"] for m in
                          client.get(url, headers=headers["olga"]).get_json()["data"]}
