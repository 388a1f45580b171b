"""Issue 13, part 4: subscriptions as the upstream LiteMaaS web UI uses them (ModelsPage
subscribes, SubscriptionsPage lists, cancels and asks for a review after a denial)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Subscription, UsageDaily
from tests.integration.provisioning_support import seed_models, user_id

OPEN, RESTRICTED = "gpt-4o", "claude-3-5-sonnet-20240620"
SUBS = "/api/v1/subscriptions"
UI_BODY = {"quotaRequests": 10000, "quotaTokens": 1000000}


@pytest.fixture
def models(app, sim):
    return seed_models(app, sim, restricted=(RESTRICTED,))


def add_usage(app, owner: str, model: str, requests: int, tokens: int) -> None:
    with app.app_context():
        db.session.add(UsageDaily(day=datetime.now(UTC).date(), user_id=uuid.UUID(owner),
                                  model_id=model, provider="openai", requests=requests,
                                  successful_requests=requests, total_tokens=tokens,
                                  prompt_tokens=tokens, spend=Decimal("0.5")))
        db.session.commit()
        db.session.remove()


def test_subscribe_with_the_ui_body_keeps_the_quotas(app, client, login, models):
    user = login("user")
    created = client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "active"
    assert (body["quotaRequests"], body["quotaTokens"]) == (10000, 1000000)
    with app.app_context():
        row = db.session.get(Subscription, uuid.UUID(body["id"]))
        assert (row.quota_requests, row.quota_tokens) == (10000, 1000000)
        db.session.remove()
    pending = client.post(SUBS, json={"modelId": RESTRICTED, **UI_BODY}, headers=user)
    assert pending.status_code == 201 and pending.get_json()["status"] == "pending"
    again = client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user)
    assert again.status_code == 409  # the UI shows "already subscribed" on 409


@pytest.mark.parametrize("fields", [
    {"quotaRequests": 0}, {"quotaTokens": -5}, {"quotaRequests": 1.5},
    {"quotaTokens": "many"}, {"quotaRequests": None}, {"expires": "tomorrow"},
])
def test_bad_quota_fields_are_400_and_store_nothing(app, client, login, models, fields):
    response = client.post(SUBS, json={"modelId": OPEN, **fields}, headers=login("user"))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscription)) == 0
        db.session.remove()


def test_the_list_has_the_shape_the_subscriptions_page_reads(app, client, login, models):
    user = login("user")
    client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user)
    add_usage(app, user_id(client, user), OPEN, requests=250, tokens=40000)
    add_usage(app, user_id(client, login("bob")), OPEN, requests=999, tokens=999)  # not mine
    listed = client.get(f"{SUBS}?page=1&limit=20", headers=user).get_json()
    assert listed["total"] == listed["pagination"]["total"] == 1
    item = listed["data"][0]
    assert item["modelId"] == OPEN and item["modelName"] == OPEN and item["provider"]
    assert (item["usedRequests"], item["usedTokens"]) == (250, 40000)
    assert (item["remainingRequests"], item["remainingTokens"]) == (9750, 960000)
    assert item["utilizationPercent"] == {"requests": 2.5, "tokens": 4.0}
    assert item["pricing"]["currency"] == "USD"
    assert item["pricing"]["inputCostPerToken"] is not None
    assert isinstance(item["metadata"]["features"], list)
    for name in ("modelDescription", "modelContextLength", "modelSupportsVision",
                 "modelSupportsFunctionCalling", "createdAt", "statusReason"):
        assert name in item, name


def test_cancel_with_the_ui_path(client, login, models):
    user = login("user")
    sub = client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user).get_json()
    assert client.post(f"{SUBS}/{sub['id']}/cancel", headers=login("bob")).status_code == 404
    cancelled = client.post(f"{SUBS}/{sub['id']}/cancel", headers=user)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"{SUBS}/{sub['id']}/cancel", headers=user).status_code == 409
    # a cancelled subscription may be requested again from the models page
    again = client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user)
    assert again.status_code == 201 and again.get_json()["id"] == sub["id"]


def test_request_review_after_a_denial(client, login, models):
    user, admin = login("user"), login("admin")
    sub = client.post(SUBS, json={"modelId": RESTRICTED, **UI_BODY}, headers=user).get_json()
    url = f"{SUBS}/{sub['id']}/request-review"
    assert client.post(url, headers=user).get_json()["status"] == "pending"  # no-op
    denied = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/deny",
                         json={"reason": "not for this project"}, headers=admin)
    assert denied.status_code == 200
    shown = client.get(f"{SUBS}/{sub['id']}", headers=user).get_json()
    assert shown["status"] == "denied" and shown["statusReason"] == "not for this project"
    assert client.post(url, headers=login("bob")).status_code == 404
    review = client.post(url, headers=user)
    assert review.status_code == 200, review.get_json()
    assert review.get_json()["status"] == "pending"
    history = client.get(f"{SUBS}/{sub['id']}/history", headers=user).get_json()["data"]
    assert [h["newStatus"] for h in history] == ["pending", "denied", "pending"]
    queue = client.get("/api/v1/admin/subscriptions?status=pending", headers=admin).get_json()
    assert [s["id"] for s in queue["data"]] == [sub["id"]]


def test_request_review_of_an_active_subscription_is_refused(client, login, models):
    user = login("user")
    sub = client.post(SUBS, json={"modelId": OPEN}, headers=user).get_json()
    refused = client.post(f"{SUBS}/{sub['id']}/request-review", headers=user)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "INVALID_STATUS_TRANSITION"


def test_the_ui_update_body_changes_the_kept_quotas(app, client, login, models):
    user = login("user")
    sub = client.post(SUBS, json={"modelId": OPEN, **UI_BODY}, headers=user).get_json()
    changed = client.patch(f"{SUBS}/{sub['id']}", json={"quotaRequests": 500,
                                                        "quotaTokens": 7000}, headers=user)
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["quotaRequests"], changed.get_json()["quotaTokens"]) == (500, 7000)
    assert changed.get_json()["status"] == "active"
    for bad in ({"quotaTokens": 0}, {"quotaRequests": "lots"},
                {"status": "cancelled", "quotaTokens": 5}):
        assert client.patch(f"{SUBS}/{sub['id']}", json=bad, headers=user).status_code == 400
    assert client.patch(f"{SUBS}/{sub['id']}", json={"quotaTokens": 9},
                        headers=login("bob")).status_code == 404
    with app.app_context():
        row = db.session.get(Subscription, uuid.UUID(sub["id"]))
        assert (row.quota_requests, row.quota_tokens, row.status) == (500, 7000, "active")
        db.session.remove()
