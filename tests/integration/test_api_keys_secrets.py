"""No raw API key anywhere LiteMaaS writes: every column of every table, Redis, logs, audit."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from app.extensions import db
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
)
from tests.support.jobs import wait_for_job

OPEN, OTHER = "gpt-4o", "gpt-4o-mini"


def database_dump(app) -> str:
    """Every row of every table as text (bytea shows as hex), like grepping a pg_dump."""
    with app.app_context():
        tables = db.session.scalars(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).all()
        rows = []
        for table in tables:
            rows.extend(db.session.scalars(text(f'SELECT t::text FROM "{table}" t')).all())
        db.session.remove()
    return "\n".join(rows)


def redis_dump(app) -> str:
    with app.app_context():
        redis = app.extensions["redis"]
        values = []
        for name in redis.scan_iter(match=f"{app.config['REDIS_KEY_PREFIX']}*"):
            kind = redis.type(name)
            if kind == b"string":
                values.append(redis.get(name))
            elif kind == b"list":
                values.extend(redis.lrange(name, 0, -1))
            elif kind == b"hash":
                values.extend(redis.hvals(name))
            elif kind == b"set":
                values.extend(redis.smembers(name))
            elif kind == b"zset":
                values.extend(redis.zrange(name, 0, -1))
        return "\n".join(v.decode(errors="replace") for v in values)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "with-encryption-key"])
def test_no_raw_key_in_database_redis_logs_or_audit(app, client, login, sim, celery_worker,
                                                    caplog, capsys, monkeypatch, encrypted):
    caplog.set_level(logging.DEBUG)
    if encrypted:
        monkeypatch.setitem(app.config, "ENCRYPTION_KEY", Fernet.generate_key().decode())
    seed_models(app, sim)
    user, admin = login("user"), login("admin")
    subscribe(client, user, OPEN)
    subscribe(client, user, OTHER)
    raws = []

    created = create_key(client, user, [OPEN], name="direct")
    raws.append(created["key"])
    sim.configure(down=True)
    deferred = create_key(client, user, [OPEN], name="deferred", expect=202)
    raws.append(deferred["key"])
    held = redis_dump(app)
    sim.configure(down=False)
    assert wait_for_job(client, user, deferred["jobId"])["status"] == "succeeded"
    rotated = client.post(f"/api/v1/api-keys/{created['id']}/rotate", headers=user).get_json()
    raws.append(rotated["key"])
    assert wait_for_job(client, user, rotated["jobId"])["status"] == "succeeded"
    if encrypted:
        shown = client.post(f"/api/v1/api-keys/{deferred['id']}/reveal", headers=user)
        assert shown.get_json()["key"] == deferred["key"]
    changed = client.patch(f"/api/v1/api-keys/{deferred['id']}", json={"modelIds": [OTHER]},
                           headers=user).get_json()
    assert wait_for_job(client, user, changed["jobId"])["status"] == "succeeded"
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": raws[1]}).status_code == 200
    revoked = client.delete(f"/api/v1/api-keys/{deferred['id']}", headers=user).get_json()
    assert wait_for_job(client, user, revoked["jobId"])["status"] == "succeeded"
    reconciled = client.post("/api/v1/admin/reconcile", headers=admin).get_json()
    assert wait_for_job(client, admin, reconciled["jobId"])["status"] == "succeeded"

    dump, cache = database_dump(app), redis_dump(app)
    assert created["id"] in dump and rotated["keyPrefix"] in dump  # the dump read api_keys
    logs = caplog.text + "\n".join(capsys.readouterr())
    assert "POST /key/generate" in logs  # LiteLLM calls (request and worker) were captured
    for raw in raws:
        for form in (raw, raw.encode().hex(), raw[3:]):
            assert form not in dump
            assert form not in cache
            assert form not in held  # the pending value is held encrypted
            assert form not in logs
