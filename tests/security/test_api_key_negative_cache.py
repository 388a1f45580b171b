"""Also (issue 14): an unknown ``sk-`` value is remembered as unknown for a short time, so a
client retrying (or guessing with) it costs no database query per request, while the refusal
(401, counted against the client's rate limit) stays the same."""

from __future__ import annotations

import contextlib
import hashlib
import uuid

from sqlalchemy import event

from app.extensions import db
from app.models import ApiKey, User


@contextlib.contextmanager
def api_key_queries(app):
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        if "FROM api_keys" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def test_unknown_key_is_looked_up_once(app, client):
    unknown = {"Authorization": f"Bearer sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"}
    with api_key_queries(app) as seen:
        codes = [client.get("/api/v1/auth/me", headers=unknown).status_code for _ in range(5)]
    assert codes == [401] * 5
    assert len(seen) == 1, seen


def test_a_key_never_seen_before_still_authenticates(app, client, login):
    login("user")
    raw = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    other = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": other}).status_code == 401
    with app.app_context():
        user = db.session.query(User).filter_by(username="user").one()
        db.session.add(ApiKey(user_id=user.id, name="k", key_prefix=raw[:8],
                              key_hash=hashlib.sha256(raw.encode()).hexdigest(),
                              provisioning_state="active"))
        db.session.commit()
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": raw}).status_code == 200
