"""L6: concurrent key creations cannot beat MAX_API_KEYS_PER_USER: the quota check and the new
key's insert are one critical section per owner."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import ApiKey
from tests.integration.provisioning_support import create_key, seed_models, subscribe

SLOW_INSERT = """
CREATE OR REPLACE FUNCTION test_slow_key_insert() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_slow_key_insert BEFORE INSERT ON api_keys
FOR EACH ROW EXECUTE FUNCTION test_slow_key_insert();
"""


def test_concurrent_creations_stop_at_the_quota(app, client, login, sim, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_API_KEYS_PER_USER", 3)
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, "gpt-4o")
    for n in range(2):
        create_key(client, user, ["gpt-4o"], name=f"key {n}")
    with app.app_context():
        # widen the window between the quota count and the commit, as a loaded database would
        db.session.execute(text(SLOW_INSERT))
        db.session.commit()
    codes: list[int] = []
    try:
        def create(n: int) -> None:
            response = app.test_client().post(
                "/api/v1/api-keys", json={"name": f"race {n}", "modelIds": ["gpt-4o"]},
                headers=user)
            codes.append(response.status_code)
            if response.status_code == 409:
                assert response.get_json()["error"]["code"] == "API_KEY_LIMIT_REACHED"

        threads = [threading.Thread(target=create, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER test_slow_key_insert ON api_keys; "
                                    "DROP FUNCTION test_slow_key_insert()"))
            db.session.commit()
    assert sorted(codes) == [201, 409, 409, 409, 409]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 3
