"""Admin analytics after a real rollup: summary, time series and the by-user/team/model/provider
breakdowns with every filter, each compared with totals computed from the simulator's raw
activity; readonly admins read, users are refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
ENDPOINTS = ("summary", "timeseries", "by-user", "by-team", "by-model", "by-provider")


@dataclass
class Scene:
    world: World
    admin: dict
    providers: dict[str, str]

    def user_is(self, name):
        return lambda row: row["user_id"] == str(self.world.users[name])

    def team_tokens(self) -> set[str]:
        return {self.world.token_of("alice-main"), self.world.token_of("bob-main")}


@pytest.fixture
def scene(app, sim, client, login, celery_worker) -> Scene:
    world = World(app, sim)
    providers = world.catalogue()
    world.team("platform")
    world.user("alice", email="alice@example.com")
    world.user("bob")
    world.user("carol")
    world.key("alice-main", "alice", team="platform")
    world.key("alice-batch", "alice", models=("gpt-4o-mini", "granite-3-8b-instruct"))
    world.key("bob-main", "bob", team="platform", models=("gpt-4o", "mistral-large-latest"))
    world.key("carol-main", "carol", models=("granite-3-8b-instruct",))
    world.traffic(days=9, seed=41)
    admin = login("admin")
    assert run_rollup(client, admin)["status"] == "succeeded"
    return Scene(world, admin, providers)


def get(client, path, headers, **params):
    response = client.get(f"/api/v1/admin/usage/{path}", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_start_date_alone_means_thirty_days_from_it(client, scene):
    body = get(client, "summary", scene.admin, startDate=days_ago(400).isoformat())

    assert body["period"] == {"startDate": days_ago(400).isoformat(),
                              "endDate": days_ago(371).isoformat()}
    assert wire_metrics(body["totals"]) == totals_of([])


def test_summary_across_everyone_is_exact(client, scene):
    body = get(client, "summary", scene.admin)

    rows = scene.world.raw_rows()
    assert wire_metrics(body["totals"]) == scene.world.expected()
    assert body["activeModels"] == len({r["model_group"] for r in rows})
    assert body["activeProviders"] == len({scene.providers[r["model_group"]] for r in rows})


def test_summary_with_each_filter(client, scene):
    world = scene.world
    key = world.keys["alice-batch"]
    cases = [
        ({"userId": str(world.users["bob"])}, scene.user_is("bob")),
        ({"teamId": str(world.teams["platform"])},
         lambda r: r["api_key"] in scene.team_tokens()),
        ({"apiKeyId": str(key.id)}, lambda r: r["api_key"] == key.token),
        ({"modelId": "gpt-4o-mini"}, lambda r: r["model_group"] == "gpt-4o-mini"),
        ({"provider": "openai"}, lambda r: scene.providers[r["model_group"]] == "openai"),
        ({"provider": "openai", "userId": str(world.users["alice"])},
         lambda r: scene.providers[r["model_group"]] == "openai"
         and r["user_id"] == str(world.users["alice"])),
        ({"startDate": days_ago(4).isoformat(), "endDate": days_ago(1).isoformat(),
          "modelId": "gpt-4o"},
         lambda r: r["model_group"] == "gpt-4o"
         and days_ago(4).isoformat() <= r["date"] <= days_ago(1).isoformat()),
    ]

    for params, where in cases:
        body = get(client, "summary", scene.admin, **params)
        assert wire_metrics(body["totals"]) == world.expected(where=where), params


def test_timeseries_per_day_from_totals_and_per_user_from_rows(client, scene):
    start = days_ago(11)
    world = scene.world

    everyone = get(client, "timeseries", scene.admin, startDate=start.isoformat())
    bob = get(client, "timeseries", scene.admin, startDate=start.isoformat(),
              userId=str(world.users["bob"]))

    all_days = world.expected_by(lambda r: r["date"], start)
    bob_days = world.expected_by(lambda r: r["date"], start, where=scene.user_is("bob"))
    assert len(everyone["data"]) == len(bob["data"]) == 12
    for point, bob_point in zip(everyone["data"], bob["data"], strict=True):
        assert wire_metrics(point["metrics"]) == all_days.get(point["period"], ZERO)
        assert wire_metrics(bob_point["metrics"]) == bob_days.get(point["period"], ZERO)


def test_weekly_timeseries_starts_on_monday(client, scene):
    start = days_ago(20)

    body = get(client, "timeseries", scene.admin, startDate=start.isoformat(), interval="week")

    monday = start - timedelta(days=start.weekday())
    assert [p["period"] for p in body["data"]][:2] == [monday.isoformat(),
                                                        (monday + timedelta(7)).isoformat()]
    for point in body["data"]:
        lo, hi = point["startDate"], point["endDate"]
        assert wire_metrics(point["metrics"]) == scene.world.expected(
            where=lambda r, lo=lo, hi=hi: lo <= r["date"] <= hi)


def test_by_user_lists_each_user_exactly(client, scene):
    body = get(client, "by-user", scene.admin)

    world = scene.world
    expected = world.expected_by(lambda r: r["user_id"])
    assert body["pagination"]["total"] == 3
    assert {item["userId"]: wire_metrics(item["metrics"]) for item in body["data"]} == expected
    alice = next(item for item in body["data"] if item["username"] == "alice")
    assert alice["email"] == "alice@example.com" and alice["apiKeys"] == 2
    spends = [item["metrics"]["spend"] for item in body["data"]]
    assert spends == sorted(spends, reverse=True)


def test_by_team_groups_keys_by_their_team(client, scene):
    body = get(client, "by-team", scene.admin)

    expected = scene.world.expected_by(
        lambda r: str(scene.world.teams["platform"]) if r["api_key"] in scene.team_tokens()
        else None)
    assert {item["teamId"]: wire_metrics(item["metrics"]) for item in body["data"]} == expected
    platform = next(item for item in body["data"] if item["teamId"])
    assert platform["teamName"] == "platform" and platform["users"] == 2


def test_by_model_and_by_provider_are_exact(client, scene):
    models = get(client, "by-model", scene.admin)
    providers = get(client, "by-provider", scene.admin)

    world = scene.world
    assert {m["modelId"]: wire_metrics(m["metrics"]) for m in models["data"]} == (
        world.expected_by(lambda r: r["model_group"]))
    assert all(m["provider"] == scene.providers[m["modelId"]] for m in models["data"])
    assert {p["provider"]: wire_metrics(p["metrics"]) for p in providers["data"]} == (
        world.expected_by(lambda r: scene.providers[r["model_group"]]))
    for item in providers["data"]:
        assert item["models"] == len({r["model_group"] for r in world.raw_rows()
                                      if scene.providers[r["model_group"]] == item["provider"]})


def test_breakdowns_filter_by_user_and_model(client, scene):
    world = scene.world

    bobs_models = get(client, "by-model", scene.admin, userId=str(world.users["bob"]))
    who_used_granite = get(client, "by-user", scene.admin, modelId="granite-3-8b-instruct")

    assert {m["modelId"]: wire_metrics(m["metrics"]) for m in bobs_models["data"]} == (
        world.expected_by(lambda r: r["model_group"], where=scene.user_is("bob")))
    assert {u["userId"]: wire_metrics(u["metrics"]) for u in who_used_granite["data"]} == (
        world.expected_by(lambda r: r["user_id"],
                          where=lambda r: r["model_group"] == "granite-3-8b-instruct"))


def test_breakdown_pagination_and_sorting(client, scene):
    everything = get(client, "by-model", scene.admin, sortBy="requests", sortOrder="asc",
                     limit=100)

    page = get(client, "by-model", scene.admin, sortBy="requests", sortOrder="asc", limit=2,
               page=2)

    requests = [m["metrics"]["requests"] for m in everything["data"]]
    assert requests == sorted(requests)
    assert page["data"] == everything["data"][2:4]
    total = everything["pagination"]["total"]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": total,
                                  "totalPages": (total + 1) // 2}


def test_summary_equals_the_sum_of_the_user_breakdown(client, scene):
    summary = get(client, "summary", scene.admin, startDate=days_ago(5).isoformat())
    users = get(client, "by-user", scene.admin, startDate=days_ago(5).isoformat())

    added = totals_of([])
    for item in users["data"]:
        for name, value in wire_metrics(item["metrics"]).items():
            added[name] += value
    assert wire_metrics(summary["totals"]) == added


def test_usage_of_a_deleted_user_stays_in_the_totals(app, client, scene):
    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.delete(db.session.get(User, scene.world.users["carol"]))
        db.session.commit()

    users = get(client, "by-user", scene.admin)
    summary = get(client, "summary", scene.admin)

    orphan = next(item for item in users["data"] if item["userId"] is None)
    assert orphan["username"] is None
    assert wire_metrics(orphan["metrics"]) == scene.world.expected(where=scene.user_is("carol"))
    assert wire_metrics(summary["totals"]) == scene.world.expected()


def test_readonly_admin_reads_every_view(client, login, scene):
    adminro = login("adminro")

    for path in ENDPOINTS:
        assert client.get(f"/api/v1/admin/usage/{path}", headers=adminro).status_code == 200


def test_users_are_refused_every_admin_view(client, login):
    user = login("user")

    for path in ENDPOINTS:
        response = client.get(f"/api/v1/admin/usage/{path}", headers=user)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("params", "code"), [
    ({"startDate": today().isoformat(), "endDate": days_ago(3).isoformat()},
     "INVALID_DATE_RANGE"),
    ({"startDate": days_ago(400).isoformat(), "endDate": today().isoformat()},
     "DATE_RANGE_TOO_LARGE"),
    ({"userId": "42"}, "VALIDATION_ERROR"),
    ({"provider": ""}, "VALIDATION_ERROR"),
])
def test_admin_filters_are_validated(client, login, params, code):
    response = client.get("/api/v1/admin/usage/summary", query_string=params,
                          headers=login("admin"))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    if code == "DATE_RANGE_TOO_LARGE":
        assert response.get_json()["error"]["details"]["maxAllowedDays"] == 366
