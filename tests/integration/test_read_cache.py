"""The public catalogue list is cached per query and never stale after a committed write,
whoever wrote: a sync job, an admin edit, or plain SQL."""

from __future__ import annotations

import time

from sqlalchemy import event, text

from app.extensions import db
from app.models import Model

LIST = "/api/v1/models?limit=50&sort=name"


def sync_now(client, admin) -> None:
    response = client.post("/api/v1/models/sync", json={}, headers=admin)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["jobId"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "sync job did not succeed"
        time.sleep(0.05)


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["data"]]


class StatementCounter:
    """Counts SQL statements the app's engine runs while active."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _count(self, *args, **kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_repeated_list_is_served_from_cache_without_querying_the_catalogue(
        app, client, login, sim, celery_worker):
    sync_now(client, login("admin"))
    first = client.get(LIST)
    assert len(names(first)) == 12
    with app.app_context():
        engine = db.engine
    with StatementCounter(engine) as counter:
        second = client.get(LIST)
    assert second.get_data() == first.get_data()
    assert counter.count == 0


def test_list_shows_a_sync_result_immediately(client, login, sim, celery_worker):
    admin = login("admin")
    sync_now(client, admin)
    before = names(client.get(LIST))
    sim.configure(models=14)
    sync_now(client, admin)
    after = names(client.get(LIST))
    assert len(after) == 14 and set(before) < set(after)


def test_list_shows_an_admin_edit_immediately(client, login, sim, celery_worker):
    admin = login("admin")
    sync_now(client, admin)
    model_id = names(client.get(LIST))[0]
    client.get(LIST)  # cached now
    response = client.patch(f"/api/v1/models/{model_id}", json={"description": "Edited"},
                            headers=admin)
    assert response.status_code == 200, response.get_json()
    item = client.get(LIST).get_json()["data"][0]
    assert (item["id"], item["description"]) == (model_id, "Edited")


def test_list_shows_a_plain_sql_write_immediately(app, client, login, sim, celery_worker):
    sync_now(client, login("admin"))
    model_id = names(client.get(LIST))[0]
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE models SET availability = 'unavailable' WHERE id = :id"),
                     {"id": model_id})
    assert model_id not in names(client.get(LIST))


def test_etag_revalidation_answers_304_until_the_catalogue_changes(
        app, client, login, sim, celery_worker):
    sync_now(client, login("admin"))
    first = client.get(LIST)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get(LIST, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    other_query = client.get("/api/v1/models?limit=5", headers={"If-None-Match": etag})
    assert other_query.status_code == 200
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE models SET description = 'changed'"))
    changed = client.get(LIST, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_list_is_correct_when_the_catalogue_has_no_version_row(app, client):
    """No token (never written, or the row was removed): answers are built, never cached."""
    with app.app_context():
        db.session.add(Model(id="plain-model", provider="openai", content_hash="x",
                             litellm_info={}))
        db.session.commit()
        db.session.execute(text("DELETE FROM cache_versions"))
        db.session.commit()
    assert names(client.get(LIST)) == ["plain-model"]
    with app.app_context():
        db.session.execute(text("DELETE FROM models"))
        db.session.execute(text("DELETE FROM cache_versions"))
        db.session.commit()
    assert names(client.get(LIST)) == []
