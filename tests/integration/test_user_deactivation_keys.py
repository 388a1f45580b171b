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
from tests.support.jobs import settle_jobs


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
    settle_jobs(app)
    assert sim_key(sim, key["key"])["blocked"] is True
    assert chat(sim, key["key"], models[0]).status_code != 200

    client.patch(f"/api/v1/users/{carol}", json={"isActive": True}, headers=admin)
    settle_jobs(app)
    assert not sim_key(sim, key["key"])["blocked"]
