"""Key hygiene (issue 19), swept on beat: expiry reminders, idle keys blocked in LiteLLM until
their owner re-enables them, and rotated-out values revoked once their grace period ends.

Every reminder and notice is written once (its dedupe key), so reruns and two beats are
harmless; blocking and revoking are the existing ``update_key`` / ``revoke_key`` jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, text

from app.auth import api_keys as api_key_cache
from app.errors import Conflict
from app.extensions import db
from app.models import ApiKey, ApiKeyGraceValue, User
from app.services import audit, notifications
from app.services import key_provisioning as provisioning

log = logging.getLogger(__name__)

SWEEP_KIND = "key_hygiene_sweep"  # app/services/job_kinds.py
IDLE = "idle"


def sweep(now: datetime, progress: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Remind, disable idle keys, end grace periods; one commit, then jobs are published."""
    made: list = []
    reminded = _expiry_reminders(now, made)
    if progress:
        progress(30, f"{reminded} expiry reminders")
    disabled = _disable_idle(now, made)
    if progress:
        progress(60, f"{disabled} idle keys disabled")
    ended = _end_grace(now, made)
    db.session.commit()  # the jobs are published after it
    return {"expiryReminders": reminded, "keysDisabled": disabled, "graceEnded": ended,
            "idleDisableDays": current_app.config["KEY_IDLE_DISABLE_DAYS"],
            "jobs": len(made)}


def _expiry_reminders(now: datetime, made: list) -> int:
    windows = sorted({int(d) for d in current_app.config["KEY_EXPIRY_REMINDER_DAYS"] if int(d) > 0})
    if not windows:
        return 0
    keys = db.session.execute(select(ApiKey.id, ApiKey.user_id, ApiKey.name, ApiKey.key_prefix,
                                     ApiKey.expires_at).where(
        ApiKey.provisioning_state == "active", ApiKey.revoked_at.is_(None),
        ApiKey.expires_at > now, ApiKey.expires_at <= now + timedelta(days=max(windows)))).all()
    sent = 0
    for key in keys:
        # The narrowest window the key is in: a key first seen a day before expiry gets only
        # the 1-day reminder, not both.
        days = next(d for d in windows if key.expires_at <= now + timedelta(days=d))
        notice = notifications.Notice(
            event="key.expiring", severity="warning",
            title=f"API key {key.name} expires within {days} day{'s' if days > 1 else ''}",
            body=f"Your API key {key.name} ({key.key_prefix}…) expires on "
                 f"{key.expires_at.isoformat(timespec='minutes')}. Create a new key or extend "
                 "it before then.",
            data={"keyId": str(key.id), "keyName": key.name, "days": days,
                  "expiresAt": key.expires_at.isoformat()})
        dedupe = f"key-expiry:{key.id}:{key.expires_at.date().isoformat()}:{days}"
        written = notifications.notify(notice, [key.user_id], dedupe)
        made += written
        sent += 1 if written.notices else 0
    return sent


def _disable_idle(now: datetime, made: list) -> int:
    days = current_app.config["KEY_IDLE_DISABLE_DAYS"]
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    rows = db.session.execute(text("""
        UPDATE api_keys k SET disabled_at = :now, disabled_reason = 'idle', updated_at = now()
        WHERE k.provisioning_state = 'active' AND k.revoked_at IS NULL
          AND k.disabled_at IS NULL
          AND GREATEST(k.created_at, COALESCE(k.last_used_at, k.created_at), COALESCE((
                SELECT max(u.day) FROM usage_daily u WHERE u.api_key_id = k.id
              ) + 1, k.created_at)) < :cutoff
        RETURNING k.id, k.user_id, k.name, k.key_prefix, k.key_hash
    """), {"now": now, "cutoff": cutoff}).all()
    for key in rows:
        made.append(provisioning.create_update_job(key.id, None))
        api_key_cache.forget_after_commit(key.key_hash)
        audit.record("API_KEY_DISABLED_IDLE", "api_key", key.id,
                     details={"idleDays": days, "keyPrefix": key.key_prefix})
        made += notifications.notify(notifications.Notice(
            event="key.disabled", severity="warning",
            title=f"API key {key.name} was disabled after {days} days without use",
            body=f"Your API key {key.name} ({key.key_prefix}…) was not used for {days} days "
                 "and has been blocked. Re-enable it from your API keys if you still need it.",
            data={"keyId": str(key.id), "keyName": key.name, "idleDays": days}),
            [key.user_id], f"key-disabled:{key.id}:{now.date().isoformat()}")
    return len(rows)


def _end_grace(now: datetime, made: list) -> int:
    # Due, or no longer deserved: the key was revoked or failed, or its owner deactivated.
    undeserved = select(ApiKey.id).join(User, User.id == ApiKey.user_id).where(or_(
        ApiKey.provisioning_state != "active", User.is_active.is_(False)))
    due = db.session.scalars(select(ApiKeyGraceValue).where(
        ApiKeyGraceValue.revoke_job_id.is_(None),
        or_(ApiKeyGraceValue.revoke_after <= now,
            ApiKeyGraceValue.api_key_id.in_(undeserved)))
        .with_for_update(skip_locked=True)).all()
    for value in due:
        job = provisioning.create_revoke_job(value.api_key_id, None, token=value.key_hash)
        value.revoke_job_id = job.id
        made.append(job)
        audit.record("API_KEY_GRACE_ENDED", "api_key", value.api_key_id,
                     details={"oldPrefix": value.key_prefix})
        owner = db.session.scalar(select(ApiKey.user_id).where(ApiKey.id == value.api_key_id))
        if owner is not None:
            made += notifications.notify(notifications.Notice(
                event="key.grace_ended", title="A rotated key's old value stopped working",
                body=f"The old value {value.key_prefix}… of a rotated key is now revoked.",
                data={"keyId": str(value.api_key_id), "oldPrefix": value.key_prefix}),
                [owner], f"key-grace:{value.id}")
    return len(due)


# -- rotation with a grace period (called by api_keys.rotate, in its unit of work) ----------


def keep_old_value(key: ApiKey, old_hash: str, old_prefix: str) -> datetime | None:
    """With KEY_ROTATION_GRACE > 0, keep the old value working until the grace ends (the sweep
    then revokes it); returns when, or None when there is no grace (revoke now)."""
    grace = current_app.config["KEY_ROTATION_GRACE"]
    if grace <= 0:
        return None
    until = datetime.now(UTC) + timedelta(seconds=grace)
    db.session.add(ApiKeyGraceValue(api_key_id=key.id, key_hash=old_hash,
                                    key_prefix=old_prefix, revoke_after=until))
    return until


def end_grace_now(key_id: uuid.UUID, requested_by: uuid.UUID | None) -> int:
    """Revoke a key's old values at once (the key itself is being revoked), in the caller's
    unit of work; the revoke jobs publish with its commit."""
    values = db.session.scalars(select(ApiKeyGraceValue).where(
        ApiKeyGraceValue.api_key_id == key_id, ApiKeyGraceValue.revoke_job_id.is_(None))
        .with_for_update()).all()
    for value in values:
        value.revoke_job_id = provisioning.create_revoke_job(key_id, requested_by,
                                                             token=value.key_hash).id
        value.revoke_after = datetime.now(UTC)
    return len(values)


def in_grace_hashes() -> set[str]:
    """Old values still honoured (reconciliation must not delete them as orphans)."""
    return set(db.session.scalars(select(ApiKeyGraceValue.key_hash).where(
        ApiKeyGraceValue.revoke_job_id.is_(None))))


# -- re-enabling (the owner) -----------------------------------------------------------------


def enable(key: ApiKey, actor_id: uuid.UUID | None):
    """Unblock an idle-disabled key (the caller owns it and holds its row lock); the returned
    job pushes the change to LiteLLM. One commit."""
    if key.disabled_at is None:
        raise Conflict("This key is not disabled", {"state": key.provisioning_state},
                       code="KEY_NOT_DISABLED")
    if key.provisioning_state != "active":
        raise Conflict(f"Only an active key can be re-enabled; this one is "
                       f"{key.provisioning_state}", {"state": key.provisioning_state})
    reason = key.disabled_reason
    key.disabled_at, key.disabled_reason = None, None
    key.last_used_at = datetime.now(UTC)  # re-enabling is a use: the next sweep keeps it on
    job = provisioning.create_update_job(key.id, actor_id)
    audit.record("API_KEY_ENABLED", "api_key", key.id,
                 details={"keyPrefix": key.key_prefix, "disabledReason": reason})
    api_key_cache.forget_after_commit(key.key_hash)
    db.session.commit()  # the job is published after it
    return job


def disabled_count() -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(ApiKey).where(
        ApiKey.disabled_at.is_not(None)))

