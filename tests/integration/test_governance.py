"""Governance (issue 19) end to end: real webhook receivers and a real STARTTLS SMTP server on
loopback, the real worker, the LiteLLM simulator."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    ApiKey,
    AuditLog,
    BudgetAlert,
    BudgetPeriodLedger,
    Job,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    UsageDaily,
    User,
)
from app.services import budget_alerts, jobs, notifications
from app.services.budgets import BudgetPeriod
from app.services.usage_rollup import utc_today
from tests.integration.governance_support import SmtpServer, WebhookReceiver
from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_key,
    subscribe,
)
from tests.support.apps import extra_app
from tests.support.jobs import settle_jobs, wait_for_job, wait_for_jobs

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def _worker(celery_worker, app):
    yield
    settle_jobs(app)


def _channel(app, url: str, events=("*",), name: str | None = None, secret=SECRET) -> str:
    with app.app_context():
        channel = NotificationChannel(id=uuid.uuid4(), name=name or f"hook-{uuid.uuid4().hex[:6]}",
                                      kind="webhook", url=url, secret=secret, events=list(events))
        db.session.add(channel)
        db.session.commit()
        return str(channel.id)


def _user(app, login, username="user", **values) -> uuid.UUID:
    login(username)
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        if values:
            db.session.execute(update(User).where(User.id == user_id).values(**values))
            db.session.commit()
        return user_id


def _sweep(app, kind="budget_sweep") -> dict:
    with app.app_context():
        job, _ = jobs.enqueue(kind, {"trigger": "test"})
        job_id = job.id
        db.session.remove()
    deadline = time.monotonic() + 40
    with app.app_context():
        while time.monotonic() < deadline:
            db.session.expire_all()
            job = db.session.get(Job, job_id)
            if job.status in ("succeeded", "failed"):
                assert job.status == "succeeded", job.error
                result = dict(job.result)
                db.session.remove()
                return result
            time.sleep(0.1)
    raise AssertionError(f"{kind} did not finish")


def _count(app, model, *where) -> int:
    with app.app_context():
        value = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.remove()
        return value


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met after {timeout}s")


# -- budget thresholds ----------------------------------------------------------------------


def test_each_threshold_fires_once_per_period_across_reruns_restarts_and_two_beats(
        app, login, settings, client):
    user_id = _user(app, login, max_budget=Decimal(10), spend=Decimal("8.5"))
    with WebhookReceiver(SECRET) as receiver:
        _channel(app, receiver.url, events=["budget.threshold"])
        first = _sweep(app)
        assert first["alerts"]["user"] == 2  # 50 % and 80 %
        _wait(lambda: len(receiver.calls) == 2, what="two webhook calls")

        # A rerun, a restarted process (a new app), and two beats at once fire nothing new.
        assert _sweep(app)["alertsFired"] == 0
        with extra_app(settings) as restarted, restarted.app_context():
            assert budget_alerts.sweep(utc_today())["alertsFired"] == 0
        results = []

        def beat():
            with app.app_context():
                results.append(budget_alerts.sweep(utc_today())["alertsFired"])
                db.session.remove()

        beats = [threading.Thread(target=beat) for _ in range(2)]
        for thread in beats:
            thread.start()
        for thread in beats:
            thread.join()
        assert results == [0, 0]

        with app.app_context():
            db.session.execute(update(User).where(User.id == user_id)
                               .values(spend=Decimal("10.2")))
            db.session.commit()
        results.clear()
        beats = [threading.Thread(target=beat) for _ in range(2)]
        for thread in beats:
            thread.start()
        for thread in beats:
            thread.join()
        assert sorted(results) == [0, 1]  # the 100 % alert, fired by exactly one beat
        _wait(lambda: len(receiver.calls) == 3, what="the 100% webhook call")
        time.sleep(0.5)
        assert len(receiver.calls) == 3

    with app.app_context():
        fired = db.session.execute(select(BudgetAlert.threshold, BudgetAlert.period).where(
            BudgetAlert.owner_id == user_id)).all()
    assert sorted(t for t, _ in fired) == [50, 80, 100]
    assert {p for _, p in fired} == {"lifetime"}
    assert _count(app, Notification, Notification.user_id == user_id,
                  Notification.event == "budget.threshold") == 3
    assert all(call["verified"] for call in receiver.calls)
    payloads = [call["json"] for call in receiver.calls]
    assert sorted(p["data"]["threshold"] for p in payloads) == [50, 80, 100]
    assert all("forecast" in p["data"] and "summary" in p["data"]["forecast"] for p in payloads)
    notices = client.get("/api/v1/notifications", headers=login("user")).get_json()
    assert notices["unread"] == 3 and notices["data"][0]["title"].startswith("Your budget")
    banners = client.get("/api/v1/notifications?unread=true&severity=critical",
                         headers=login("user")).get_json()
    assert [n["data"]["threshold"] for n in banners["data"]] == [100]


def test_team_alert_reaches_team_owners_and_admins_and_keys_reach_their_owner(app, login,
                                                                              client):
    from app.models import Team, TeamMember

    owner = _user(app, login, "user")
    admin = _user(app, login, "admin")
    with app.app_context():
        team = Team(id=uuid.uuid4(), name="governed", max_budget=Decimal(100),
                    spend=Decimal(55), budget_duration="monthly", created_by=admin)
        db.session.add(team)
        db.session.flush()
        db.session.add(TeamMember(team_id=team.id, user_id=owner, role="owner"))
        db.session.commit()
        team_id = team.id
    result = _sweep(app)
    assert result["alerts"]["team"] == 1 and result["ledger"]["opened"] >= 1
    with app.app_context():
        recipients = set(db.session.scalars(select(Notification.user_id).where(
            Notification.event == "budget.threshold")))
        ledger = db.session.scalars(select(BudgetPeriodLedger).where(
            BudgetPeriodLedger.owner_id == team_id)).all()
    assert recipients == {owner, admin}
    assert len(ledger) == 1 and ledger[0].closed_at is None
    assert ledger[0].period_start == utc_today().replace(day=1)
    periods = client.get(f"/api/v1/admin/budgets/periods?ownerId={team_id}",
                         headers=login("adminro")).get_json()
    assert periods["pagination"]["total"] == 1 and periods["data"][0]["ownerType"] == "team"
    assert client.get("/api/v1/admin/budgets/periods", headers=login("user")).status_code == 403


def test_ledger_closes_a_period_with_its_spend_and_opens_the_next(app, login):
    from app.models import Team

    admin = _user(app, login, "admin")
    today = utc_today()
    with app.app_context():
        team = Team(id=uuid.uuid4(), name="ledgered", max_budget=Decimal(100),
                    budget_duration="daily", created_by=admin)
        db.session.add(team)
        db.session.flush()
        db.session.add(BudgetPeriodLedger(owner_type="team", owner_id=team.id,
                                          budget_duration="daily",
                                          period_start=today - timedelta(days=1),
                                          reset_at=today, budget=Decimal(100)))
        db.session.add(UsageDaily(day=today - timedelta(days=1), team_id=team.id,
                                  model_id="m", spend=Decimal("7.25")))
        db.session.commit()
        team_id = team.id
    result = _sweep(app)
    assert result["ledger"]["closed"] == 1
    with app.app_context():
        rows = db.session.scalars(select(BudgetPeriodLedger).where(
            BudgetPeriodLedger.owner_id == team_id).order_by(
            BudgetPeriodLedger.period_start)).all()
    assert [(r.period_start, r.closed_at is not None, r.spend_at_close) for r in rows] == [
        (today - timedelta(days=1), True, Decimal("7.250000")), (today, False, None)]


# -- the forecast ----------------------------------------------------------------------------


def test_forecast_matches_a_hand_computed_example():
    today = date(2026, 12, 10)
    period = BudgetPeriod(date(2026, 12, 1), date(2027, 1, 1))
    daily = {date(2026, 12, 2): Decimal(50),  # before the 7-day window: ignored
             date(2026, 12, 4): Decimal(5), date(2026, 12, 6): Decimal(10),
             date(2026, 12, 10): Decimal(6)}
    # window 12-04..12-10 = 7 days, 21 spent → 3/day; 60 left → 20 days → 2026-12-30.
    outlook = budget_alerts.forecast(Decimal(40), Decimal(100), daily, today, period, 7)
    assert outlook["runsOutOn"] == "2026-12-30" and outlook["daysLeft"] == 20
    assert outlook["dailyRate"] == "3.000000" and outlook["remaining"] == "60"
    assert outlook["runsOutBeforeReset"] is True
    assert outlook["summary"] == "At this rate the budget runs out on 2026-12-30"
    assert outlook["method"]["windowStart"] == "2026-12-04"
    assert outlook["method"]["windowDays"] == 7

    # Three days into the period the window starts on the 1st: 9 spent / 3 days = 3/day;
    # 91 left → ceil(30.33) = 31 days → 2027-01-03, after the reset on 2027-01-01.
    early = budget_alerts.forecast(Decimal(9), Decimal(100), {date(2026, 12, 2): Decimal(9)},
                                   date(2026, 12, 3), period, 7)
    assert early["method"]["windowDays"] == 3 and early["runsOutOn"] == "2027-01-03"
    assert early["runsOutBeforeReset"] is False
    assert early["summary"] == "At this rate the budget lasts until it resets on 2027-01-01"
    idle = budget_alerts.forecast(Decimal(9), Decimal(100), {}, today, period, 7)
    assert idle["runsOutOn"] is None


def test_usage_budget_carries_the_forecast(app, login, client):
    headers = login("user")
    user_id = _user(app, login, max_budget=Decimal(100), spend=Decimal(40))
    today = utc_today()
    with app.app_context():
        db.session.add_all([
            UsageDaily(day=today - timedelta(days=1), user_id=user_id, model_id="m",
                       spend=Decimal(6)),
            UsageDaily(day=today - timedelta(days=3), user_id=user_id, model_id="m2",
                       spend=Decimal(15)),
            UsageDaily(day=today - timedelta(days=9), user_id=user_id, model_id="m",
                       spend=Decimal(500)),
        ])
        db.session.commit()
    body = client.get("/api/v1/usage/budget", headers=headers).get_json()
    forecast = body["forecast"]
    assert forecast["dailyRate"] == "3.000000"  # 21 over the last 7 days
    assert forecast["runsOutOn"] == (today + timedelta(days=20)).isoformat()
    assert forecast["summary"] == f"At this rate the budget runs out on {forecast['runsOutOn']}"


# -- deliveries ------------------------------------------------------------------------------


def _notify(app, user_ids=(), event="access.renewal_requested", dedupe=None) -> list:
    with app.app_context():
        made = notifications.notify(notifications.Notice(
            event=event, title="Renewal asked", body="please", data={"n": 1}),
            list(user_ids), dedupe or f"test:{uuid.uuid4()}")
        ids = [job.id for job in made]
        db.session.commit()  # publishes the delivery jobs
        db.session.remove()
        return ids


def test_failing_receiver_is_retried_then_failed_without_blocking_others(app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFY_MAX_ATTEMPTS", 2)
    with WebhookReceiver(SECRET, status=503) as bad, WebhookReceiver(SECRET) as good:
        bad_id = _channel(app, bad.url, name="bad")
        good_id = _channel(app, good.url, name="good")
        job_ids = _notify(app)
        assert len(job_ids) == 2
        _wait(lambda: len(good.calls) == 1, timeout=10, what="the good receiver's call")
        _wait(lambda: _count(app, NotificationDelivery,
                             NotificationDelivery.status == "failed") == 1,
              timeout=40, what="the bad delivery to fail")
    assert len(bad.calls) == 2  # first attempt and one retry after backoff
    assert bad.calls[0]["delivery"] == bad.calls[1]["delivery"]  # same id on each attempt
    assert len(good.calls) == 1 and good.calls[0]["verified"]
    with app.app_context():
        rows = {str(d.channel_id): d for d in db.session.scalars(select(NotificationDelivery))}
        failed_job = db.session.get(Job, rows[bad_id].job_id)
        db.session.remove()
    assert (rows[bad_id].status, rows[bad_id].attempts, rows[bad_id].response_code) == (
        "failed", 2, 503)
    assert (rows[good_id].status, rows[good_id].attempts, rows[good_id].response_code) == (
        "delivered", 1, 200)
    _wait(lambda: _count(app, Job, Job.id == failed_job.id, Job.status == "failed") == 1,
          what="the failed job")
    assert _count(app, AuditLog, AuditLog.action == "NOTIFICATION_DELIVERY_FAILED") == 1


def test_a_retried_or_duplicated_delivery_job_never_sends_twice(app):
    with WebhookReceiver(SECRET) as receiver:
        _channel(app, receiver.url)
        dedupe = f"test:{uuid.uuid4()}"
        (job_id,) = _notify(app, dedupe=dedupe)
        _wait(lambda: len(receiver.calls) == 1, what="the webhook call")
        wait_for_jobs(app, "deliver_notification")
        # the same notice again (a rerun) writes nothing; the same job redelivered and the
        # delivery run again both skip
        assert _notify(app, dedupe=dedupe) == []
        with app.app_context():
            db.session.execute(update(Job).where(Job.id == job_id).values(status="queued"))
            db.session.commit()
            jobs.republish(db.session.get(Job, job_id))
            delivery_id = db.session.scalar(select(NotificationDelivery.id))
            assert notifications.deliver(delivery_id)["skipped"] == "delivered"
            db.session.remove()
        wait_for_jobs(app, "deliver_notification")
        time.sleep(0.5)
    assert len(receiver.calls) == 1


def test_receiver_verifies_signature_and_refuses_replays_and_forgeries():
    body = notifications.canonical_body({"event": "budget.threshold", "data": {"x": 1}})
    now = int(time.time())
    signature = notifications.sign(SECRET, str(now), body)
    assert notifications.verify(SECRET, str(now), body, signature)
    assert not notifications.verify(SECRET, str(now), body + b" ", signature)  # tampered
    assert not notifications.verify("another-secret-0123456789", str(now), body, signature)
    assert not notifications.verify(SECRET, str(now - 3600), body,  # replayed an hour later
                                    notifications.sign(SECRET, str(now - 3600), body))


def test_email_goes_over_starttls_to_a_real_smtp_server(app, login, monkeypatch, tmp_path):
    with SmtpServer(tmp_path) as smtp:
        for name, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", smtp.port),
                            ("SMTP_CA_FILE", str(smtp.cert)), ("SMTP_STARTTLS", True)):
            monkeypatch.setitem(app.config, name, value)
        user_id = _user(app, login, max_budget=Decimal(10), spend=Decimal(6))
        _sweep(app)
        _wait(lambda: len(smtp.messages) == 1, what="the e-mail")
        wait_for_jobs(app, "deliver_notification")
    message = smtp.messages[0]
    assert message["to"] == ["user@example.com"] and message["tls"]
    assert "Your budget is 50% used" in message["data"]
    with app.app_context():
        delivery = db.session.scalar(select(NotificationDelivery))
    assert (delivery.kind, delivery.status, delivery.user_id) == ("email", "delivered", user_id)


def test_a_user_turns_an_event_off(app, login, client):
    headers = login("user")
    user_id = _user(app, login)
    response = client.put("/api/v1/notifications/preferences", headers=headers, json={
        "preferences": [{"event": "access.renewal_requested", "inApp": False}]})
    assert response.status_code == 200
    chosen = {p["event"]: p for p in response.get_json()["data"]}
    assert chosen["access.renewal_requested"] == {
        "event": "access.renewal_requested", "inApp": False, "email": True,
        "description": notifications.EVENTS["access.renewal_requested"]}
    _notify(app, [user_id])
    _notify(app, [user_id], event="key.expiring")
    listed = client.get("/api/v1/notifications", headers=headers).get_json()
    assert [n["event"] for n in listed["data"]] == ["key.expiring"]
    bad = client.put("/api/v1/notifications/preferences", headers=headers,
                     json={"preferences": [{"event": "nope"}]})
    assert bad.status_code == 400
    assert "preferences" in bad.get_json()["error"]["details"]["fields"]["json"]
    notice = listed["data"][0]["id"]
    read = client.post(f"/api/v1/notifications/{notice}/read", headers=headers)
    assert read.status_code == 200 and read.get_json()["readAt"]
    other = client.post(f"/api/v1/notifications/{notice}/read", headers=login("admin"))
    assert other.status_code == 404


def test_admin_manages_channels_and_secrets_are_write_only(app, login, client, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", Fernet.generate_key().decode())
    admin = login("admin")
    created = client.post("/api/v1/admin/notifications/channels", headers=admin, json={
        "name": "ops", "kind": "webhook", "url": "https://hooks.example.com/x",
        "secret": SECRET, "events": ["budget.threshold"]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["hasSecret"] is True and "secret" not in body
    listed = client.get("/api/v1/admin/notifications/channels", headers=login("adminro"))
    assert SECRET not in listed.get_data(as_text=True)
    assert client.patch(f"/api/v1/admin/notifications/channels/{body['id']}",
                        headers=login("adminro"), json={"enabled": False}).status_code == 403
    for bad in ({"name": "x", "kind": "webhook", "events": ["*"]},  # no url
                {"name": "x", "kind": "sms", "url": "https://a.b", "events": ["*"]},
                {"name": "x", "kind": "webhook", "url": "ftp://a.b", "events": ["*"]},
                {"name": "x", "kind": "webhook", "url": "https://a.b", "events": ["nope"]},
                {"name": "x", "kind": "webhook", "url": "https://a.b", "events": ["*"],
                 "secret": "short"}):
        response = client.post("/api/v1/admin/notifications/channels", headers=admin, json=bad)
        assert response.status_code == 400, (bad, response.get_json())
    duplicate = client.post("/api/v1/admin/notifications/channels", headers=admin, json={
        "name": "ops", "kind": "email", "recipients": ["a@example.com"], "events": ["*"]})
    assert duplicate.status_code == 409
    with app.app_context():
        audit_text = str(db.session.scalars(select(AuditLog.details).where(
            AuditLog.action.like("NOTIFICATION_CHANNEL_%"))).all())
    assert "NOTIFICATION_CHANNEL" not in audit_text and SECRET not in audit_text
    assert "hasSecret" in audit_text
    with app.app_context():  # encrypted at rest with ENCRYPTION_KEY, and still signs
        stored = db.session.get(NotificationChannel, uuid.UUID(body["id"]))
        assert stored.secret.startswith("fernet:") and SECRET not in stored.secret
        assert notifications._unseal(stored.secret) == SECRET


# -- key hygiene -----------------------------------------------------------------------------


def _user_with_key(app, sim, client, login, **fields) -> tuple[dict, dict, str]:
    models = seed_models(app, sim, count=3)
    headers = login("user")
    subscribe(client, headers, models[0])
    key = create_key(client, headers, [models[0]], **fields)
    return headers, key, models[0]


def test_rotated_key_old_value_works_during_grace_and_not_after(app, sim, client, login,
                                                                monkeypatch):
    monkeypatch.setitem(app.config, "KEY_ROTATION_GRACE", 2)
    headers, key, model = _user_with_key(app, sim, client, login)
    old = key["key"]
    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).get_json()
    assert rotated["jobId"] is None and rotated["oldValueValidUntil"]
    assert rotated["id"] == key["id"]  # the same key id
    assert chat(sim, old, model).status_code == 200  # inside the grace period
    assert chat(sim, rotated["key"], model).status_code == 200
    assert _sweep(app, "key_hygiene_sweep")["graceEnded"] == 0
    time.sleep(2.2)
    assert _sweep(app, "key_hygiene_sweep")["graceEnded"] == 1
    wait_for_jobs(app, "revoke_key")
    assert chat(sim, old, model).status_code == 401
    assert chat(sim, rotated["key"], model).status_code == 200
    assert _sweep(app, "key_hygiene_sweep")["graceEnded"] == 0  # once


def test_revoking_a_key_ends_the_grace_of_its_old_value_at_once(app, sim, client, login,
                                                                 monkeypatch):
    monkeypatch.setitem(app.config, "KEY_ROTATION_GRACE", 3600)
    headers, key, model = _user_with_key(app, sim, client, login)
    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).get_json()
    assert chat(sim, key["key"], model).status_code == 200  # in grace
    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=headers).status_code < 300
    _wait(lambda: all(j.status == "succeeded" for j in wait_for_jobs(app, "revoke_key", 2)),
          what="both revocations")
    assert chat(sim, key["key"], model).status_code == 401
    assert chat(sim, rotated["key"], model).status_code == 401


def test_rotation_without_grace_revokes_at_once(app, sim, client, login):
    headers, key, model = _user_with_key(app, sim, client, login)
    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).get_json()
    wait_for_job(client, headers, rotated["jobId"])
    assert chat(sim, key["key"], model).status_code == 401


def test_idle_key_is_blocked_in_litellm_and_its_owner_re_enables_it(app, sim, client, login,
                                                                   monkeypatch):
    headers, key, model = _user_with_key(app, sim, client, login)
    assert _sweep(app, "key_hygiene_sweep")["keysDisabled"] == 0  # off by default
    monkeypatch.setitem(app.config, "KEY_IDLE_DISABLE_DAYS", 30)
    assert _sweep(app, "key_hygiene_sweep")["keysDisabled"] == 0  # created just now
    with app.app_context():
        db.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(
            created_at=datetime.now(UTC) - timedelta(days=40)))
        db.session.commit()
    assert _sweep(app, "key_hygiene_sweep")["keysDisabled"] == 1
    wait_for_jobs(app, "update_key")
    assert sim_key(sim, key["key"])["blocked"] is True
    assert chat(sim, key["key"], model).status_code == 401
    assert client.get("/api/v1/usage/summary",  # refused here too, not only in LiteLLM
                      headers={"X-API-Key": key["key"]}).status_code == 401
    assert _sweep(app, "key_hygiene_sweep")["keysDisabled"] == 0
    notices = client.get("/api/v1/notifications?event=key.disabled", headers=headers).get_json()
    assert notices["pagination"]["total"] == 1

    enabled = client.post(f"/api/v1/api-keys/{key['id']}/enable", headers=headers)
    assert enabled.status_code == 200
    wait_for_job(client, headers, enabled.get_json()["jobId"])
    assert sim_key(sim, key["key"])["blocked"] is False
    assert chat(sim, key["key"], model).status_code == 200
    assert client.get("/api/v1/usage/summary",
                      headers={"X-API-Key": key["key"]}).status_code == 200
    assert client.post(f"/api/v1/api-keys/{key['id']}/enable",
                       headers=headers).status_code == 409
    assert _sweep(app, "key_hygiene_sweep")["keysDisabled"] == 0  # re-enabling is a use
    assert _count(app, AuditLog, AuditLog.action.in_(["API_KEY_DISABLED_IDLE",
                                                      "API_KEY_ENABLED"])) == 2


def test_expiry_reminders_are_sent_once_per_window(app, sim, client, login):
    soon = (datetime.now(UTC) + timedelta(hours=12)).isoformat()
    headers, key, _ = _user_with_key(app, sim, client, login, expiresAt=soon)
    later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    create_key(client, headers, [key["models"][0]], name="later", expiresAt=later)
    assert _sweep(app, "key_hygiene_sweep")["expiryReminders"] == 2
    assert _sweep(app, "key_hygiene_sweep")["expiryReminders"] == 0
    notices = client.get("/api/v1/notifications?event=key.expiring",
                         headers=headers).get_json()["data"]
    assert sorted(n["data"]["days"] for n in notices) == [1, 7]


# -- time-boxed access ---------------------------------------------------------------------


def test_expired_approval_suspends_access_in_litellm(app, sim, client, login):
    models = seed_models(app, sim, restricted=(), count=3)
    restricted = models[1]
    with app.app_context():
        from app.models import Model

        db.session.execute(update(Model).where(Model.id == restricted).values(restricted=True))
        db.session.commit()
    user, admin = login("user"), login("admin")
    pending = subscribe(client, user, restricted)
    assert pending["status"] == "pending"
    past = client.post(f"/api/v1/admin/subscriptions/{pending['id']}/approve", headers=admin,
                       json={"expiresAt": "2020-01-01T00:00:00+00:00"})
    assert past.status_code == 422
    ends = datetime.now(UTC) + timedelta(seconds=3)
    approved = client.post(f"/api/v1/admin/subscriptions/{pending['id']}/approve",
                           headers=admin, json={"expiresAt": ends.isoformat()})
    assert approved.status_code == 200 and approved.get_json()["expiresAt"]
    subscribe(client, user, models[0])
    key = create_key(client, user, [restricted, models[0]])
    assert chat(sim, key["key"], restricted).status_code == 200
    assert _sweep(app, "access_sweep")["reminders"] == 1  # within ACCESS_REMINDER_DAYS
    assert _sweep(app, "access_sweep")["reminders"] == 0

    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
    assert _sweep(app, "access_sweep")["suspended"] == 1
    wait_for_jobs(app, "remove_models_from_keys")
    assert restricted not in sim_key(sim, key["key"])["models"]
    assert chat(sim, key["key"], restricted).status_code in (401, 403)
    assert chat(sim, key["key"], models[0]).status_code == 200
    sub = client.get(f"/api/v1/subscriptions/{pending['id']}", headers=user).get_json()
    assert sub["status"] == "suspended"
    events = [n["event"] for n in client.get("/api/v1/notifications",
                                             headers=user).get_json()["data"]]
    assert "access.suspended" in events and "access.expiring" in events

    # renewal goes back to the approvers; the owner cannot grant it
    asked = client.post(f"/api/v1/subscriptions/{pending['id']}/request-renewal", headers=user)
    assert asked.status_code == 200 and asked.get_json()["renewalRequestedAt"]
    admin_events = [n["event"] for n in client.get("/api/v1/notifications",
                                                   headers=admin).get_json()["data"]]
    assert "access.renewal_requested" in admin_events
    assert _sweep(app, "access_sweep")["digestItems"] == 1
    reviews = client.get("/api/v1/admin/access-reviews?renewalRequested=true",
                         headers=admin).get_json()
    assert [r["id"] for r in reviews["data"]] == [pending["id"]]
    renewed = client.post(f"/api/v1/admin/access-reviews/{pending['id']}/renew", headers=admin,
                          json={"expiresAt": (datetime.now(UTC) + timedelta(days=30))
                                .isoformat()})
    assert renewed.status_code == 200, renewed.get_json()
    assert renewed.get_json()["status"] == "active"
    assert renewed.get_json()["renewalRequestedAt"] is None


def test_approver_digest_lists_requests_older_than_a_day_once_a_day(app, sim, client, login):
    models = seed_models(app, sim, count=2)
    with app.app_context():
        from app.models import Model, Subscription

        db.session.execute(update(Model).where(Model.id == models[1]).values(restricted=True))
        db.session.commit()
    admin_id = _user(app, login, "admin")
    pending = subscribe(client, login("user"), models[1])
    assert _sweep(app, "access_sweep")["digestItems"] == 0  # not a day old yet
    with app.app_context():
        db.session.execute(update(Subscription).where(
            Subscription.id == uuid.UUID(pending["id"])).values(
            created_at=datetime.now(UTC) - timedelta(hours=30)))
        db.session.commit()
    assert _sweep(app, "access_sweep")["digestItems"] == 1
    _sweep(app, "access_sweep")
    assert _count(app, Notification, Notification.event == "approvals.digest",
                  Notification.user_id == admin_id) == 1


def test_metrics_count_alerts_deliveries_and_disabled_keys(app, login, client):
    _user(app, login, max_budget=Decimal(10), spend=Decimal(9))
    _sweep(app)
    text = client.get("/metrics", headers=login("admin")).get_data(as_text=True)
    assert 'litemaas_budget_alerts_fired_total{owner_type="user",threshold="80"} 1.0' in text
    assert 'litemaas_notification_deliveries_total{channel="in_app",outcome="delivered"}' in text
    assert "litemaas_keys_disabled_total" in text
    assert 'litemaas_metrics_source_up{source="governance"} 1.0' in text


def test_a_new_budget_period_fires_the_thresholds_again(app, login):
    from app.models import Team

    admin = _user(app, login, "admin")
    today = utc_today()
    with app.app_context():
        team = Team(id=uuid.uuid4(), name="daily", max_budget=Decimal(10), spend=Decimal(6),
                    budget_duration="daily", created_by=admin)
        db.session.add(team)
        db.session.flush()
        db.session.add(BudgetAlert(owner_type="team", owner_id=team.id,  # yesterday's period
                                   period=(today - timedelta(days=1)).isoformat(),
                                   threshold=50, spend=Decimal(6), budget=Decimal(10)))
        db.session.commit()
        team_id = team.id
    assert _sweep(app)["alerts"]["team"] == 1
    assert _sweep(app)["alerts"]["team"] == 0
    with app.app_context():
        periods = sorted(db.session.scalars(select(BudgetAlert.period).where(
            BudgetAlert.owner_id == team_id)))
    assert periods == [(today - timedelta(days=1)).isoformat(), today.isoformat()]


def test_two_single_flight_jobs_in_one_unit_of_work_are_both_published_after_its_commit(app):
    """A second job's savepoint must not publish the first before the real commit (a worker
    would find no row, skip it, and the job would stay queued for ever)."""
    from app.services import key_provisioning

    key_id = uuid.uuid4()
    with app.app_context():
        first = key_provisioning.create_revoke_job(key_id, None, token="a" * 64)
        second = key_provisioning.create_revoke_job(key_id, None, token="b" * 64)
        ids = [first.id, second.id]
        with db.engine.connect() as other:  # nothing sent before the commit
            assert other.execute(select(func.count()).select_from(Job)).scalar() == 0
        db.session.commit()
        db.session.remove()
    with app.app_context():
        rows = db.session.scalars(select(Job).where(Job.id.in_(ids))).all()
        assert len(rows) == 2 and all(job.published_at is not None for job in rows)
        db.session.remove()
    wait_for_jobs(app, "revoke_key", 2)
