"""Issue 13, part 6: the usage page of the upstream LiteMaaS web UI for a signed-in user: the
dashboard (POST /usage/analytics), the export (GET /usage/export) and the filters it calls
(/admin/usage/filter-options, /admin/api-keys?userIds=me)."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import ApiKey, UsageDaily
from tests.integration.provisioning_support import user_id

ANALYTICS = "/api/v1/usage/analytics"
EXPORT = "/api/v1/usage/export"
TODAY = datetime.now(UTC).date()


def day(n: int) -> date:
    return TODAY - timedelta(days=n)


def raw_key(owner: str, name: str) -> str:
    return "sk-" + hashlib.sha256(f"{owner}{name}".encode()).hexdigest()[:48]


def key_row(owner: str, name: str) -> ApiKey:
    digest = hashlib.sha256(raw_key(owner, name).encode()).hexdigest()
    return ApiKey(id=uuid.uuid4(), user_id=uuid.UUID(owner), name=name, key_prefix="sk-x",
                  key_hash=digest, key_alias=f"{name}_{digest[:8]}",
                  provisioning_state="active")


def usage(owner: str, key: ApiKey, model: str, when: date, requests: int, prompt: int,
          completion: int, spend: str, provider: str = "openai", failed: int = 0) -> UsageDaily:
    return UsageDaily(day=when, user_id=uuid.UUID(owner), api_key_id=key.id,
                      api_key_hash=key.key_hash, model_id=model, provider=provider,
                      requests=requests, successful_requests=requests - failed,
                      failed_requests=failed, prompt_tokens=prompt,
                      completion_tokens=completion, total_tokens=prompt + completion,
                      spend=Decimal(spend))


@pytest.fixture
def world(app, client, login):
    """``user`` with two keys and usage this week and the week before; ``bob`` with his own."""
    user, bob = login("user"), login("bob")
    me, him = user_id(client, user), user_id(client, bob)
    with app.app_context():
        alpha, beta, bobs = key_row(me, "alpha"), key_row(me, "beta"), key_row(him, "bobs")
        db.session.add_all([alpha, beta, bobs])
        db.session.flush()
        db.session.add_all([
            usage(me, alpha, "gpt-4o", day(0), 10, 100, 50, "0.30", failed=1),
            usage(me, alpha, "gpt-4o", day(2), 5, 50, 25, "0.15"),
            usage(me, beta, "claude-3-haiku", day(1), 20, 200, 100, "0.05",
                  provider="anthropic"),
            usage(me, alpha, "gpt-4o", day(8), 10, 100, 50, "0.20"),  # the previous week
            usage(him, bobs, "gpt-4o", day(0), 999, 9999, 9999, "99"),
        ])
        db.session.commit()
        ids = {"alpha": str(alpha.id), "beta": str(beta.id), "bobs": str(bobs.id),
               "alpha_raw": raw_key(me, "alpha"),
               "alpha_alias": alpha.key_alias, "bobs_alias": bobs.key_alias}
        db.session.remove()
    return {"user": user, "bob": bob, "me": me, **ids}


def week() -> dict:
    return {"startDate": day(6).isoformat(), "endDate": TODAY.isoformat()}


def test_the_dashboard_of_a_user(client, world):
    answer = client.post(ANALYTICS, json=week(), headers=world["user"])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["period"] == week()
    assert body["totalRequests"] == 35
    assert body["totalTokens"] == {"total": 525, "prompt": 350, "completion": 175}
    assert body["totalCost"]["total"] == pytest.approx(0.50)
    assert body["totalCost"]["byModel"] == {"gpt-4o": pytest.approx(0.45),
                                            "claude-3-haiku": pytest.approx(0.05)}
    assert body["totalCost"]["byProvider"] == {"openai": pytest.approx(0.45),
                                               "anthropic": pytest.approx(0.05)}
    assert body["successRate"] == pytest.approx(100 * 34 / 35, abs=0.01)
    assert body["totalUsers"] == body["activeUsers"] == 1
    trends = body["trends"]
    assert trends["requestsTrend"] == {"metric": "requests", "current": 35, "previous": 10,
                                       "percentageChange": 250.0, "direction": "up"}
    assert trends["costTrend"]["previous"] == pytest.approx(0.20)
    assert trends["costTrend"]["percentageChange"] == pytest.approx(150.0)
    for name in ("usersTrend", "totalTokensTrend", "promptTokensTrend",
                 "completionTokensTrend"):
        assert trends[name]["direction"] in ("up", "down", "stable")
    assert trends["usersTrend"]["direction"] == "stable"
    daily = body["dailyUsage"]
    assert [d["date"] for d in daily] == [day(n).isoformat() for n in range(6, -1, -1)]
    assert {d["date"]: d["requests"] for d in daily if d["requests"]} == {
        day(2).isoformat(): 5, day(1).isoformat(): 20, day(0).isoformat(): 10}
    assert daily[-1]["prompt_tokens"] == 100 and daily[-1]["completion_tokens"] == 50
    by_day = {d["date"]: [m["modelId"] for m in d["models"]] for d in body["dailyModelUsage"]}
    assert by_day == {day(2).isoformat(): ["gpt-4o"], day(1).isoformat(): ["claude-3-haiku"],
                      day(0).isoformat(): ["gpt-4o"]}
    assert [m["modelId"] for m in body["topModels"]] == ["gpt-4o", "claude-3-haiku"]
    assert body["topModels"][0]["requests"] == 15
    assert body["topMetrics"]["topModel"]["modelId"] == "gpt-4o"
    assert [u["username"] for u in body["topUsers"]] == ["user"]


def test_filters_by_model_provider_and_own_keys_by_alias_or_id(client, world):
    user = world["user"]

    def total(**filters) -> int:
        answer = client.post(ANALYTICS, json={**week(), **filters}, headers=user)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["totalRequests"]

    assert total(modelIds=["claude-3-haiku"]) == 20
    assert total(providerIds=["openai"]) == 15
    assert total(apiKeyIds=[world["alpha_alias"]]) == 15
    assert total(apiKeyIds=[world["beta"]]) == 20
    assert total(apiKeyIds=[world["alpha"], world["beta"]]) == 35
    for foreign in (world["bobs"], world["bobs_alias"], "no-such-key"):
        refused = client.post(ANALYTICS, json={**week(), "apiKeyIds": [foreign]},
                              headers=user)
        assert refused.status_code == 404, foreign
    empty = client.post(ANALYTICS, json=week(), headers=world["bob"]).get_json()
    assert empty["totalRequests"] == 999  # bob sees his own only


@pytest.mark.parametrize("body", [
    {}, {"startDate": "2026-01-01"}, {"startDate": "yesterday", "endDate": "2026-01-01"},
    {"startDate": "2026-02-01", "endDate": "2026-01-01"},
    {"startDate": "2020-01-01", "endDate": "2026-01-01"},
    {**week(), "userIds": ["someone"]}, {**week(), "modelIds": "gpt-4o"},
])
def test_bad_analytics_requests_are_400(client, world, body):
    answer = client.post(ANALYTICS, json=body, headers=world["user"])
    assert answer.status_code == 400, answer.get_json()
    assert "error" in answer.get_json()


def test_export_of_ones_own_usage_as_the_ui_asks_it(client, world):
    query = f"format=csv&startDate={day(6)}&endDate={TODAY}"
    answer = client.get(f"{EXPORT}?{query}", headers=world["user"])
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert sorted(int(r["requests"]) for r in rows) == [5, 10, 20]
    assert {r["username"] for r in rows} == {"user"}
    only = client.get(f"{EXPORT}?{query}&modelIds[]=gpt-4o&apiKeyIds[]={world['alpha_alias']}",
                      headers=world["user"])
    assert sorted(int(r["requests"]) for r in csv.DictReader(
        io.StringIO(only.get_data(as_text=True)))) == [5, 10]
    as_json = client.get(f"{EXPORT}?format=json&startDate={day(6)}&endDate={TODAY}",
                         headers=world["user"]).get_json()
    assert len(as_json["rows"]) == 3
    assert client.get(f"{EXPORT}?{query}&apiKeyIds[]={world['bobs']}",
                      headers=world["user"]).status_code == 404
    assert client.get(f"{EXPORT}?format=xml", headers=world["user"]).status_code == 400


def test_filter_options_answer_a_user_with_their_own_usage(client, login, world):
    query = f"startDate={day(6)}&endDate={TODAY}"
    mine = client.get(f"/api/v1/admin/usage/filter-options?{query}", headers=world["user"])
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert [m["id"] for m in body["models"]] == ["claude-3-haiku", "gpt-4o"]
    assert [u["username"] for u in body["users"]] == ["user"]
    everyone = client.get(f"/api/v1/admin/usage/filter-options?{query}",
                          headers=login("adminro")).get_json()
    assert {u["username"] for u in everyone["users"]} == {"user", "bob"}
    assert client.get("/api/v1/admin/usage/filter-options?startDate=nope",
                      headers=world["user"]).status_code == 400


def test_a_users_api_key_as_credential_sees_its_own_usage_only(client, world):
    as_key = {"X-API-Key": world["alpha_raw"]}
    answer = client.post(ANALYTICS, json=week(), headers=as_key)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["totalRequests"] == 15  # alpha's, not beta's
    assert client.post(ANALYTICS, json={**week(), "apiKeyIds": [world["beta"]]},
                       headers=as_key).status_code == 404
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"{EXPORT}?format=csv&startDate={day(6)}&endDate={TODAY}",
        headers=as_key).get_data(as_text=True))))
    assert sorted(int(r["requests"]) for r in rows) == [5, 10]
    options = client.get(f"/api/v1/admin/usage/filter-options?startDate={day(6)}"
                         f"&endDate={TODAY}", headers=as_key).get_json()
    assert [m["id"] for m in options["models"]] == ["gpt-4o"]
    keys = client.get(f"/api/v1/admin/api-keys?userIds={world['me']}", headers=as_key)
    assert keys.status_code == 200, keys.get_json()
    assert [k["id"] for k in keys.get_json()["data"]] == [world["alpha"]]
    assert [k["id"] for k in keys.get_json()["apiKeys"]] == [world["alpha"]]
