"""A user's own usage endpoints, after a real rollup, against figures computed from the
simulator's raw activity: summary, time series, per-model breakdown, budget; own data only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.usage_world import (
    World,
    days_ago,
    run_rollup,
    today,
    totals_of,
    wire_metrics,
)

ZERO = totals_of([])


@dataclass
class Scene:
    world: World
    alice: dict
    admin: dict

    def mine(self, row: dict) -> bool:
        return row["user_id"] == str(self.world.users["alice"])


@pytest.fixture
def scene(app, sim, client, login, celery_worker) -> Scene:
    world = World(app, sim)
    world.catalogue()
    world.team("platform")
    alice = login("alice")
    world.user("alice")
    world.user("bob")
    world.key("alice-main", "alice", team="platform")
    world.key("alice-batch", "alice", models=("gpt-4o-mini", "granite-3-8b-instruct"))
    world.key("bob-main", "bob")
    world.traffic(days=10, seed=31)
    admin = login("admin")
    assert run_rollup(client, admin)["status"] == "succeeded"
    return Scene(world, alice, admin)


def get(client, path, headers, **params):
    response = client.get(f"/api/v1/usage/{path}", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_summary_is_exactly_my_usage_of_the_last_30_days(client, scene):
    body = get(client, "summary", scene.alice)

    assert body["period"] == {"startDate": days_ago(29).isoformat(),
                              "endDate": today().isoformat()}
    assert wire_metrics(body["totals"]) == scene.world.expected(where=scene.mine)
    assert body["totals"]["spend"] > 0
    assert body["activeApiKeys"] == 2
    assert body["activeModels"] == len({r["model_group"] for r in scene.world.raw_rows()
                                        if scene.mine(r)})


def test_summary_of_a_date_range(client, scene):
    start, end = days_ago(6), days_ago(2)

    body = get(client, "summary", scene.alice, startDate=start.isoformat(),
               endDate=end.isoformat())

    assert wire_metrics(body["totals"]) == scene.world.expected(start, end, scene.mine)


def test_summary_for_one_of_my_keys_and_one_model(client, scene):
    key = scene.world.keys["alice-batch"]

    by_key = get(client, "summary", scene.alice, apiKeyId=str(key.id))
    by_both = get(client, "summary", scene.alice, apiKeyId=str(key.id), modelId="gpt-4o-mini")
    by_model = get(client, "summary", scene.alice, modelId="gpt-4o-mini")

    world = scene.world
    assert wire_metrics(by_key["totals"]) == world.expected(
        where=lambda r: r["api_key"] == key.token)
    assert wire_metrics(by_both["totals"]) == world.expected(
        where=lambda r: r["api_key"] == key.token and r["model_group"] == "gpt-4o-mini")
    assert wire_metrics(by_model["totals"]) == world.expected(
        where=lambda r: scene.mine(r) and r["model_group"] == "gpt-4o-mini")


def test_an_api_key_as_credential_sees_its_own_usage_only(client, scene):
    key = scene.world.keys["alice-main"]

    with_key = get(client, "summary", {"Authorization": f"Bearer {key.raw}"})

    assert with_key == get(client, "summary", scene.alice, apiKeyId=str(key.id))
    assert with_key != get(client, "summary", scene.alice)  # alice has other keys with usage


@pytest.mark.parametrize("whose", ["bob-main", "unknown"])
def test_someone_elses_or_unknown_key_is_404(client, scene, whose):
    key_id = scene.world.keys[whose].id if whose in scene.world.keys else uuid.uuid4()

    for path in ("summary", "timeseries", "models"):
        response = client.get(f"/api/v1/usage/{path}", query_string={"apiKeyId": str(key_id)},
                              headers=scene.alice)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_daily_timeseries_has_every_day_with_exact_figures(client, scene):
    start = days_ago(13)

    body = get(client, "timeseries", scene.alice, startDate=start.isoformat())

    expected = scene.world.expected_by(lambda r: r["date"], start, where=scene.mine)
    assert body["interval"] == "day"
    assert [point["period"] for point in body["data"]] == [
        (start + timedelta(days=n)).isoformat() for n in range(14)]
    for point in body["data"]:
        assert wire_metrics(point["metrics"]) == expected.get(point["period"], ZERO)
    assert any(point["metrics"]["requests"] == 0 for point in body["data"])  # days 10-13


def test_weekly_and_monthly_buckets_add_up(client, scene):
    start = days_ago(20)
    summary = get(client, "summary", scene.alice, startDate=start.isoformat())

    for interval in ("week", "month"):
        body = get(client, "timeseries", scene.alice, startDate=start.isoformat(),
                   interval=interval)

        first = start - timedelta(days=start.weekday()) if interval == "week" else start.replace(
            day=1)
        assert body["data"][0]["period"] == first.isoformat()
        assert body["data"][0]["startDate"] == start.isoformat()
        assert body["data"][-1]["endDate"] == today().isoformat()
        total = sum((wire_metrics(p["metrics"])["spend"] for p in body["data"]), Decimal(0))
        assert total == wire_metrics(summary["totals"])["spend"]
        assert sum(p["metrics"]["totalTokens"] for p in body["data"]) == summary["totals"][
            "totalTokens"]
        for point in body["data"]:
            lo, hi = point["startDate"], point["endDate"]
            assert wire_metrics(point["metrics"]) == scene.world.expected(
                where=lambda r, lo=lo, hi=hi: scene.mine(r) and lo <= r["date"] <= hi)


def test_models_breakdown_is_exact_and_sorted_by_spend(client, scene):
    body = get(client, "models", scene.alice)

    expected = scene.world.expected_by(lambda r: r["model_group"], where=scene.mine)
    providers = scene.world.catalogue()
    assert body["pagination"]["total"] == len(expected)
    assert {item["modelId"]: wire_metrics(item["metrics"]) for item in body["data"]} == expected
    assert all(item["provider"] == providers[item["modelId"]] for item in body["data"])
    spends = [item["metrics"]["spend"] for item in body["data"]]
    assert spends == sorted(spends, reverse=True)


def test_models_breakdown_pages_and_sorts_by_name(client, scene):
    everything = get(client, "models", scene.alice, sortBy="name", sortOrder="asc")["data"]

    second = get(client, "models", scene.alice, sortBy="name", sortOrder="asc", limit=1, page=2)

    assert [m["modelId"] for m in everything] == sorted(m["modelId"] for m in everything)
    assert second["data"] == everything[1:2]
    assert second["pagination"] == {"page": 2, "limit": 1, "total": len(everything),
                                    "totalPages": len(everything)}


def test_a_user_without_usage_sees_zeros(client, login, scene):
    carol = login("carol")

    body = get(client, "summary", carol)

    assert wire_metrics(body["totals"]) == ZERO
    assert body["totals"]["successRate"] is None
    assert get(client, "models", carol)["data"] == []


def test_budget_shows_spend_and_what_is_left(app, client, scene):
    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.get(User, scene.world.users["alice"]).max_budget = Decimal("5")
        db.session.commit()

    body = get(client, "budget", scene.alice)

    spent = scene.world.expected(days_ago(400), today(), scene.mine)["spend"]
    assert Decimal(repr(body["currentSpend"])) == spent.quantize(Decimal("0.000001"))
    assert Decimal(repr(body["remainingBudget"])) == max(
        Decimal(0), Decimal(5) - spent.quantize(Decimal("0.000001")))
    assert body["budgetDuration"] is None and body["periodStart"] is None


@pytest.mark.parametrize(("params", "code"), [
    ({"startDate": "2026-02-10", "endDate": "2026-02-01"}, "INVALID_DATE_RANGE"),
    ({"startDate": "2020-01-01", "endDate": "2021-06-01"}, "DATE_RANGE_TOO_LARGE"),
    ({"endDate": "2999-01-01"}, "INVALID_DATE_RANGE"),
    ({"startDate": "01/02/2026"}, "VALIDATION_ERROR"),
    ({"apiKeyId": "not-a-uuid"}, "VALIDATION_ERROR"),
])
def test_bad_queries_are_400_in_the_envelope(client, login, params, code):
    response = client.get("/api/v1/usage/summary", query_string=params, headers=login("dave"))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(("path", "params"), [
    ("timeseries", {"interval": "year"}),
    ("models", {"sortBy": "colour"}),
    ("models", {"limit": 1000}),
])
def test_bad_interval_sort_or_limit_is_400(client, login, path, params):
    response = client.get(f"/api/v1/usage/{path}", query_string=params, headers=login("dave"))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_usage_requires_authentication(client):
    for path in ("summary", "timeseries", "models", "budget"):
        assert client.get(f"/api/v1/usage/{path}").status_code == 401
