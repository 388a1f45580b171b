"""Every sign-in, mock included, queues the user's LiteLLM user once (issue 15 §4): a mock user
reaches LiteLLM at sign-in, not only at their first key."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Job
from tests.integration.provisioning_support import user_id
from tests.support.jobs import settle_jobs, wait_for_jobs


def test_mock_sign_in_provisions_the_litellm_user_once(app, client, login, sim, celery_worker):
    headers = login("dora")
    uid = user_id(client, headers)
    [job] = wait_for_jobs(app, "provision_user")
    assert job.status == "succeeded", job.error
    remote = sim.state.users[uid]
    assert remote["user_role"] == "internal_user_viewer"
    assert remote["max_budget"] == app.config["DEFAULT_USER_MAX_BUDGET"]
    assert remote["user_alias"] == "dora"

    login("dora")
    settle_jobs(app)
    with app.app_context():
        assert len(db.session.scalars(select(Job).where(Job.kind == "provision_user")).all()) == 1
        first, _second = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "LOGIN").order_by(AuditLog.created_at))
        assert first.details["provisioningJobId"] == str(job.id)
