"""Budgets: the rollup refreshes user, team and key spend for the current budget period (keys
from LiteLLM's own counter when it answers), and budget crossings are audited once per
period."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from app.models import ApiKey, AuditLog, Team, User
from app.services import budgets
from tests.integration.usage_world import World, days_ago, run_rollup, today

CENTI_MICRO = Decimal("0.000001")  # users/teams/api_keys.spend keep 6 decimal places


def six(value: Decimal) -> Decimal:
    return value.quantize(CENTI_MICRO, ROUND_HALF_UP)


@pytest.fixture
def world(app, sim) -> World:
    world = World(app, sim)
    world.catalogue()
    world.team("platform")
    world.user("alice")
    world.user("bob")
    world.key("alice-main", "alice", team="platform")
    world.key("alice-batch", "alice", models=("gpt-4o-mini",))
    world.key("bob-main", "bob", team="platform")
    world.traffic(days=8, seed=61)
    return world


def spend_of(app, model, ident) -> Decimal:
    from app.extensions import db

    with app.app_context():
        value = db.session.get(model, ident).spend
        db.session.remove()
    return value


def set_columns(app, model, ident, **columns) -> None:
    from app.extensions import db

    with app.app_context():
        row = db.session.get(model, ident)
        for name, value in columns.items():
            setattr(row, name, value)
        db.session.commit()


def audit_rows(app, action: str) -> list[AuditLog]:
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        db.session.expunge_all()
    return rows


def test_rollup_refreshes_user_team_and_key_spend(app, client, login, world, celery_worker):
    run_rollup(client, login("admin"))

    def owned_by(name):
        return lambda r: r["user_id"] == str(world.users[name])

    team_tokens = {world.token_of("alice-main"), world.token_of("bob-main")}
    assert spend_of(app, User, world.users["alice"]) == six(
        world.expected(days_ago(400), today(), owned_by("alice"))["spend"])
    assert spend_of(app, Team, world.teams["platform"]) == six(
        world.expected(days_ago(400), today(), lambda r: r["api_key"] in team_tokens)["spend"])
    with world.sim.state.lock:
        litellm_spend = world.sim.state.keys[world.token_of("bob-main")]["spend"]
    assert spend_of(app, ApiKey, world.keys["bob-main"].id) == six(Decimal(repr(litellm_spend)))


def test_key_spend_follows_litellm_counter_and_falls_back_to_the_rollup(
        app, client, login, world, sim, monkeypatch, celery_worker):
    admin = login("admin")
    with sim.state.lock:  # e.g. LiteLLM reset the key's budget counter
        sim.state.keys[world.token_of("alice-main")]["spend"] = 1.25
    run_rollup(client, admin)
    assert spend_of(app, ApiKey, world.keys["alice-main"].id) == Decimal("1.250000")

    from app.litellm.client import LiteLLMClient
    from app.litellm.errors import LiteLLMNotFound

    def no_key_list(self, *args, **kwargs):
        raise LiteLLMNotFound("GET /key/list -> 404: Not Found", 404)

    monkeypatch.setattr(LiteLLMClient, "key_list", no_key_list)
    run_rollup(client, admin)

    token = world.token_of("alice-main")
    assert spend_of(app, ApiKey, world.keys["alice-main"].id) == six(
        world.expected(days_ago(400), today(), lambda r: r["api_key"] == token)["spend"])


def test_daily_budget_counts_only_today(app, client, login, world, celery_worker):
    set_columns(app, User, world.users["alice"], budget_duration="1d")

    run_rollup(client, login("admin"))

    alice = str(world.users["alice"])
    assert spend_of(app, User, world.users["alice"]) == six(
        world.expected(today(), today(), lambda r: r["user_id"] == alice)["spend"])


def test_soft_budget_crossing_is_audited_once_per_period(app, client, login, world, sim,
                                                         celery_worker):
    key = world.keys["alice-main"]
    set_columns(app, ApiKey, key.id, soft_budget=Decimal("0.000001"))
    admin = login("admin")

    run_rollup(client, admin)
    spend_when_crossed = spend_of(app, ApiKey, key.id)
    with sim.state.lock:  # more traffic; the key stays over its soft budget
        from litellm_sim.spend import tick_activity

        tick_activity(sim.state, 5, tick=1, seed=7)
    run_rollup(client, admin)

    rows = audit_rows(app, budgets.SOFT_LIMIT_REACHED)
    assert [(row.resource_type, row.resource_id) for row in rows] == [("api_key", str(key.id))]
    assert rows[0].details["period"] == "lifetime"
    assert rows[0].details["kind"] == "soft"
    assert Decimal(rows[0].details["spend"]) == spend_when_crossed
    assert spend_of(app, ApiKey, key.id) > spend_when_crossed


def test_a_new_period_records_the_crossing_again(app, client, login, world, celery_worker):
    key = world.keys["bob-main"]
    set_columns(app, ApiKey, key.id, soft_budget=Decimal("0.000001"), budget_duration="1d")
    with app.app_context():
        from app.services import audit

        audit.record(budgets.SOFT_LIMIT_REACHED, "api_key", key.id,
                     details={"period": days_ago(1).isoformat()})
        from app.extensions import db

        db.session.commit()

    run_rollup(client, login("admin"))

    periods = sorted(row.details["period"] for row in audit_rows(app, budgets.SOFT_LIMIT_REACHED))
    assert periods == [days_ago(1).isoformat(), today().isoformat()]


def test_user_and_team_budget_limits_reached_are_audited(app, client, login, world,
                                                         celery_worker):
    set_columns(app, User, world.users["alice"], max_budget=Decimal("0.000001"))
    set_columns(app, Team, world.teams["platform"], max_budget=Decimal("0.000001"))
    set_columns(app, User, world.users["bob"], max_budget=Decimal("1000000"))
    admin = login("admin")

    run_rollup(client, admin)
    run_rollup(client, admin)

    rows = audit_rows(app, budgets.LIMIT_REACHED)
    assert sorted((row.resource_type, row.resource_id) for row in rows) == sorted(
        [("user", str(world.users["alice"])), ("team", str(world.teams["platform"]))])
    assert all(row.details["kind"] == "hard" for row in rows)


def test_revoked_keys_raise_no_alert(app, client, login, world, celery_worker):
    from datetime import UTC, datetime

    set_columns(app, ApiKey, world.keys["alice-batch"].id, soft_budget=Decimal("0.000001"),
                revoked_at=datetime.now(UTC), provisioning_state="revoked")

    run_rollup(client, login("admin"))

    assert audit_rows(app, budgets.SOFT_LIMIT_REACHED) == []


def test_budget_endpoint_shows_the_calendar_period(app, client, login, world, celery_worker):
    headers = login("alice")
    set_columns(app, User, world.users["alice"], max_budget=Decimal("100"),
                budget_duration="monthly")
    run_rollup(client, login("admin"))

    body = client.get("/api/v1/usage/budget", headers=headers).get_json()

    first = today().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    assert (body["periodStart"], body["budgetResetAt"]) == (first.isoformat(),
                                                            following.isoformat())
    alice = str(world.users["alice"])
    spent = six(world.expected(first, today(), lambda r: r["user_id"] == alice)["spend"])
    assert Decimal(repr(body["currentSpend"])) == spent
    assert Decimal(repr(body["remainingBudget"])) == Decimal(100) - spent


def test_admin_api_key_has_no_budget(client):
    response = client.get("/api/v1/usage/budget",
                          headers={"X-API-Key": "ltm_admin_test_key_0123456789"})

    assert response.status_code == 404


def test_budget_endpoint_shows_the_default_budget_litellm_enforces(
        app, client, login, world, celery_worker):
    """A user without a budget of their own is held by LiteLLM to DEFAULT_USER_MAX_BUDGET
    (provisioning pushes it): that is the budget shown (issue 15 §2)."""
    headers = login("alice")
    run_rollup(client, login("admin"))

    body = client.get("/api/v1/usage/budget", headers=headers).get_json()

    default = Decimal(str(app.config["DEFAULT_USER_MAX_BUDGET"]))
    assert Decimal(repr(body["maxBudget"])) == default and body["maxBudgetSource"] == "default"
    assert Decimal(repr(body["remainingBudget"])) == default - Decimal(repr(body["currentSpend"]))


def test_reaching_the_default_budget_is_audited(app, client, login, world, celery_worker,
                                                monkeypatch):
    monkeypatch.setitem(app.config, "DEFAULT_USER_MAX_BUDGET", 0.000001)
    set_columns(app, User, world.users["bob"], max_budget=Decimal("1000000"))

    run_rollup(client, login("admin"))

    rows = audit_rows(app, budgets.LIMIT_REACHED)
    users = [row for row in rows if row.resource_type == "user"]
    assert [row.resource_id for row in users] == [str(world.users["alice"])]
    assert Decimal(users[0].details["budget"]) == Decimal("0.000001")
