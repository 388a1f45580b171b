"""Deactivating a user blocks their keys in LiteLLM (not only in our own auth); reactivating
unblocks them."""

from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_key,
    subscribe,
    user_id,
)


def _wait_idle(client, admin):
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = client.get("/api/v1/jobs?status=queued", headers=admin).get_json()
        running = client.get("/api/v1/jobs?status=running", headers=admin).get_json()
        if page["pagination"]["total"] == 0 and running["pagination"]["total"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("jobs still pending")


def test_deactivating_a_user_blocks_their_keys_in_litellm(app, sim, client, login,
                                                          celery_worker):
    models = seed_models(app, sim)
    user, admin = login("carol"), login("admin")
    subscribe(client, user, models[0])
    key = create_key(client, user, [models[0]])
    assert chat(sim, key["key"], models[0]).status_code == 200
    carol = user_id(client, user)

    response = client.patch(f"/api/v1/users/{carol}", json={"isActive": False}, headers=admin)
    assert response.status_code in (200, 202), response.get_json()
    _wait_idle(client, admin)
    assert sim_key(sim, key["key"])["blocked"] is True
    assert chat(sim, key["key"], models[0]).status_code != 200

    client.patch(f"/api/v1/users/{carol}", json={"isActive": True}, headers=admin)
    _wait_idle(client, admin)
    assert not sim_key(sim, key["key"])["blocked"]
