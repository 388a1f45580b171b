"""L8: the job that deletes a rotated-out key value carries its hash (LiteLLM's token) for the
worker, but no API answer shows it whole: readonly admins see the first 8 characters."""

from __future__ import annotations

import hashlib

from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
)
from tests.support.jobs import wait_for_job


def test_rotated_out_key_hash_is_not_readable_in_job_details(app, client, login, sim,
                                                             celery_worker):
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, "gpt-4o")
    key = create_key(client, user, ["gpt-4o"])
    old_hash = hashlib.sha256(key["key"].encode()).hexdigest()
    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=user)
    assert rotated.status_code == 200
    job_id = rotated.get_json()["jobId"]
    wait_for_job(client, login("admin"), job_id)

    readonly = login("adminro")
    answers = [client.get(f"/api/v1/jobs/{job_id}", headers=readonly),
               client.get("/api/v1/jobs?limit=100", headers=readonly),
               client.get(f"/api/v1/jobs/{job_id}", headers=user)]
    for response in answers:
        assert response.status_code == 200
        assert old_hash not in response.get_data(as_text=True)
    job = answers[0].get_json()
    assert job["params"]["token"] == old_hash[:8] + "…"  # enough to match a log line
    assert job["status"] == "succeeded"  # the worker still had the whole hash
