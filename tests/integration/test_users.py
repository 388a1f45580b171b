"""Admin user management (list, detail, changes pushed to LiteLLM by jobs, last-admin guard)
and the caller's own profile."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, User
from tests.support.jobs import settle_jobs, wait_for_job


@pytest.fixture
def people(client, login):
    """admin, adminro, user and a few more, each signed in once."""
    headers = {name: login(name) for name in ("admin", "adminro", "user", "zoe", "yann")}
    ids = {name: client.get("/api/v1/auth/me", headers=h).get_json()["id"]
           for name, h in headers.items()}
    return headers, ids


def test_admin_lists_users_with_filters_sort_and_pagination(client, people):
    headers, _ = people
    admin = headers["admin"]
    page = client.get("/api/v1/users?limit=2&sort=username", headers=admin).get_json()
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 5, "totalPages": 3}
    assert [u["username"] for u in page["data"]] == ["admin", "adminro"]
    desc = client.get("/api/v1/users?sort=-username", headers=admin).get_json()
    assert desc["data"][0]["username"] == "zoe"
    admins = client.get("/api/v1/users?role=admin", headers=admin).get_json()
    assert [u["username"] for u in admins["data"]] == ["admin"]
    found = client.get("/api/v1/users?search=ZO", headers=admin).get_json()
    assert [u["username"] for u in found["data"]] == ["zoe"]
    literal = client.get("/api/v1/users?search=%25", headers=admin).get_json()
    assert literal["data"] == []  # % is a character to find, not a wildcard


def test_active_filter_and_invalid_filters(client, people, app):
    headers, ids = people
    with app.app_context():
        db.session.get(User, ids["yann"]).is_active = False
        db.session.commit()
    inactive = client.get("/api/v1/users?isActive=false", headers=headers["admin"]).get_json()
    assert [u["username"] for u in inactive["data"]] == ["yann"]
    for bad in ("role=root", "sort=password", "isActive=maybe", "limit=101", "page=0"):
        response = client.get(f"/api/v1/users?{bad}", headers=headers["admin"])
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_readonly_admin_reads_users_but_cannot_change_them(client, people):
    headers, ids = people
    adminro = headers["adminro"]
    assert client.get("/api/v1/users", headers=adminro).status_code == 200
    assert client.get(f"/api/v1/users/{ids['user']}", headers=adminro).status_code == 200
    response = client.patch(f"/api/v1/users/{ids['user']}", json={"isActive": False},
                            headers=adminro)
    assert response.status_code == 403
    assert client.get("/api/v1/users", headers=headers["user"]).status_code == 403


def test_user_detail_shows_effective_limits_and_counts(client, people, app):
    headers, ids = people
    body = client.get(f"/api/v1/users/{ids['user']}", headers=headers["admin"]).get_json()
    assert body["maxBudget"] is None
    assert body["effectiveLimits"] == {"maxBudget": app.config["DEFAULT_USER_MAX_BUDGET"],
                                       "tpmLimit": app.config["DEFAULT_USER_TPM_LIMIT"],
                                       "rpmLimit": app.config["DEFAULT_USER_RPM_LIMIT"]}
    assert body["apiKeysCount"] == 0 and body["subscriptionsCount"] == 0
    missing = client.get("/api/v1/users/00000000-0000-0000-0000-000000000000",
                         headers=headers["admin"])
    assert missing.status_code == 404


def test_budget_change_is_pushed_to_litellm_by_a_job(client, people, app, sim, celery_worker):
    headers, ids = people
    response = client.patch(f"/api/v1/users/{ids['zoe']}",
                            json={"maxBudget": 250.5, "tpmLimit": 5000, "rpmLimit": 60,
                                  "budgetDuration": "30d"}, headers=headers["admin"])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["maxBudget"] == 250.5 and body["tpmLimit"] == 5000 and body["jobId"]
    assert response.headers["Location"] == f"/api/v1/jobs/{body['jobId']}"
    job = wait_for_job(client, headers["admin"], body["jobId"])
    assert job["status"] == "succeeded", job
    remote = sim.state.users[ids["zoe"]]
    assert (remote["max_budget"], remote["tpm_limit"], remote["rpm_limit"]) == (250.5, 5000, 60)
    assert remote["budget_duration"] == "30d"
    # a second change updates the LiteLLM user created by the first
    again = client.patch(f"/api/v1/users/{ids['zoe']}", json={"maxBudget": None},
                         headers=headers["admin"])
    wait_for_job(client, headers["admin"], again.get_json()["jobId"])
    assert sim.state.users[ids["zoe"]]["max_budget"] == app.config["DEFAULT_USER_MAX_BUDGET"]
    with app.app_context():
        assert db.session.get(User, ids["zoe"]).litellm_user_id == ids["zoe"]
        update = db.session.scalars(select(AuditLog).where(AuditLog.action == "USER_UPDATE")
                                    .order_by(AuditLog.created_at)).first()
        assert update.details["changes"]["max_budget"] == {"from": None, "to": 250.5}


def test_role_only_change_answers_200_without_a_job(client, people):
    headers, ids = people
    response = client.patch(f"/api/v1/users/{ids['zoe']}", json={"roles": ["admin"]},
                            headers=headers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["jobId"] is None
    assert body["roles"] == ["admin", "user"]  # user is always kept


def test_last_active_admin_cannot_be_demoted_or_deactivated(client, people):
    headers, ids = people
    admin = headers["admin"]
    for change in ({"roles": ["user"]}, {"isActive": False}):
        response = client.patch(f"/api/v1/users/{ids['admin']}", json=change, headers=admin)
        assert response.status_code == 409, change
        assert response.get_json()["error"]["code"] == "CONFLICT"
    client.patch(f"/api/v1/users/{ids['zoe']}", json={"roles": ["admin", "user"]}, headers=admin)
    response = client.patch(f"/api/v1/users/{ids['admin']}", json={"roles": ["user"]},
                            headers=admin)
    assert response.status_code == 200  # zoe is still an admin


def test_patch_validation(client, people):
    headers, ids = people
    url = f"/api/v1/users/{ids['user']}"
    for bad in ({}, {"roles": ["root"]}, {"roles": []}, {"maxBudget": -1}, {"tpmLimit": 1.5},
                {"budgetDuration": "forever"}, {"username": "x"}, {"maxBudget": "NaN"}):
        response = client.patch(url, json=bad, headers=headers["admin"])
        assert response.status_code == 400, bad


def test_own_profile_and_activity(client, people):
    headers, _ = people
    me = client.get("/api/v1/users/me", headers=headers["user"]).get_json()
    assert me["username"] == "user"
    changed = client.patch("/api/v1/users/me", json={"fullName": "Ursula User"},
                           headers=headers["user"])
    assert changed.status_code == 200 and changed.get_json()["fullName"] == "Ursula User"
    assert client.patch("/api/v1/users/me", json={"roles": ["admin"]},
                        headers=headers["user"]).status_code == 400
    activity = client.get("/api/v1/users/me/activity", headers=headers["user"]).get_json()
    assert {row["action"] for row in activity["data"]} >= {"LOGIN", "PROFILE_UPDATE"}
    only = client.get("/api/v1/users/me/activity?action=login",
                      headers=headers["user"]).get_json()
    assert {row["action"] for row in only["data"]} == {"LOGIN"}


def test_admin_api_key_has_no_profile(client):
    admin_key = {"X-API-Key": "ltm_admin_test_key_0123456789"}
    response = client.get("/api/v1/users/me", headers=admin_key)
    assert response.status_code == 404


@pytest.fixture(autouse=True)
def _settle(request, app):
    yield
    if "celery_worker" in request.fixturenames:
        settle_jobs(app)
