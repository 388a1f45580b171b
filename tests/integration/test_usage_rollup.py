"""The usage rollup with a real worker and the simulator: LiteLLM's daily activity lands in
usage_daily exactly (to the token and the 1e-8 dollar), reruns and crashes never count twice,
older days stay frozen unless a backfill is asked, and deleted keys keep counting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import Job, Setting
from app.services import usage_rollup
from tests.integration.usage_world import (
    METRICS,
    World,
    days_ago,
    db_rows,
    run_rollup,
    today,
    totals_of,
    totals_table_agrees,
)
from tests.support.jobs import settle_jobs, wait_for_job


@pytest.fixture
def world(app, sim):
    world = World(app, sim)
    world.catalogue()
    world.team("platform")
    world.user("alice")
    world.user("bob")
    world.key("alice-main", "alice", team="platform")
    world.key("alice-batch", "alice", models=("gpt-4o-mini", "granite-3-8b-instruct"))
    world.key("bob-main", "bob", team="platform")
    return world


def grains_from_simulator(world: World) -> dict[tuple, dict]:
    """(day, user, key token, model) → metrics, straight from the simulator's spend rows."""
    by_user = {str(user_id): user_id for user_id in world.users.values()}
    return {(row["date"], by_user[row["user_id"]], row["api_key"], row["model_group"]):
            totals_of([row]) for row in world.raw_rows()}


def grains_in_database(app) -> dict[tuple, dict]:
    return {(row["day"].isoformat(), row["user_id"], row["api_key_hash"], row["model_id"]):
            {name: row[name] for name in METRICS} for row in db_rows(app)}


def test_rollup_puts_every_litellm_row_in_usage_daily_exactly(app, client, login, world,
                                                               celery_worker):
    world.traffic(days=7, seed=11)
    admin = login("admin")
    settle_jobs(app)  # the sign-in made the admin's LiteLLM user too

    job = run_rollup(client, admin)

    assert job["status"] == "succeeded", job
    expected = grains_from_simulator(world)
    assert expected and grains_in_database(app) == expected
    assert totals_table_agrees(app)
    assert job["progress"] == 100
    assert job["result"]["users"] == 3 and job["result"]["rows"] == len(expected)
    assert job["result"]["startDate"] == days_ago(usage_rollup.FIRST_RUN_DAYS - 1).isoformat()


def test_rows_carry_team_key_and_provider_attribution(app, client, login, world,
                                                      celery_worker):
    world.traffic(days=3, seed=12)

    run_rollup(client, login("admin"))

    providers = world.catalogue()
    for row in db_rows(app):
        key = next(k for k in world.keys.values() if k.token == row["api_key_hash"])
        assert row["api_key_id"] == key.id
        assert row["user_id"] == world.users[key.user]
        assert row["provider"] == providers[row["model_id"]]
        team = world.teams["platform"] if key in (world.keys["alice-main"],
                                                   world.keys["bob-main"]) else None
        assert row["team_id"] == team


def test_rerun_replaces_values_and_never_double_counts(app, client, login, world,
                                                       celery_worker):
    world.traffic(days=5, seed=13)
    admin = login("admin")
    run_rollup(client, admin)
    first = grains_in_database(app)

    second = run_rollup(client, admin)

    assert second["status"] == "succeeded"
    assert grains_in_database(app) == first == grains_from_simulator(world)
    assert totals_table_agrees(app)


def test_new_traffic_today_is_picked_up_by_the_next_run(app, client, login, world, sim,
                                                        celery_worker):
    world.traffic(days=3, seed=14)
    admin = login("admin")
    run_rollup(client, admin)
    from litellm_sim.spend import tick_activity

    with sim.state.lock:
        tick_activity(sim.state, 7, tick=1, seed=99)  # live requests made today

    run_rollup(client, admin)

    assert grains_in_database(app) == grains_from_simulator(world)
    assert totals_table_agrees(app)


def test_crash_part_way_then_rerun_leaves_every_day_counted_once(app, client, login, world,
                                                                 sim, monkeypatch,
                                                                 celery_worker):
    world.traffic(days=7, seed=15)
    admin = login("admin")
    run_rollup(client, admin)
    before = grains_in_database(app)
    world.traffic(days=7, seed=16)  # LiteLLM's numbers change (e.g. late-arriving spend)
    after = grains_from_simulator(world)
    monkeypatch.setattr(usage_rollup, "PAGE_SIZE", 3)  # several pages per user
    monkeypatch.setattr(usage_rollup, "FLUSH_ROWS", 1)  # a transaction per page: progress kept
    sim.configure(activity_fail_page=5)  # LiteLLM fails on every user's fifth page
    response = client.post("/api/v1/admin/usage/rollup", json={
        "startDate": days_ago(6).isoformat(), "endDate": today().isoformat()}, headers=admin)
    job_id = response.get_json()["jobId"]

    crashed = wait_for_job(client, admin, job_id, until=lambda job: job["error"] is not None)

    assert "500" in crashed["error"]["message"]
    rows = grains_in_database(app)
    groups = {grain[:2] for grain in [*rows, *before, *after]}
    updated = 0
    for group in groups:  # each (day, user): entirely the new figures or entirely the old
        now = {g: m for g, m in rows.items() if g[:2] == group}
        new = {g: m for g, m in after.items() if g[:2] == group}
        old = {g: m for g, m in before.items() if g[:2] == group}
        assert now in (new, old), group
        updated += now == new != old
    assert 0 < updated < len(groups)
    assert stale_totals(app) == {"start": days_ago(6).isoformat(), "end": today().isoformat()}

    sim.configure(activity_fail_page=0)
    finished = wait_for_job(client, admin, job_id)

    assert finished["status"] == "succeeded" and finished["attempts"] >= 2
    assert grains_in_database(app) == after
    assert totals_table_agrees(app) and stale_totals(app) is None


def test_totals_of_a_run_that_failed_are_redone_by_the_next_run(app, client, login, world,
                                                                monkeypatch, celery_worker):
    from app.litellm.client import LiteLLMClient
    from app.litellm.errors import LiteLLMInvalidResponse

    world.traffic(days=6, seed=26)
    admin = login("admin")
    real_page, calls = LiteLLMClient.user_daily_activity, []

    def fails_on_sixth_page(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise LiteLLMInvalidResponse("GET /user/daily/activity: garbled")
        return real_page(self, *args, **kwargs)

    monkeypatch.setattr(usage_rollup, "PAGE_SIZE", 3)
    monkeypatch.setattr(usage_rollup, "FLUSH_ROWS", 1)  # a transaction per page
    monkeypatch.setattr(LiteLLMClient, "user_daily_activity", fails_on_sixth_page)
    failed = run_rollup(client, admin, {"startDate": days_ago(5).isoformat(),
                                        "endDate": today().isoformat()})
    assert failed["status"] == "failed"
    assert grains_in_database(app) and not totals_table_agrees(app)
    monkeypatch.setattr(LiteLLMClient, "user_daily_activity", real_page)

    scheduled = run_rollup(client, admin)  # a different window: today and yesterday

    assert scheduled["status"] == "succeeded"
    assert totals_table_agrees(app) and stale_totals(app) is None


def stale_totals(app):
    from app.extensions import db

    with app.app_context():
        setting = db.session.get(Setting, usage_rollup.STALE_TOTALS_SETTING)
        value = setting.value if setting else None
        db.session.remove()
    return value


def test_keys_deleted_since_still_count_for_their_user(app, client, login, world,
                                                       celery_worker):
    world.traffic(days=4, seed=17)
    world.delete_key("alice-batch")  # gone from our database and from LiteLLM
    admin = login("admin")

    run_rollup(client, admin)

    token = world.token_of("alice-batch")
    deleted = [row for row in db_rows(app) if row["api_key_hash"] == token]
    assert deleted
    assert all(row["user_id"] == world.users["alice"] and row["api_key_id"] is None
               for row in deleted)
    assert grains_in_database(app) == grains_from_simulator(world)


def test_key_deleted_after_a_rollup_keeps_its_rows_and_user(app, client, login, world,
                                                             celery_worker):
    world.traffic(days=4, seed=18)
    admin = login("admin")
    run_rollup(client, admin)
    world.delete_key("bob-main")

    run_rollup(client, admin)  # today and yesterday are recomputed without the key row

    token = world.token_of("bob-main")
    rows = [row for row in db_rows(app) if row["api_key_hash"] == token]
    assert {row["day"] for row in rows} == {days_ago(n) for n in range(4)}
    assert all(row["user_id"] == world.users["bob"] for row in rows)
    assert all(row["team_id"] == world.teams["platform"] for row in rows)
    assert grains_in_database(app) == grains_from_simulator(world)


def test_older_days_stay_frozen_until_a_backfill_recomputes_them(app, client, login, world,
                                                                 celery_worker):
    world.traffic(days=6, seed=19)
    admin = login("admin")
    run_rollup(client, admin)
    before = grains_in_database(app)
    world.traffic(days=6, seed=20)  # every day's figures change in LiteLLM
    after = grains_from_simulator(world)
    recent = {today().isoformat(), days_ago(1).isoformat()}

    scheduled = run_rollup(client, admin)

    rows = grains_in_database(app)
    assert scheduled["result"]["startDate"] == days_ago(1).isoformat()
    assert {g: m for g, m in rows.items() if g[0] in recent} == {
        g: m for g, m in after.items() if g[0] in recent}
    assert {g: m for g, m in rows.items() if g[0] not in recent} == {
        g: m for g, m in before.items() if g[0] not in recent}

    backfill = run_rollup(client, admin, {"startDate": days_ago(5).isoformat(),
                                          "endDate": today().isoformat()})

    assert backfill["result"]["backfill"] is True
    assert grains_in_database(app) == after
    assert totals_table_agrees(app)
    assert backfill["result"]["frozenThrough"] == days_ago(2).isoformat()


def test_watermark_catches_up_days_missed_while_no_rollup_ran(app, client, login, world,
                                                              celery_worker):
    world.traffic(days=6, seed=21)
    with app.app_context():
        from app.extensions import db

        db.session.add(Setting(key=usage_rollup.WATERMARK_SETTING,
                               value={"day": days_ago(5).isoformat()}))
        db.session.commit()

    job = run_rollup(client, login("admin"))

    assert job["result"]["startDate"] == days_ago(4).isoformat()
    assert job["result"]["frozenThrough"] == days_ago(2).isoformat()
    assert {g[0] for g in grains_in_database(app)} == {days_ago(n).isoformat()
                                                       for n in range(5)}


def test_rollup_of_a_day_litellm_no_longer_reports_empties_it(app, client, login, world,
                                                              sim, celery_worker):
    world.traffic(days=3, seed=22)
    admin = login("admin")
    run_rollup(client, admin)
    with sim.state.lock:  # LiteLLM lost (or corrected away) yesterday's activity
        for row_id in [i for i, r in sim.state.spend_rows.items()
                       if r["date"] == days_ago(1).isoformat()]:
            del sim.state.spend_rows[row_id]

    run_rollup(client, admin)

    assert days_ago(1) not in {row["day"] for row in db_rows(app)}
    assert grains_in_database(app) == grains_from_simulator(world)
    assert totals_table_agrees(app)


def test_day_cut_across_pages_is_summed_not_replaced(app, client, login, world, monkeypatch,
                                                     celery_worker):
    world.traffic(days=2, seed=23)
    monkeypatch.setattr(usage_rollup, "PAGE_SIZE", 1)  # every LiteLLM row on its own page

    job = run_rollup(client, login("admin"))

    assert job["result"]["pages"] >= len(world.raw_rows())
    assert grains_in_database(app) == grains_from_simulator(world)


def test_scheduled_entry_point_enqueues_and_runs_the_rollup(app, world, client, login,
                                                            celery_worker):
    from worker.tasks.maintenance import enqueue_scheduled

    world.traffic(days=2, seed=24)
    with app.app_context():
        job_id = enqueue_scheduled("usage_rollup")

    job = wait_for_job(client, login("admin"), job_id)

    assert job["status"] == "succeeded" and job["params"] == {"trigger": "scheduled"}
    assert grains_in_database(app) == grains_from_simulator(world)


def test_second_request_while_running_returns_the_same_job(app, client, login, world, sim,
                                                           celery_worker):
    world.traffic(days=2, seed=25)
    sim.configure(latency_ms=400)
    admin = login("admin")
    first = client.post("/api/v1/admin/usage/rollup", json={}, headers=admin).get_json()

    again = client.post("/api/v1/admin/usage/rollup", json={}, headers=admin)
    other_range = client.post("/api/v1/admin/usage/rollup", headers=admin, json={
        "startDate": days_ago(3).isoformat(), "endDate": days_ago(2).isoformat()})

    assert again.status_code == 202 and again.get_json()["jobId"] == first["jobId"]
    assert other_range.status_code == 409
    assert other_range.get_json()["error"]["details"]["jobId"] == first["jobId"]
    sim.configure(latency_ms=0)
    assert wait_for_job(client, admin, first["jobId"])["status"] == "succeeded"
    with app.app_context():
        from app.extensions import db

        assert db.session.scalar(select(func.count()).select_from(Job).where(
            Job.kind == usage_rollup.ROLLUP_KIND)) == 1


@pytest.mark.parametrize(("body", "code"), [
    ({"startDate": "2026-01-10", "endDate": "2026-01-01"}, "INVALID_DATE_RANGE"),
    ({"startDate": "2024-01-01", "endDate": "2025-06-01"}, "DATE_RANGE_TOO_LARGE"),
    ({"startDate": "yesterday"}, "VALIDATION_ERROR"),
    ({"from": "2026-01-01"}, "VALIDATION_ERROR"),
])
def test_invalid_rollup_ranges_are_400(client, login, body, code):
    response = client.post("/api/v1/admin/usage/rollup", json=body, headers=login("admin"))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("username", ["adminro", "user"])
def test_only_admins_may_start_a_rollup(client, login, username):
    response = client.post("/api/v1/admin/usage/rollup", json={}, headers=login(username))

    assert response.status_code == 403


def test_litellm_answer_without_valid_dates_fails_the_job_clearly(app, client, login, world,
                                                                  monkeypatch, celery_worker):
    from app.litellm.client import LiteLLMClient

    def broken_page(self, *args, **kwargs):
        return {"results": [{"date": "not-a-date", "breakdown": {}}],
                "metadata": {"has_more": False}}

    monkeypatch.setattr(LiteLLMClient, "user_daily_activity", broken_page)

    job = run_rollup(client, login("admin"))

    assert job["status"] == "failed"
    assert job["error"]["type"] == "LiteLLMInvalidResponse"


def test_window_for_first_scheduled_run_and_for_backfills(app_ctx):
    now = today()

    first = usage_rollup.resolve_window({}, now)
    backfill = usage_rollup.resolve_window({"startDate": "2026-01-01", "endDate": "2026-01-31"},
                                           now)

    assert first.start == now - timedelta(days=usage_rollup.FIRST_RUN_DAYS - 1)
    assert first.end == now and not first.backfill
    assert (backfill.start.isoformat(), backfill.backfill) == ("2026-01-01", True)
