"""usage_daily as a fact table (migration 0009): no foreign keys, yet no row can reference a
deleted user, team or key; monthly partitions made on demand; whole months dropped by the
retention job; rows written by COPY stay exact on reruns."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.services import usage_partitions, usage_rollup

ORPHANS = """
    SELECT count(*) FROM usage_daily u
    WHERE (u.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users x WHERE x.id = u.user_id))
       OR (u.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM teams x WHERE x.id = u.team_id))
       OR (u.api_key_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM api_keys x WHERE x.id = u.api_key_id))
"""


def _sql(statement: str, **params):
    from app.extensions import db

    result = db.session.execute(text(statement), params)
    return result


def _commit():
    from app.extensions import db

    db.session.commit()


def _world() -> dict:
    """A user with a key in a team (LiteLLM team id ``lt-<team>``)."""
    from app.extensions import db

    user, team, key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = uuid.uuid4().hex + uuid.uuid4().hex
    _sql("INSERT INTO users (id, username, oauth_provider, oauth_subject, litellm_user_id) "
         "VALUES (:id, :name, 'test', :name, :name)", id=user, name=f"fact-{user.hex[:8]}")
    _sql("INSERT INTO teams (id, name, litellm_team_id) VALUES (:id, :name, :lt)",
         id=team, name=f"team-{team.hex[:8]}", lt=f"lt-{team}")
    _sql("INSERT INTO api_keys (id, user_id, team_id, name, key_prefix, key_hash, "
         "provisioning_state) VALUES (:id, :user, :team, 'k', 'sk-x', :token, 'active')",
         id=key, user=user, team=team, token=token)
    db.session.commit()
    return {"user": user, "team": team, "key": key, "token": token}


def _grains(world: dict, day: date, requests: int = 3) -> dict:
    values = (requests, requests, 0, 10 * requests, 5 * requests, 15 * requests,
              12_345_678 * requests)  # spend in SPEND_UNITS: 0.12345678 per request
    return {day: {(world["token"], "gpt-4o"): values}}


def _rows():
    return _sql("SELECT day, user_id, team_id, api_key_id, api_key_hash, requests, spend "
                "FROM usage_daily ORDER BY day").all()


def test_deleting_a_team_or_key_nulls_its_rows(app_ctx):
    world = _world()
    day = date.today()
    usage_rollup.write_days(world["user"], _grains(world, day), {}, {"gpt-4o": "openai"})
    [row] = _rows()
    assert (row.team_id, row.api_key_id) == (world["team"], world["key"])

    _sql("DELETE FROM api_keys WHERE id = :id", id=world["key"])
    _sql("DELETE FROM teams WHERE id = :id", id=world["team"])
    _commit()

    [row] = _rows()
    assert (row.user_id, row.team_id, row.api_key_id) == (world["user"], None, None)
    assert row.requests == 3 and row.api_key_hash == world["token"]
    assert _sql(ORPHANS).scalar() == 0


def test_references_gone_before_the_write_are_written_as_null(app_ctx):
    world = _world()
    day = date.today()
    _sql("DELETE FROM api_keys WHERE id = :id", id=world["key"])
    _commit()
    # LiteLLM still names the team of the (deleted) key; the team goes too, after the lookup
    # would have found it: the rollup checks again under lock.
    real_teams = usage_rollup._teams_by_litellm_id

    def teams_then_delete(ids):
        found = real_teams(ids)
        with _other_connection() as conn:
            conn.execute(text("DELETE FROM teams WHERE id = :id"), {"id": world["team"]})
        return found

    usage_rollup._teams_by_litellm_id = teams_then_delete
    try:
        usage_rollup.write_days(world["user"], _grains(world, day),
                                {world["token"]: f"lt-{world['team']}"}, {})
    finally:
        usage_rollup._teams_by_litellm_id = real_teams

    [row] = _rows()
    assert (row.user_id, row.team_id, row.api_key_id) == (world["user"], None, None)
    assert _sql(ORPHANS).scalar() == 0


def test_a_delete_during_the_write_waits_for_it_then_nulls_its_rows(app, app_ctx):
    world = _world()
    day = date.today()
    in_copy, release = threading.Event(), threading.Event()
    real_copy = usage_rollup.copy_in

    def paused_copy(*args):
        in_copy.set()
        assert release.wait(30)
        real_copy(*args)

    errors = []

    def write():
        with app.app_context():
            try:
                usage_rollup.write_days(world["user"], _grains(world, day), {}, {})
            except Exception as exc:
                errors.append(exc)
            finally:
                from app.extensions import db

                db.session.remove()

    usage_rollup.copy_in = paused_copy
    writer = threading.Thread(target=write)
    try:
        writer.start()
        assert in_copy.wait(30)
        # The write holds the team FOR KEY SHARE: a delete must wait for its commit.
        with _other_connection() as conn, pytest.raises(OperationalError, match="lock timeout"):
            conn.execute(text("SET LOCAL lock_timeout = '300ms'"))
            conn.execute(text("DELETE FROM teams WHERE id = :id"), {"id": world["team"]})
        from app.extensions import db

        deleted = threading.Thread(target=_delete_team, args=(db.engine.url, world["team"]))
        deleted.start()
        release.set()
        writer.join(30)
        deleted.join(30)
    finally:
        usage_rollup.copy_in = real_copy
        release.set()
    assert not errors
    [row] = _rows()
    assert (row.team_id, row.api_key_id) == (None, world["key"])
    assert _sql(ORPHANS).scalar() == 0


def _delete_team(url, team_id):
    with _other_connection(url) as conn:
        conn.execute(text("DELETE FROM teams WHERE id = :id"), {"id": team_id})


class _other_connection:
    """A second connection (its own transaction, committed on a clean exit)."""

    def __init__(self, url=None):
        self.url = url

    def __enter__(self):
        if self.url is None:
            from app.extensions import db

            self.url = db.engine.url
        self.engine = create_engine(self.url)
        self.conn = self.engine.connect()
        self.conn.begin()
        return self.conn

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
            self.engine.dispose()
        return False


def test_rows_go_to_their_months_partition_and_rows_of_a_new_month_move_out_of_default(
        app_ctx):
    world = _world()
    far = date(2019, 3, 14)  # no partition for it yet: the default one takes it
    _sql("INSERT INTO usage_daily (day, user_id, api_key_hash, model_id) "
         "VALUES (:day, :user, 'h', 'm')", day=far, user=world["user"])
    _commit()
    assert _partition_of(far) == "usage_daily_default"

    usage_rollup.write_days(world["user"], _grains(world, far + timedelta(days=1)), {}, {})

    assert _partition_of(far) == "usage_daily_2019_03"  # moved when the month was made
    assert _sql("SELECT count(*) FROM usage_parts.usage_daily_default").scalar() == 0
    assert len(_rows()) == 2


def _partition_of(day: date) -> str:
    return _sql("SELECT tableoid::regclass::text FROM usage_daily WHERE day = :day",
                day=day).scalar().removeprefix("usage_parts.")


def test_rerun_of_copied_rows_writes_nothing_and_a_change_replaces_values(app_ctx):
    world = _world()
    day = date.today()
    grains = _grains(world, day)
    usage_rollup.write_days(world["user"], grains, {}, {"gpt-4o": "openai"})
    first = _sql("SELECT id, updated_at FROM usage_daily").one()

    usage_rollup.write_days(world["user"], grains, {}, {"gpt-4o": "openai"})
    assert _sql("SELECT id, updated_at FROM usage_daily").one() == first

    usage_rollup.write_days(world["user"], _grains(world, day, requests=5), {}, {})
    [row] = _rows()
    assert row.requests == 5 and row.spend == Decimal("0.61728390")
    usage_rollup.write_days(world["user"], {day: {}}, {}, {})
    assert _rows() == []


def test_retention_drops_whole_months_older_than_the_setting(app_ctx):
    world = _world()
    today = date(2026, 12, 3)
    for day in (date(2026, 9, 30), date(2026, 10, 1), date(2026, 12, 1)):
        usage_rollup.write_days(world["user"], _grains(world, day), {}, {})
    _sql("INSERT INTO usage_daily_totals (day, model_id) VALUES ('2026-09-30', 'gpt-4o')")
    _commit()

    assert usage_partitions.drop_expired(0, today) == []  # 0 keeps every month
    dropped = usage_partitions.drop_expired(3, today)  # December, November, October stay

    assert "2026-09" in dropped and "2026-10" not in dropped
    assert {row.day for row in _rows()} == {date(2026, 10, 1), date(2026, 12, 1)}
    assert _sql("SELECT count(*) FROM usage_daily_totals WHERE day < '2026-10-01'").scalar() == 0
    assert date(2026, 9, 1) not in usage_partitions.existing_months()


def test_two_writers_write_a_user_split_across_batches_exactly_and_a_rerun_rewrites_nothing(
        app_ctx):
    world = _world()
    first = date.today() - timedelta(days=39)  # two months' partitions, made by either writer
    days = {first + timedelta(days=n): {
        (world["token"], f"model-{m}"): (n, n, 0, m, n, m + n, n * 1_000_000_007 + m)
        for m in range(3)} for n in range(40)}

    def write_all() -> None:
        writer = usage_rollup.UsageWriter({}, flush_rows=8, background=True)
        for day, grains in days.items():  # a batch every two days: 20 for the one user
            writer.add(world["user"], {day: grains}, {})
        writer.close()

    def rows() -> dict:
        return {(row.day, row.model_id): row[2:] for row in _sql(
            "SELECT day, model_id, id, requests, total_tokens, spend FROM usage_daily")}

    write_all()
    written = rows()
    write_all()

    assert {grain: values[1:] for grain, values in written.items()} == {
        (day, model): (values[0], values[5], Decimal(values[6]).scaleb(-8))
        for day, grains in days.items() for (_, model), values in grains.items()}
    assert rows() == written  # the same ids: nothing deleted and written again
