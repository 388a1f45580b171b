"""Teams: CRUD by admins, membership by owners, visibility by membership, and the LiteLLM team
(budget, limits, members) kept in step by provisioning jobs run by a real worker."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey, AuditLog, Job, Team
from tests.support.jobs import settle_jobs, wait_for_jobs


@pytest.fixture
def people(client, login):
    headers = {name: login(name) for name in ("admin", "adminro", "user", "olga", "mike")}
    ids = {name: client.get("/api/v1/auth/me", headers=h).get_json()["id"]
           for name, h in headers.items()}
    return headers, ids


@pytest.fixture(autouse=True)
def _settle(app, celery_worker):
    yield
    settle_jobs(app)


def create_team(client, admin, **fields):
    body = {"name": "research", "maxBudget": 500, "tpmLimit": 20000, "rpmLimit": 200,
            "budgetDuration": "1mo", **fields}
    response = client.post("/api/v1/teams", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def remote_members(sim, team_id: str) -> dict[str, str]:
    team = sim.state.teams[team_id]
    return {m["user_id"]: m["role"] for m in team["members_with_roles"]
            if m["user_id"] != "default_user_id"}  # LiteLLM lists the team's creator too


def test_admin_creates_a_team_and_a_job_provisions_it_in_litellm(client, people, sim, app):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["olga"])
    assert team["name"] == "research" and team["maxBudget"] == 500 and team["jobId"]
    assert team["memberCount"] == 1
    [job] = wait_for_jobs(app, "provision_team")
    assert job.status == "succeeded", job.error
    remote = sim.state.teams[team["id"]]
    assert remote["team_alias"] == "research"
    assert (remote["max_budget"], remote["tpm_limit"], remote["rpm_limit"]) == (500, 20000, 200)
    # owners are plain members in LiteLLM (C1: ownership lives in LiteMaaS)
    assert remote_members(sim, team["id"]) == {ids["olga"]: "user"}
    assert ids["olga"] in sim.state.users  # the member's LiteLLM user was ensured first
    with app.app_context():
        assert db.session.get(Team, team["id"]).litellm_team_id == team["id"]


def test_owner_manages_members_and_litellm_follows(client, people, sim, app):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["olga"])
    olga = headers["olga"]
    added = client.post(f"/api/v1/teams/{team['id']}/members",
                        json={"userId": ids["mike"]}, headers=olga)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["role"] == "member" and added.get_json()["jobId"]
    promoted = client.patch(f"/api/v1/teams/{team['id']}/members/{ids['mike']}",
                            json={"role": "owner"}, headers=olga)
    assert promoted.status_code == 202
    wait_for_jobs(app, "provision_team", count=3)
    assert remote_members(sim, team["id"]) == {ids["olga"]: "user", ids["mike"]: "user"}
    removed = client.delete(f"/api/v1/teams/{team['id']}/members/{ids['olga']}", headers=olga)
    assert removed.status_code == 202
    assert removed.headers["Location"] == removed.get_json()["links"]["self"]
    wait_for_jobs(app, "provision_team", count=4)
    assert remote_members(sim, team["id"]) == {ids["mike"]: "user"}
    members = client.get(f"/api/v1/teams/{team['id']}/members",
                         headers=headers["mike"]).get_json()
    assert [(m["username"], m["role"]) for m in members["data"]] == [("mike", "owner")]


def test_plain_members_cannot_manage_members_but_can_leave(client, people):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["olga"])
    client.post(f"/api/v1/teams/{team['id']}/members", json={"userId": ids["mike"]},
                headers=headers["olga"])
    refused = client.post(f"/api/v1/teams/{team['id']}/members", json={"userId": ids["user"]},
                          headers=headers["mike"])
    assert refused.status_code == 403
    kick = client.delete(f"/api/v1/teams/{team['id']}/members/{ids['olga']}",
                         headers=headers["mike"])
    assert kick.status_code == 403
    leave = client.delete(f"/api/v1/teams/{team['id']}/members/{ids['mike']}",
                          headers=headers["mike"])
    assert leave.status_code == 202


def test_the_last_owner_cannot_leave_but_an_admin_can_remove_them(client, people):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["olga"])
    url = f"/api/v1/teams/{team['id']}/members/{ids['olga']}"
    assert client.delete(url, headers=headers["olga"]).status_code == 409
    assert client.patch(url, json={"role": "member"}, headers=headers["olga"]).status_code == 409
    assert client.delete(url, headers=headers["admin"]).status_code == 202


def test_users_see_only_their_teams_and_get_404_for_others(client, people):
    headers, ids = people
    mine = create_team(client, headers["admin"], name="mine", ownerId=ids["user"])
    other = create_team(client, headers["admin"], name="other", ownerId=ids["olga"])
    listed = client.get("/api/v1/teams", headers=headers["user"]).get_json()
    assert [(t["name"], t["myRole"]) for t in listed["data"]] == [("mine", "owner")]
    assert client.get(f"/api/v1/teams/{mine['id']}", headers=headers["user"]).status_code == 200
    for path in (f"/api/v1/teams/{other['id']}", f"/api/v1/teams/{other['id']}/members"):
        assert client.get(path, headers=headers["user"]).status_code == 404, path
    foreign = client.post(f"/api/v1/teams/{other['id']}/members", json={"userId": ids["user"]},
                          headers=headers["user"])
    assert foreign.status_code == 404
    everything = client.get("/api/v1/teams", headers=headers["adminro"]).get_json()
    assert {t["name"] for t in everything["data"]} == {"mine", "other"}


def test_only_admins_create_change_and_delete_teams(client, people):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["user"])
    for who in ("user", "adminro"):
        assert client.post("/api/v1/teams", json={"name": "x"},
                           headers=headers[who]).status_code == 403
        assert client.patch(f"/api/v1/teams/{team['id']}", json={"maxBudget": 1},
                            headers=headers[who]).status_code == 403
        assert client.delete(f"/api/v1/teams/{team['id']}",
                             headers=headers[who]).status_code == 403


def test_update_pushes_budget_and_description_only_changes_need_no_job(client, people, sim,
                                                                        app):
    headers, _ = people
    team = create_team(client, headers["admin"])
    wait_for_jobs(app, "provision_team")
    quiet = client.patch(f"/api/v1/teams/{team['id']}", json={"description": "ML folks"},
                         headers=headers["admin"])
    assert quiet.status_code == 200 and quiet.get_json()["jobId"] is None
    pushed = client.patch(f"/api/v1/teams/{team['id']}",
                          json={"maxBudget": 42.5, "tpmLimit": None, "name": "research-2"},
                          headers=headers["admin"])
    assert pushed.status_code == 202
    wait_for_jobs(app, "provision_team", count=2)
    remote = sim.state.teams[team["id"]]
    assert (remote["team_alias"], remote["max_budget"], remote["tpm_limit"]) == (
        "research-2", 42.5, None)


def test_delete_removes_the_team_here_and_in_litellm(client, people, sim, app):
    headers, _ = people
    team = create_team(client, headers["admin"])
    wait_for_jobs(app, "provision_team")
    assert team["id"] in sim.state.teams
    response = client.delete(f"/api/v1/teams/{team['id']}", headers=headers["admin"])
    assert response.status_code == 202
    [job] = wait_for_jobs(app, "delete_team")
    assert job.status == "succeeded" and job.result["deleted"] is True
    assert team["id"] not in sim.state.teams
    assert client.get(f"/api/v1/teams/{team['id']}", headers=headers["admin"]).status_code == 404
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action)
                                         .where(AuditLog.resource_id == team["id"])))
        assert {"TEAM_CREATE", "TEAM_DELETE"} <= actions


def test_team_with_live_api_keys_is_not_deleted(client, people, app, sim):
    headers, ids = people
    team = create_team(client, headers["admin"], ownerId=ids["user"])
    with app.app_context():
        db.session.add(ApiKey(user_id=ids["user"], team_id=team["id"], name="team key",
                              key_prefix="sk-team", key_hash="0" * 64,
                              provisioning_state="active"))
        db.session.commit()
    response = client.delete(f"/api/v1/teams/{team['id']}", headers=headers["admin"])
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["liveApiKeys"] == 1
    assert client.get(f"/api/v1/teams/{team['id']}", headers=headers["admin"]).status_code == 200


def test_team_with_no_recorded_litellm_id_is_still_deleted_there(client, people, app, sim):
    """Its provisioning may have created it in LiteLLM and failed before recording the id."""
    headers, _ = people
    with app.app_context():
        team = Team(name="local-only")
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    response = client.delete(f"/api/v1/teams/{team_id}", headers=headers["admin"])
    assert response.status_code == 202
    [job] = wait_for_jobs(app, "delete_team")
    assert job.status == "succeeded" and job.result["deleted"] is False


def test_conflicts_and_validation(client, people):
    headers, ids = people
    admin = headers["admin"]
    team = create_team(client, admin, ownerId=ids["olga"])
    assert client.post("/api/v1/teams", json={"name": "RESEARCH"},
                       headers=admin).status_code == 409
    again = client.post(f"/api/v1/teams/{team['id']}/members", json={"userId": ids["olga"]},
                        headers=admin)
    assert again.status_code == 409
    ghost = client.post(f"/api/v1/teams/{team['id']}/members",
                        json={"userId": "00000000-0000-0000-0000-000000000000"}, headers=admin)
    assert ghost.status_code == 422
    for bad in ({"name": ""}, {"name": "x" * 200}, {"name": "ok", "maxBudget": -5},
                {"name": "ok", "tpmLimit": "many"}, {"name": "ok", "budgetDuration": "week"},
                {"name": "ok", "ownerId": "not-a-uuid"}):
        assert client.post("/api/v1/teams", json=bad, headers=admin).status_code == 400, bad
    bad_role = client.post(f"/api/v1/teams/{team['id']}/members",
                           json={"userId": ids["mike"], "role": "boss"}, headers=admin)
    assert bad_role.status_code == 400


def test_litellm_down_is_retried_until_the_team_is_provisioned(client, people, sim, app):
    headers, _ = people
    sim.configure(down=True)
    team = create_team(client, headers["admin"], name="flaky")
    deadline = time.monotonic() + 20
    with app.app_context():
        while True:  # the first attempt fails on the 503 and is handed back for a retry
            db.session.expire_all()
            job = db.session.scalar(select(Job).where(Job.kind == "provision_team"))
            if job.error is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert job.error is not None and job.status in ("queued", "running")
    sim.configure(down=False)
    [job] = wait_for_jobs(app, "provision_team", timeout=60)
    assert job.status == "succeeded" and job.attempts >= 2  # retried with backoff
    assert sim.state.teams[team["id"]]["team_alias"] == "flaky"


def test_account_tasks_run_on_the_provisioning_queue(app):
    from celery import Celery

    from worker.celery_app import TASK_ROUTES

    router = Celery(set_as_current=False)
    router.conf.task_routes = TASK_ROUTES
    for name in ("provision_user", "provision_team", "delete_team"):
        task = f"worker.tasks.provisioning.accounts.{name}"
        assert task in app.extensions["celery"].tasks
        assert router.amqp.router.route({}, task)["queue"].name == "provisioning"
