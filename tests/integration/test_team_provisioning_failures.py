"""Teams whose LiteLLM provisioning failed part-way (issue 15 §1): the LiteLLM id is recorded
once the team exists there, deleting the team removes it from LiteLLM, and reconciliation
re-creates teams LiteLLM lost and re-aligns their members (owners as plain members)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Team
from app.services import litellm_accounts
from tests.integration.provisioning_support import user_id
from tests.support.jobs import settle_jobs, wait_for_job, wait_for_jobs


@pytest.fixture
def admin(app, client, login, celery_worker):
    yield login("admin")
    settle_jobs(app)


def ours(members: list[dict]) -> dict[str, str]:
    """Members by id, without the team's creator LiteLLM lists (the proxy admin)."""
    return {m["user_id"]: m["role"] for m in members if m["user_id"] != "default_user_id"}


def create_team(client, admin, owner_id: str) -> dict:
    response = client.post("/api/v1/teams", json={"name": "research", "maxBudget": 50,
                                                  "ownerId": owner_id}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def reconcile(client, admin) -> dict:
    response = client.post("/api/v1/admin/reconcile", headers=admin)
    assert response.status_code == 202
    job = wait_for_job(client, admin, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    return job["result"]


def test_a_team_job_failing_after_the_team_exists_records_it_and_delete_removes_it(
        app, client, login, sim, admin, monkeypatch):
    owner = user_id(client, login("user"))
    # the failure real LiteLLM gave: an owner pushed as team "admin" (a premium feature)
    monkeypatch.setitem(litellm_accounts.LITELLM_TEAM_ROLES, "owner", "admin")
    team = create_team(client, admin, owner)
    [job] = wait_for_jobs(app, "provision_team")
    assert job.status == "failed" and "premium" in str(job.error)
    assert team["id"] in sim.state.teams  # made in LiteLLM before the member step failed
    with app.app_context():
        assert db.session.get(Team, team["id"]).litellm_team_id == team["id"]

    deleted = client.delete(f"/api/v1/teams/{team['id']}", headers=admin)
    assert deleted.status_code == 202
    assert wait_for_job(client, admin, deleted.get_json()["jobId"])["status"] == "succeeded"
    assert team["id"] not in sim.state.teams


def test_reconciliation_recreates_a_team_litellm_lost_and_records_its_id(
        app, client, login, sim, admin):
    owner = user_id(client, login("user"))
    team = create_team(client, admin, owner)
    wait_for_job(client, admin, team["jobId"])
    with sim.state.lock:
        del sim.state.teams[team["id"]]
    with app.app_context():  # as a job that died before recording it would leave it
        db.session.execute(update(Team).values(
            litellm_team_id=None, created_at=Team.created_at - timedelta(minutes=10)))
        db.session.commit()

    result = reconcile(client, admin)

    assert any(r["action"] == "team_recreated" and r["resourceId"] == team["id"]
               for r in result["repairs"]), result
    remote = sim.state.teams[team["id"]]
    assert remote["max_budget"] == 50
    assert ours(remote["members_with_roles"]) == {owner: "user"}
    with app.app_context():
        assert db.session.get(Team, team["id"]).litellm_team_id == team["id"]


def test_reconciliation_turns_team_admins_into_plain_members(app, client, login, sim, admin):
    owner = user_id(client, login("user"))
    team = create_team(client, admin, owner)
    wait_for_job(client, admin, team["jobId"])
    with sim.state.lock:  # as provisioned before C1
        for member in sim.state.teams[team["id"]]["members_with_roles"]:
            member["role"] = "admin"

    result = reconcile(client, admin)

    repaired = [r for r in result["repairs"] if r["resourceId"] == team["id"]]
    assert repaired and "members" in repaired[0]["fields"], result
    members = sim.state.teams[team["id"]]["members_with_roles"]
    assert ours(members) == {owner: "user"}
