"""Notifications (issue 19): in-app notices, signed webhooks and e-mail, each delivery a job.

``notify`` writes, in the caller's unit of work, one in-app notice per recipient (unless they
turned the event off), one e-mail delivery per recipient who wants e-mail (when SMTP is set up)
and one delivery per enabled admin channel subscribed to the event. Every row carries a
``dedupe_key``: the same event for the same recipient is written once, whoever calls again
(reruns, restarts, a second beat). The delivery jobs are published when the caller commits.

A delivery job sends at most once: it holds the delivery row locked while sending and marks it
``delivered`` in the same transaction; a retried or duplicated job finds it delivered and stops.
Webhook receivers get ``X-LiteMaaS-Delivery`` (stable across attempts) to drop a duplicate should
a worker die between the send and the commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import requests
from flask import current_app
from sqlalchemy import any_, func, literal, select
from sqlalchemy.dialects.postgresql import insert

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import (
    Job,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationPreference,
    User,
)
from app.services import audit, jobs, key_secrets

log = logging.getLogger(__name__)

DELIVER_KIND = "deliver_notification"  # app/services/job_kinds.py

# Every event a notice can be about; users choose per event, channels subscribe per event.
EVENTS: dict[str, str] = {
    "budget.threshold": "A budget (yours, your key's or your team's) crossed a threshold",
    "key.expiring": "One of your API keys expires soon",
    "key.disabled": "One of your API keys was disabled for being unused",
    "key.grace_ended": "The old value of a rotated key stopped working",
    "access.expiring": "Your access to a restricted model ends soon",
    "access.suspended": "Your access to a restricted model ended",
    "access.renewal_requested": "A user asked to renew access to a restricted model (approvers)",
    "approvals.digest": "Access requests waiting for review (approvers)",
}
ALL_EVENTS = "*"
SIGNATURE_HEADER = "X-LiteMaaS-Signature"
TIMESTAMP_HEADER = "X-LiteMaaS-Timestamp"
DELIVERY_HEADER = "X-LiteMaaS-Delivery"
EVENT_HEADER = "X-LiteMaaS-Event"


class Sent(list):
    """The delivery jobs a ``notify`` call made (published after the caller's commit), and how
    many in-app notices it wrote (0: every recipient had it already, or turned it off)."""

    notices: int = 0


@dataclass
class Notice:
    event: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    severity: str = "info"  # info | warning | critical


# -- writing notices (caller's unit of work) ----------------------------------------------------


def notify(notice: Notice, user_ids: list[uuid.UUID] | set[uuid.UUID], dedupe: str) -> Sent:
    """Notify users and subscribed channels of ``notice`` once per ``dedupe`` key, in the
    caller's unit of work; returns the delivery jobs (published when the caller commits)."""
    return notify_many([(notice, user_ids, dedupe)])


def notify_many(items: list[tuple[Notice, Any, str]]) -> Sent:
    """``notify`` for many notices at once, in a handful of statements (sweeps over many
    owners): (notice, user ids, dedupe key) each."""
    for notice, _, _ in items:
        assert notice.event in EVENTS, notice.event
    users = {u for _, user_ids, _ in items for u in user_ids}
    prefs = _preferences(users, {notice.event for notice, _, _ in items})
    wanted = [(notice, u, dedupe, *prefs.get((u, notice.event), (True, True)))
              for notice, user_ids, dedupe in items for u in sorted(set(user_ids))]
    created = _insert_notices([(notice, u, dedupe) for notice, u, dedupe, in_app, _ in wanted
                               if in_app])
    # A user's e-mail follows their in-app notice (written once); a user with in-app off but
    # e-mail on is kept once by the delivery's own key.
    mail = [(notice, u, dedupe) for notice, u, dedupe, in_app, email in wanted
            if email and (not in_app or _notice_key(dedupe, u) in created)]
    rows = _email_rows(mail) + _channel_rows(items)
    sent = Sent(_insert_deliveries(rows))
    sent.notices = len(created)
    return sent


def _notice_key(dedupe: str, user_id: uuid.UUID) -> str:
    return f"{dedupe}:user:{user_id}"[:255]


def _preferences(user_ids: set[uuid.UUID],
                 events: set[str]) -> dict[tuple[uuid.UUID, str], tuple[bool, bool]]:
    if not user_ids:
        return {}
    rows = db.session.execute(select(
        NotificationPreference.user_id, NotificationPreference.event,
        NotificationPreference.in_app, NotificationPreference.email).where(
        NotificationPreference.event.in_(events),
        NotificationPreference.user_id.in_(list(user_ids))))
    return {(user_id, event): (in_app, email) for user_id, event, in_app, email in rows}


def _insert_notices(wanted: list[tuple[Notice, uuid.UUID, str]]) -> set[str]:
    values = [{"user_id": u, "event": notice.event, "severity": notice.severity,
               "title": notice.title[:255], "body": notice.body, "data": notice.data,
               "dedupe_key": _notice_key(dedupe, u)} for notice, u, dedupe in wanted]
    created: set[str] = set()
    for start in range(0, len(values), 2000):
        created.update(db.session.scalars(
            insert(Notification).values(values[start:start + 2000])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.dedupe_key)).all())
    return created


def _email_rows(mail: list[tuple[Notice, uuid.UUID, str]]) -> list[dict]:
    if not mail or not current_app.config["SMTP_HOST"]:
        return []
    addresses = dict(db.session.execute(select(User.id, User.email).where(
        User.id.in_(list({u for _, u, _ in mail})), User.email.is_not(None),
        User.is_active.is_(True))).all())
    return [{"user_id": u, "channel_id": None, "kind": "email", "event": notice.event,
             "dedupe_key": f"{dedupe}:email:{u}"[:255],
             "payload": {**_payload(notice), "to": [addresses[u]]}}
            for notice, u, dedupe in mail if addresses.get(u)]


def _channel_rows(items: list[tuple[Notice, Any, str]]) -> list[dict]:
    events = {notice.event for notice, _, _ in items}
    channels = db.session.scalars(select(NotificationChannel).where(
        NotificationChannel.enabled.is_(True),
        NotificationChannel.events.overlap([*events, ALL_EVENTS]))).all()
    rows = []
    for notice, _, dedupe in items:
        for channel in channels:
            if notice.event not in channel.events and ALL_EVENTS not in channel.events:
                continue
            payload = _payload(notice)
            if channel.kind == "email":
                payload["to"] = list(channel.recipients)
            rows.append({"user_id": None, "channel_id": channel.id, "kind": channel.kind,
                         "event": notice.event,
                         "dedupe_key": f"{dedupe}:channel:{channel.id}"[:255],
                         "payload": payload})
    return rows


def _payload(notice: Notice) -> dict[str, Any]:
    return {"event": notice.event, "severity": notice.severity, "title": notice.title,
            "body": notice.body, "data": notice.data,
            "occurredAt": datetime.now(UTC).isoformat(timespec="seconds")}


def _insert_deliveries(rows: list[dict]) -> list[Job]:
    created = []
    for start in range(0, len(rows), 2000):
        created += db.session.execute(
            insert(NotificationDelivery).values(rows[start:start + 2000])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(NotificationDelivery.id)).scalars().all()
    made = []
    for delivery_id in created:
        job, _ = jobs.create(DELIVER_KIND, {"deliveryId": str(delivery_id)})
        made.append(job)
        db.session.execute(NotificationDelivery.__table__.update()
                           .where(NotificationDelivery.id == delivery_id)
                           .values(job_id=job.id))
    return made


# -- delivering (worker) -------------------------------------------------------------------------


class DeliveryRetry(Exception):
    """The receiver failed in a way worth retrying (5xx, 429, timeout, connection)."""


class DeliveryFailed(Exception):
    """The delivery is given up (refused, or out of attempts); the job fails with the reason."""


def deliver(delivery_id: uuid.UUID) -> dict[str, Any]:
    """Send one delivery unless it was sent already; commits its log line.

    Raises DeliveryRetry for a transient failure with attempts left, DeliveryFailed when it is
    given up."""
    delivery = db.session.scalar(select(NotificationDelivery).where(
        NotificationDelivery.id == delivery_id).with_for_update())
    if delivery is None or delivery.status in ("delivered", "failed"):
        status = delivery.status if delivery else "deleted"
        db.session.rollback()
        return {"deliveryId": str(delivery_id), "skipped": status}
    channel = db.session.get(NotificationChannel, delivery.channel_id) \
        if delivery.channel_id else None
    delivery.attempts += 1
    try:
        code = _send(delivery, channel)
    except _Permanent as exc:
        return _after_failure(delivery, str(exc), exc.code, transient=False)
    except _Transient as exc:
        return _after_failure(delivery, str(exc), exc.code, transient=True)
    except Exception as exc:  # a bug, not the receiver: give up visibly, never loop
        log.exception("delivery %s failed unexpectedly", delivery.id)
        return _after_failure(delivery, f"unexpected {type(exc).__name__}", None,
                              transient=False)
    delivery.status, delivery.response_code = "delivered", code
    delivery.last_error, delivery.delivered_at = None, datetime.now(UTC)
    db.session.commit()
    return {"deliveryId": str(delivery.id), "status": "delivered", "attempts": delivery.attempts,
            "responseCode": code, "kind": delivery.kind}


def _after_failure(delivery: NotificationDelivery, error: str, code: int | None, *,
                   transient: bool) -> dict[str, Any]:
    delivery.last_error, delivery.response_code = error[:1000], code
    out_of_attempts = delivery.attempts >= current_app.config["NOTIFY_MAX_ATTEMPTS"]
    if transient and not out_of_attempts:
        delivery.status = "pending"
        db.session.commit()
        raise DeliveryRetry(f"attempt {delivery.attempts} failed: {error[:200]}")
    delivery.status = "failed"
    audit.record("NOTIFICATION_DELIVERY_FAILED", "notification_delivery", delivery.id,
                 success=False, details={"kind": delivery.kind, "event": delivery.event,
                                         "attempts": delivery.attempts, "responseCode": code,
                                         "error": error[:300]})
    db.session.commit()
    raise DeliveryFailed(f"delivery {delivery.id} failed after {delivery.attempts} attempt(s): "
                         f"{error[:200]}")


class _Transient(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class _Permanent(_Transient):
    pass


def _send(delivery: NotificationDelivery, channel: NotificationChannel | None) -> int:
    if delivery.channel_id is not None and (channel is None or not channel.enabled):
        raise _Permanent("the channel was deleted or disabled")
    if delivery.kind == "webhook":
        return _post_webhook(delivery, channel)
    return _send_email(delivery)


def canonical_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>`` with the channel's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str,
           tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps (replays)."""
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _post_webhook(delivery: NotificationDelivery, channel: NotificationChannel) -> int:
    body = canonical_body({"id": str(delivery.id), **delivery.payload})
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               DELIVERY_HEADER: str(delivery.id), EVENT_HEADER: delivery.event,
               "User-Agent": "LiteMaaS-Webhook/1"}
    if channel.secret:
        secret = _unseal(channel.secret)
        if secret is None:
            raise _Permanent("the channel's secret does not open with ENCRYPTION_KEY")
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    try:
        response = requests.post(channel.url, data=body, headers=headers, allow_redirects=False,
                                 timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise _Transient(f"{type(exc).__name__} calling the webhook") from None
    except requests.RequestException as exc:
        raise _Permanent(f"{type(exc).__name__} calling the webhook") from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    if code >= 500 or code in (408, 429):
        raise _Transient(f"the receiver answered {code}", code)
    raise _Permanent(f"the receiver answered {code}", code)


def _send_email(delivery: NotificationDelivery) -> int:
    config = current_app.config
    if not config["SMTP_HOST"]:
        raise _Permanent("SMTP is not configured (SMTP_HOST)")
    payload = delivery.payload
    message = EmailMessage()
    message["From"] = config["SMTP_FROM"]
    message["To"] = ", ".join(payload.get("to") or [])
    message["Subject"] = f"[LiteMaaS] {payload['title']}"
    message["Message-ID"] = f"<{delivery.id}@litemaas>"  # stable: a duplicate is recognisable
    message.set_content(f"{payload['body']}\n\n"
                        + json.dumps(payload.get("data") or {}, indent=2, sort_keys=True))
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"],
                          timeout=config["SMTP_TIMEOUT_SECONDS"]) as smtp:
            smtp.ehlo()
            if config["SMTP_STARTTLS"]:
                if not smtp.has_extn("starttls"):
                    raise _Permanent("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=ssl.create_default_context(
                    cafile=config["SMTP_CA_FILE"] or None))
                smtp.ehlo()
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        error = f"SMTP {exc.smtp_code}"
        if 400 <= exc.smtp_code < 500:
            raise _Transient(error, exc.smtp_code) from None
        raise _Permanent(error, exc.smtp_code) from None
    except ssl.SSLError as exc:
        raise _Permanent(f"TLS failure: {type(exc).__name__}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _Transient(f"{type(exc).__name__} talking to the SMTP server") from None
    return 250


# -- reading and choosing (users) --------------------------------------------------------------


def own_query(user_id: uuid.UUID, unread: bool | None = None, event: str | None = None,
              severities: list[str] | None = None):
    """A user's notices, newest first. The UI's banners can show the unread ``warning`` and
    ``critical`` ones: ``own_query(user_id, unread=True, severities=["warning", "critical"])``
    (or ``GET /notifications?unread=true&severity=warning&severity=critical``)."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if severities:
        stmt = stmt.where(Notification.severity.in_(severities))
    if unread is not None:
        stmt = stmt.where(Notification.read_at.is_(None) if unread
                          else Notification.read_at.is_not(None))
    if event:
        stmt = stmt.where(Notification.event == event)
    return stmt.order_by(Notification.created_at.desc(), Notification.id)


def unread_count(user_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)))


def mark_read(notification_id: uuid.UUID, user_id: uuid.UUID) -> Notification:
    notice = db.session.get(Notification, notification_id)
    if notice is None or notice.user_id != user_id:
        raise NotFound.resource("notification", notification_id)
    if notice.read_at is None:
        notice.read_at = datetime.now(UTC)
        audit.record("NOTIFICATION_READ", "notification", notice.id,
                     details={"event": notice.event})
        db.session.commit()
    return notice


def preferences(user_id: uuid.UUID) -> list[dict[str, Any]]:
    chosen = {p.event: p for p in db.session.scalars(select(NotificationPreference).where(
        NotificationPreference.user_id == user_id))}
    return [{"event": event, "description": text,
             "in_app": chosen[event].in_app if event in chosen else True,
             "email": chosen[event].email if event in chosen else True}
            for event, text in EVENTS.items()]


def set_preferences(user_id: uuid.UUID, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for choice in choices:
        values = {k: choice[k] for k in ("in_app", "email") if k in choice}
        stmt = insert(NotificationPreference).values(user_id=user_id, event=choice["event"],
                                                     **values)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["user_id", "event"], set_={**values, "updated_at": func.now()})
            if values else stmt.on_conflict_do_nothing())
    audit.record("NOTIFICATION_PREFERENCES_UPDATED", "user", user_id,
                 details={"events": {c["event"]: {k: c[k] for k in ("in_app", "email") if k in c}
                                     for c in choices}})
    db.session.commit()
    return preferences(user_id)


# -- channels (admins) ---------------------------------------------------------------------------


def get_channel(channel_id: uuid.UUID) -> NotificationChannel:
    channel = db.session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound.resource("notification channel", channel_id)
    return channel


def _channel_audit(channel: NotificationChannel, fields: list[str]) -> dict[str, Any]:
    # Never the secret; only whether one is set.
    return {"name": channel.name, "kind": channel.kind, "events": list(channel.events),
            "enabled": channel.enabled, "hasSecret": bool(channel.secret), "fields": fields}


_SEALED = "fernet:"


def _seal(secret: str | None) -> str | None:
    """A webhook secret as stored: encrypted like every other secret in the database."""
    if not secret:
        return secret
    return _SEALED + key_secrets.encrypt_secret(secret).decode()


def _unseal(stored: str | None) -> str | None:
    if not stored or not stored.startswith(_SEALED):
        return stored
    return key_secrets.decrypt_secret(stored.removeprefix(_SEALED).encode())


def create_channel(data: dict[str, Any], actor_id: uuid.UUID | None) -> NotificationChannel:
    _check_channel(data["kind"], data)
    if "secret" in data:
        data = {**data, "secret": _seal(data["secret"])}
    if db.session.scalar(select(NotificationChannel.id).where(
            NotificationChannel.name == data["name"])):
        raise Conflict("A channel with this name exists", {"name": data["name"]})
    channel = NotificationChannel(id=uuid.uuid4(), created_by=actor_id, **data)
    db.session.add(channel)
    db.session.flush()
    audit.record("NOTIFICATION_CHANNEL_CREATED", "notification_channel", channel.id,
                 details=_channel_audit(channel, sorted(data)))
    db.session.commit()
    return channel


def update_channel(channel_id: uuid.UUID, data: dict[str, Any]) -> NotificationChannel:
    channel = get_channel(channel_id)
    merged = {"url": channel.url, "recipients": channel.recipients, **data}
    _check_channel(channel.kind, merged)
    if "name" in data and data["name"] != channel.name and db.session.scalar(
            select(NotificationChannel.id).where(NotificationChannel.name == data["name"])):
        raise Conflict("A channel with this name exists", {"name": data["name"]})
    if "secret" in data:
        data = {**data, "secret": _seal(data["secret"])}
    for name, value in data.items():
        setattr(channel, name, value)
    audit.record("NOTIFICATION_CHANNEL_UPDATED", "notification_channel", channel.id,
                 details=_channel_audit(channel, sorted(data)))
    db.session.commit()
    return channel


def delete_channel(channel_id: uuid.UUID) -> None:
    channel = get_channel(channel_id)
    audit.record("NOTIFICATION_CHANNEL_DELETED", "notification_channel", channel.id,
                 details=_channel_audit(channel, []))
    db.session.delete(channel)
    db.session.commit()


def _check_channel(kind: str, data: dict[str, Any]) -> None:
    from app.errors import ValidationError

    if kind == "webhook" and not data.get("url"):
        raise ValidationError("A webhook channel needs a url", {"url": ["Required."]})
    if kind == "email" and not data.get("recipients"):
        raise ValidationError("An e-mail channel needs recipients",
                              {"recipients": ["Required."]})
    unknown = sorted(set(data.get("events") or []) - set(EVENTS) - {ALL_EVENTS})
    if unknown:
        raise ValidationError("Unknown events", {"events": unknown, "known": sorted(EVENTS)})


def deliveries_query(channel_id: uuid.UUID | None = None, status: str | None = None,
                     event: str | None = None):
    stmt = select(NotificationDelivery)
    if channel_id:
        stmt = stmt.where(NotificationDelivery.channel_id == channel_id)
    if status:
        stmt = stmt.where(NotificationDelivery.status == status)
    if event:
        stmt = stmt.where(NotificationDelivery.event == event)
    return stmt.order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id)


def admin_user_ids() -> list[uuid.UUID]:
    """Approvers and budget overseers: active users with the admin role."""
    return list(db.session.scalars(select(User.id).where(
        User.is_active.is_(True), literal("admin") == any_(User.roles))))
