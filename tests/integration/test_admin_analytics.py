"""The web UI's admin usage page against a real rollup of the simulator's activity:
``POST /admin/usage/analytics`` (totals, trends, top users, models and key, per day and model)
with each of its filters, ``refresh-today`` (the rollup job, answered when it finishes) and the
export (the file when it finishes within the wait, the job otherwise)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.integration.usage_world import (
    Q,
    World,
    days_ago,
    run_rollup,
    today,
    wait_for_job,
)

ANALYTICS = "/api/v1/admin/usage/analytics"
REFRESH = "/api/v1/admin/usage/refresh-today"
EXPORT = "/api/v1/admin/usage/export"


@pytest.fixture
def world(app, sim, client, login, celery_worker, tmp_path, monkeypatch) -> World:
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    world = World(app, sim)
    world.catalogue()
    world.user("alice", email="alice@example.com")
    world.user("bob", email="bob@example.com")
    world.user("carol")
    world.key("alice-main", "alice", key_alias="alice-main-alias")
    world.key("alice-batch", "alice", models=("gpt-4o-mini", "granite-3-8b-instruct"))
    world.key("bob-main", "bob", models=("gpt-4o", "mistral-large-latest"))
    world.key("carol-main", "carol", models=("granite-3-8b-instruct",))
    world.traffic(days=16, seed=77)
    assert run_rollup(client, login("admin"))["status"] == "succeeded"
    return world


def week() -> dict:
    return {"startDate": days_ago(6).isoformat(), "endDate": today().isoformat()}


def money(value) -> Decimal:
    return Decimal(repr(value)).quantize(Q)


def analytics(client, headers, **filters) -> dict:
    answer = client.post(ANALYTICS, json={**week(), **filters}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def of_user(world, name):
    return lambda row: row["user_id"] == str(world.users[name])


def test_dashboard_shows_what_litellm_recorded_for_everyone(client, login, world):
    body = analytics(client, login("admin"))
    expected = world.expected(days_ago(6), today())
    assert body["period"] == week()
    assert body["totalRequests"] == expected["requests"] > 0
    assert body["totalTokens"] == {"total": expected["total_tokens"],
                                   "prompt": expected["prompt_tokens"],
                                   "completion": expected["completion_tokens"]}
    assert money(body["totalCost"]["total"]) == expected["spend"]
    assert body["successRate"] == pytest.approx(
        100 * expected["successful_requests"] / expected["requests"], abs=0.01)
    assert body["activeUsers"] == body["totalUsers"] == 3

    per_user = world.expected_by(lambda r: r["user_id"], days_ago(6), today())
    ranked = sorted(per_user.items(), key=lambda item: -item[1]["spend"])
    assert [u["userId"] for u in body["topUsers"]] == [user for user, _ in ranked]
    top = body["topUsers"][0]
    assert top == body["topMetrics"]["topUser"]
    assert top["requests"] == ranked[0][1]["requests"]
    assert money(top["cost"]) == ranked[0][1]["spend"]
    assert {u["username"] for u in body["topUsers"]} == {"alice", "bob", "carol"}
    assert next(u for u in body["topUsers"] if u["username"] == "alice")["email"] == \
        "alice@example.com"

    per_key = world.expected_by(lambda r: r["api_key"], days_ago(6), today())
    top_token, top_key = max(per_key.items(), key=lambda item: item[1]["spend"])
    key_name = next(name for name, key in world.keys.items() if key.token == top_token)
    assert body["topMetrics"]["topApiKey"]["keyId"] == str(world.keys[key_name].id)
    assert body["topMetrics"]["topApiKey"]["requests"] == top_key["requests"]
    assert money(body["topMetrics"]["topApiKey"]["cost"]) == top_key["spend"]

    per_model = world.expected_by(lambda r: r["model_group"], days_ago(6), today())
    assert {m["modelId"]: m["requests"] for m in body["topModels"]} == {
        model: figures["requests"] for model, figures in per_model.items()}
    assert {k: money(v) for k, v in body["totalCost"]["byModel"].items()} == {
        model: figures["spend"] for model, figures in per_model.items()}

    per_day = world.expected_by(lambda r: r["date"], days_ago(6), today())
    assert [d["date"] for d in body["dailyUsage"]] == [
        days_ago(n).isoformat() for n in range(6, -1, -1)]
    assert {d["date"]: d["requests"] for d in body["dailyUsage"]} == {
        day: per_day.get(day, {"requests": 0})["requests"]
        for day in (days_ago(n).isoformat() for n in range(7))}
    for entry in body["dailyModelUsage"]:
        assert sum(m["requests"] for m in entry["models"]) == per_day[entry["date"]]["requests"]


def test_trends_compare_with_the_previous_period_of_the_same_length(client, login, world):
    body = analytics(client, login("admin"))
    before = world.expected(days_ago(13), days_ago(7))
    trends = body["trends"]
    assert trends["requestsTrend"]["previous"] == before["requests"]
    assert trends["requestsTrend"]["current"] == body["totalRequests"]
    assert money(trends["costTrend"]["previous"]) == before["spend"]
    assert trends["totalTokensTrend"]["previous"] == before["total_tokens"]
    assert trends["usersTrend"] == {"metric": "users", "current": 3, "previous": 3,
                                    "percentageChange": 0.0, "direction": "stable"}
    change = round(100 * (body["totalRequests"] - before["requests"]) / before["requests"], 2)
    assert trends["requestsTrend"]["percentageChange"] == change


def test_each_filter_narrows_to_what_litellm_recorded(client, login, world):
    admin = login("admin")
    alice, bob = str(world.users["alice"]), str(world.users["bob"])
    cases = [
        ({"userIds": [bob]}, of_user(world, "bob")),
        ({"userIds": [alice, bob]}, lambda r: r["user_id"] in (alice, bob)),
        ({"modelIds": ["gpt-4o"]}, lambda r: r["model_group"] == "gpt-4o"),
        ({"userIds": [alice], "apiKeyIds": ["alice-main-alias"]},
         lambda r: r["api_key"] == world.token_of("alice-main")),
        ({"apiKeyIds": [str(world.keys["bob-main"].id)]},
         lambda r: r["api_key"] == world.token_of("bob-main")),
        ({"userIds": [bob], "modelIds": ["mistral-large-latest"]},
         lambda r: r["user_id"] == bob and r["model_group"] == "mistral-large-latest"),
    ]
    for filters, keep in cases:
        body = analytics(client, admin, **filters)
        expected = world.expected(days_ago(6), today(), where=keep)
        assert body["totalRequests"] == expected["requests"] > 0, filters
        assert money(body["totalCost"]["total"]) == expected["spend"], filters
        users = world.expected_by(lambda r: r["user_id"], days_ago(6), today(), where=keep)
        assert {u["userId"] for u in body["topUsers"]} == set(users), filters
    providers = analytics(client, admin, providerIds=["openai"])
    openai = world.expected(days_ago(6), today(),
                            where=lambda r: r["custom_llm_provider"] == "openai")
    assert providers["totalRequests"] == openai["requests"] > 0


def test_a_key_of_another_selected_user_or_unknown_is_404(client, login, world):
    admin = login("admin")
    for filters in ({"userIds": [str(world.users["bob"])], "apiKeyIds": ["alice-main-alias"]},
                    {"apiKeyIds": ["no-such-key"]}):
        answer = client.post(ANALYTICS, json={**week(), **filters}, headers=admin)
        assert answer.status_code == 404, filters
        assert answer.get_json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("body", [
    {}, {"startDate": "2026-01-01"}, {"startDate": "nope", "endDate": "2026-01-01"},
    {"startDate": "2026-02-01", "endDate": "2026-01-01"},
    {"startDate": "2020-01-01", "endDate": "2026-01-01"},
    {**week(), "userIds": ["42"]}, {**week(), "userIds": "not-a-list"},
    {**week(), "modelIds": [""]}, {**week(), "providerIds": ["x" * 65]},
    {**week(), "apiKeyIds": ["k"] * 101}, {**week(), "unexpected": 1},
])
def test_bad_analytics_requests_are_400(client, login, body):
    answer = client.post(ANALYTICS, json=body, headers=login("admin"))
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] in ("VALIDATION_ERROR", "INVALID_DATE_RANGE",
                                                  "DATE_RANGE_TOO_LARGE")


def test_readonly_admin_reads_and_users_are_refused(client, login):
    assert client.post(ANALYTICS, json=week(), headers=login("adminro")).status_code == 200
    refused = client.post(ANALYTICS, json=week(), headers=login("user"))
    assert refused.status_code == 403
    assert client.post(REFRESH, json={}, headers=login("adminro")).status_code == 403
    assert client.post(REFRESH, json={}, headers=login("user")).status_code == 403


def test_refresh_today_runs_the_rollup_and_answers_when_it_finished(client, login, world,
                                                                  sim):
    admin = login("admin")
    before = analytics(client, admin)["totalRequests"]
    world.key("carol-new", "carol", models=("gpt-4o",))
    world.traffic(days=1, seed=78)  # more activity today in LiteLLM
    recorded = world.expected(days_ago(6), today())["requests"]
    assert recorded > before

    answer = client.post(REFRESH, json={}, headers=admin)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "success" and body["refreshedAt"]
    job = client.get(f"/api/v1/jobs/{body['jobId']}", headers=admin).get_json()
    assert job["kind"] == "usage_rollup" and job["status"] == "succeeded"
    assert analytics(client, admin)["totalRequests"] == recorded


def test_refresh_today_answers_the_job_when_it_takes_longer(app, client, login, world,
                                                            monkeypatch):
    monkeypatch.setitem(app.config, "UI_JOB_WAIT_SECONDS", 0)
    admin = login("admin")
    answer = client.post(REFRESH, json={}, headers=admin)
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["jobId"]
    assert answer.headers["Location"] == f"/api/v1/jobs/{job_id}"
    assert wait_for_job(client, admin, job_id)["status"] == "succeeded"


def test_refresh_today_is_503_when_the_rollup_fails(client, login, world, sim):
    sim.configure(master_key="sk-a-different-master-key")  # LiteLLM now refuses our calls
    answer = client.post(REFRESH, json={}, headers=login("admin"))
    assert answer.status_code == 503, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "USAGE_REFRESH_FAILED"
    assert error["details"]["status"] == "failed" and error["details"]["jobId"]
    assert "sk-a-different-master-key" not in answer.get_data(as_text=True)


def test_export_answers_the_file_with_the_pages_filters(client, login, world):
    bob = str(world.users["bob"])
    answer = client.post(EXPORT, headers=login("adminro"),
                         json={**week(), "format": "csv", "userIds": [bob]})
    assert answer.status_code == 200, answer.data[:300]
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["X-Job-Id"]
    rows = list(csv.DictReader(io.StringIO(answer.data.decode())))
    expected = world.expected(days_ago(6), today(), where=of_user(world, "bob"))
    assert {row["user_id"] for row in rows} == {bob}
    assert sum(int(row["requests"]) for row in rows) == expected["requests"] > 0
    assert sum(Decimal(row["spend"]) for row in rows) == expected["spend"]


def test_export_answers_the_job_when_asked_to_or_when_it_takes_longer(app, client, login,
                                                                      world, monkeypatch):
    admin = login("admin")
    asynchronous = client.post(EXPORT, json={**week(), "format": "json"},
                               headers={**admin, "Prefer": "respond-async"})
    assert asynchronous.status_code == 202
    job = wait_for_job(client, admin, asynchronous.get_json()["jobId"])
    assert job["result"]["download"].endswith("/download")

    monkeypatch.setitem(app.config, "UI_JOB_WAIT_SECONDS", 0)
    later = client.post(EXPORT, json={**week(), "format": "csv",
                                      "modelIds": ["gpt-4o"]}, headers=admin)
    assert later.status_code == 202
    job = wait_for_job(client, admin, later.get_json()["jobId"])
    download = client.get(job["result"]["download"], headers=admin)
    models = {row["model_id"] for row in csv.DictReader(io.StringIO(download.data.decode()))}
    assert models == {"gpt-4o"}


def test_export_filters_are_validated_and_users_refused(client, login):
    admin = login("admin")
    for body in ({"format": "xml"}, {"userIds": ["x"]}, {"apiKeyIds": ["nope"]},
                 {"startDate": (today() + timedelta(days=9)).isoformat()}):
        answer = client.post(EXPORT, json=body, headers=admin)
        assert answer.status_code in (400, 404), body
    assert client.post(EXPORT, json={"format": "csv"},
                       headers=login("user")).status_code == 403
