"""Time-boxed access to restricted models (issue 19): an approval may carry an end date; a beat
sweep suspends the subscription at that date (the model leaves the owner's keys in LiteLLM),
reminds owners ``ACCESS_REMINDER_DAYS`` before, and sends approvers a daily digest of requests
waiting longer than ``APPROVER_DIGEST_AFTER_HOURS`` and of renewals asked for. Owners ask for a
renewal; an approver (never the owner) grants it with a new end date.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from app.auth.identity import Identity
from app.errors import Conflict
from app.extensions import db
from app.models import Subscription, User
from app.services import audit, notifications, subscriptions
from app.services import key_provisioning as provisioning

log = logging.getLogger(__name__)

SWEEP_KIND = "access_sweep"  # app/services/job_kinds.py
SYSTEM = Identity(user_id=None, username="access-sweep", roles=("admin",), kind="system")


def sweep(now: datetime, progress: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Suspend lapsed access, remind, send the digest; one commit, then jobs are published."""
    made: list = []
    suspended = _suspend_lapsed(now, made)
    if progress:
        progress(40, f"{suspended} subscriptions suspended")
    reminded = _remind(now, made)
    digest = _digest(now, made)
    db.session.commit()  # the jobs are published after it
    return {"suspended": suspended, "reminders": reminded, "digestItems": digest,
            "jobs": len(made)}


def _suspend_lapsed(now: datetime, made: list) -> int:
    lapsed = db.session.scalars(select(Subscription).where(
        Subscription.status == "active", Subscription.expires_at <= now)
        .with_for_update(skip_locked=True)).all()
    for sub in lapsed:
        subscriptions._change(sub, "suspended", SYSTEM, "SUBSCRIPTION_ACCESS_EXPIRED",
                              "Time-boxed access ended", reviewed=False)
        made.append(provisioning.create_access_job([sub.model_id], sub.user_id, None))
        made += notifications.notify(notifications.Notice(
            event="access.suspended", severity="warning",
            title=f"Your access to {sub.model_id} ended",
            body=f"Your time-boxed access to {sub.model_id} ended on "
                 f"{sub.expires_at.isoformat(timespec='minutes')}; the model was removed "
                 "from your keys. Ask for a renewal to get it back.",
            data={"subscriptionId": str(sub.id), "modelId": sub.model_id,
                  "expiresAt": sub.expires_at.isoformat()}),
            [sub.user_id], f"access-suspended:{sub.id}:{sub.expires_at.isoformat()}")
    return len(lapsed)


def _remind(now: datetime, made: list) -> int:
    days = current_app.config["ACCESS_REMINDER_DAYS"]
    if days <= 0:
        return 0
    due = db.session.scalars(select(Subscription).where(
        Subscription.status == "active", Subscription.expires_at > now,
        Subscription.expires_at <= now + timedelta(days=days))).all()
    sent = 0
    for sub in due:
        written = notifications.notify(notifications.Notice(
            event="access.expiring", severity="warning",
            title=f"Your access to {sub.model_id} ends soon",
            body=f"Your access to {sub.model_id} ends on "
                 f"{sub.expires_at.isoformat(timespec='minutes')}. Ask for a renewal if you "
                 "still need it.",
            data={"subscriptionId": str(sub.id), "modelId": sub.model_id,
                  "expiresAt": sub.expires_at.isoformat()}),
            [sub.user_id], f"access-expiring:{sub.id}:{sub.expires_at.isoformat()}")
        made += written
        sent += 1 if written.notices else 0
    return sent


def _digest(now: datetime, made: list) -> int:
    cutoff = now - timedelta(hours=current_app.config["APPROVER_DIGEST_AFTER_HOURS"])
    waiting = db.session.execute(select(Subscription, User.username).join(
        User, User.id == Subscription.user_id).where(or_(
            (Subscription.status == "pending") & (Subscription.created_at <= cutoff),
            Subscription.renewal_requested_at.is_not(None)))
        .order_by(Subscription.created_at)).all()
    if not waiting:
        return 0
    items = [{"subscriptionId": str(sub.id), "user": username, "modelId": sub.model_id,
              "kind": "renewal" if sub.renewal_requested_at else "request",
              "since": (sub.renewal_requested_at or sub.created_at).isoformat()}
             for sub, username in waiting]
    lines = "\n".join(f"- {i['user']} → {i['modelId']} ({i['kind']} since {i['since']})"
                      for i in items[:50])
    made += notifications.notify(notifications.Notice(
        event="approvals.digest", title=f"{len(items)} access request(s) waiting for review",
        body=f"These requests wait for an approver:\n{lines}",
        data={"items": items[:200], "count": len(items)}),
        notifications.admin_user_ids(), f"approvals-digest:{now.date().isoformat()}")
    return len(items)


# -- renewal ------------------------------------------------------------------------------------


def request_renewal(subscription_id: uuid.UUID, identity: Identity) -> Subscription:
    """The owner asks the approvers to extend time-boxed (or lapsed) access; one commit."""
    sub = subscriptions._own_locked(subscription_id, identity)
    lapsed = sub.status == "suspended" and sub.expires_at is not None
    if not (sub.status == "active" and sub.expires_at is not None) and not lapsed:
        raise Conflict("Only time-boxed access can be renewed", {"status": sub.status},
                       code="NOT_TIME_BOXED")
    sub.renewal_requested_at = datetime.now(UTC)
    audit.record("SUBSCRIPTION_RENEWAL_REQUESTED", "subscription", sub.id,
                 details={"modelId": sub.model_id, "expiresAt": sub.expires_at.isoformat()})
    notifications.notify(notifications.Notice(
        event="access.renewal_requested", title=f"{identity.username} asks to renew access "
                                                f"to {sub.model_id}",
        body=f"{identity.username}'s access to {sub.model_id} ends (or ended) on "
             f"{sub.expires_at.isoformat(timespec='minutes')}; they ask for a renewal.",
        data={"subscriptionId": str(sub.id), "modelId": sub.model_id,
              "userId": str(sub.user_id)}),
        [a for a in notifications.admin_user_ids() if a != sub.user_id],
        f"renewal:{sub.id}:{sub.renewal_requested_at.isoformat()}")
    db.session.commit()  # the delivery jobs are published after it
    return sub


def renew(subscription_id: uuid.UUID, identity: Identity, expires_at: datetime | None,
          reason: str | None = None) -> Subscription:
    """An approver (not the owner) extends access to ``expires_at`` (None: no end); a lapsed
    subscription becomes active again. One commit."""
    sub = subscriptions._locked(subscription_id)
    subscriptions._refuse_own(sub, identity, "renew")
    if expires_at is not None:
        subscriptions._require_future(expires_at)
    if sub.status == "suspended" and sub.expires_at is not None:
        subscriptions._require_available(subscriptions.model_of(sub))
        subscriptions._change(sub, "active", identity, "SUBSCRIPTION_RENEWED", reason,
                              reviewed=True)
    elif sub.status == "active":
        audit.record("SUBSCRIPTION_RENEWED", "subscription", sub.id, details={
            "modelId": sub.model_id, "from": sub.expires_at.isoformat() if sub.expires_at
            else None, "to": expires_at.isoformat() if expires_at else None})
    else:
        raise Conflict(f"A {sub.status} subscription cannot be renewed", {"status": sub.status},
                       code="INVALID_STATUS_TRANSITION")
    sub.expires_at, sub.renewal_requested_at = expires_at, None
    db.session.commit()
    return sub


def review_query(renewal_requested: bool | None = None):
    """Time-boxed subscriptions (and lapsed ones), soonest end first."""
    stmt = select(Subscription).where(Subscription.expires_at.is_not(None))
    if renewal_requested is not None:
        stmt = stmt.where(Subscription.renewal_requested_at.is_not(None) if renewal_requested
                          else Subscription.renewal_requested_at.is_(None))
    return stmt.order_by(Subscription.expires_at, Subscription.id)
