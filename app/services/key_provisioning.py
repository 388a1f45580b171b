"""API keys in LiteLLM: the state a key must have in LiteLLM, and pushing it there.

LiteMaaS is the source of truth: each function here makes LiteLLM match a key's row (models,
limits, alias, expiry, blocked) and is safe to run twice. Functions without "commit" in their
docstring only add to the caller's unit of work; the job-side functions (``provision``,
``push_key``, ``revoke``, ``enforce_model_access``) commit once per key, under a per-key
advisory lock so two workers never push one key at the same time.

A key value (``app/services/key_secrets.py``) is sent to LiteLLM as ``key``, so a retried
``/key/generate`` names the same key and cannot create a second one. The auth cache entry of a
key that changes is dropped after the commit (``app/auth/api_keys.forget_after_commit``).
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select

from app.auth import api_keys as api_key_cache
from app.errors import AppError
from app.extensions import db
from app.litellm import LiteLLMError, LiteLLMNotFound, litellm_client
from app.litellm.durations import litellm_duration
from app.models import LIVE_KEY_STATES, ApiKey, ApiKeyModel, Model, Subscription, User
from app.services import audit, jobs, key_secrets, litellm_accounts

log = logging.getLogger(__name__)

NO_MODELS = "no-default-models"  # LiteLLM reads an empty model list as "every model"
_LOCK_CLASS = 6006  # first half of the (class, key) advisory lock pair for keys
_ALIAS_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")



class LiteLLMRefused(AppError):
    """LiteLLM refused a key operation for a reason retrying cannot fix."""

    status, code = 502, "LITELLM_ERROR"


# -- the state a key must have in LiteLLM -----------------------------------------------------


def key_alias(name: str, key_hash: str) -> str:
    """LiteLLM aliases are unique across keys: the name, made safe, plus the token's start."""
    slug = _ALIAS_UNSAFE.sub("-", name).strip("-")[:50] or "api-key"
    return f"{slug}_{key_hash[:8]}"


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _duration(expires_at: datetime | None) -> str | None:
    if expires_at is None:
        return None
    return f"{max(1, math.ceil((expires_at - datetime.now(UTC)).total_seconds()))}s"


def desired_state(key: ApiKey, owner: User) -> dict[str, Any]:
    """What LiteLLM must hold for this key. A key without models, or of an inactive owner, is
    blocked: LiteLLM would read an empty model list as access to every model. So is a key the
    idle sweep disabled (until its owner re-enables it)."""
    models = sorted(key.model_ids)
    state = {
        "user_id": str(key.user_id),
        "key_alias": key.key_alias,
        "models": models or [NO_MODELS],
        "max_budget": _money(key.max_budget),
        "soft_budget": _money(key.soft_budget),
        "budget_duration": litellm_duration(key.budget_duration),
        "tpm_limit": key.tpm_limit,
        "rpm_limit": key.rpm_limit,
        "blocked": not models or not owner.is_active or key.disabled_at is not None,
        # The owner's metadata first: our identifiers always win.
        "metadata": {**(key.key_metadata or {}), "litemaas_key_id": str(key.id),
                     "created_by": "litemaas"},
        # LiteLLM keeps these two in the key's metadata; sent every time, so a cleared map
        # clears them (/key/update replaces the metadata).
        "model_rpm_limit": dict(key.model_rpm_limit or {}),
        "model_tpm_limit": dict(key.model_tpm_limit or {}),
    }
    if key.max_parallel_requests is not None:
        state["max_parallel_requests"] = key.max_parallel_requests
    if key.model_max_budget:  # an Enterprise feature of LiteLLM: only sent when set
        state["model_max_budget"] = {
            model: {"budget_limit": float(limit["budget_limit"]),
                    "time_period": litellm_duration(limit["time_period"])}
            for model, limit in key.model_max_budget.items()}
    return state


def _generate_payload(key: ApiKey, owner: User, raw_key: str) -> dict[str, Any]:
    payload = {**desired_state(key, owner), "key": raw_key}
    duration = _duration(key.expires_at)
    if duration:
        payload["duration"] = duration
    return payload


def _update_payload(key: ApiKey, owner: User) -> dict[str, Any]:
    # "-1" clears an expiry in LiteLLM; a set one is re-anchored to now.
    return {**desired_state(key, owner), "key": key.key_hash,
            "duration": _duration(key.expires_at) or "-1"}


def drift(key: ApiKey, owner: User, row: dict[str, Any]) -> list[str]:
    """Fields whose value in LiteLLM (``row`` from /key/list or /key/info) differs from ours."""
    desired = desired_state(key, owner)
    changed = []
    if sorted(row.get("models") or []) != desired["models"]:
        changed.append("models")
    for name in ("max_budget", "tpm_limit", "rpm_limit"):
        if not _same_number(row.get(name), desired[name]):
            changed.append(name)
    if not _same_number(litellm_soft_budget(row), desired["soft_budget"]):
        changed.append("soft_budget")
    # LiteLLM's /key/update cannot clear a budget_duration: only a set one is compared.
    wanted_duration = desired["budget_duration"]
    if wanted_duration is not None and row.get("budget_duration") != wanted_duration:
        changed.append("budget_duration")
    if bool(row.get("blocked")) != desired["blocked"]:
        changed.append("blocked")
    if row.get("user_id") != desired["user_id"]:
        changed.append("user_id")
    if not _same_expiry(row.get("expires"), key.expires_at):
        changed.append("expires")
    return changed


def litellm_soft_budget(row: dict[str, Any]) -> Any:
    """A key's soft budget as LiteLLM keeps it: in the linked budget table
    (``litellm_budget_table``), not on the key row, whose ``soft_budget`` stays null."""
    table = row.get("litellm_budget_table")
    if isinstance(table, dict) and "soft_budget" in table:
        return table["soft_budget"]
    return row.get("soft_budget")


def _same_number(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-6)


def _same_expiry(litellm_expires: str | None, ours: datetime | None, slack: float = 300) -> bool:
    if litellm_expires is None or ours is None:
        return litellm_expires is None and ours is None
    try:
        theirs = datetime.fromisoformat(litellm_expires.replace("Z", "+00:00"))
    except ValueError:
        return False
    if theirs.tzinfo is None:
        theirs = theirs.replace(tzinfo=UTC)
    return abs((theirs - ours).total_seconds()) <= slack


# -- LiteLLM calls (no commit) ----------------------------------------------------------------


def ensure_litellm_user(user: User) -> None:
    """Make sure LiteLLM knows the key's owner (with the owner's budget and limits)."""
    if user.litellm_user_id:
        return
    litellm_accounts.push_user(user)
    user.litellm_user_id = str(user.id)


def litellm_key_row(token: str) -> dict | None:
    """The live key as LiteLLM holds it, or None (absent or deleted)."""
    try:
        answer = litellm_client().key_info(token)
    except LiteLLMNotFound:
        return None
    info = answer.get("info") if isinstance(answer.get("info"), dict) else answer
    if info.get("status") == "deleted" or info.get("deleted_at"):
        return None
    return info


def carried_spend(old_token: str) -> dict[str, Any]:
    """What a new value of a key (rotation) must keep from the value it replaces: the spend of
    the current budget period, which LiteLLM would otherwise start again at 0 (C2). A period
    already over carries nothing (LiteLLM's budget job resets it anyway). The period itself is
    kept because the new value has the same ``budget_duration`` and LiteLLM aligns resets to
    calendar boundaries (next midnight, Monday, 1st of the month); a custom day count restarts
    at rotation, with the spend carried, so a rotation never loosens a budget."""
    row = litellm_key_row(old_token)
    if row is None:
        return {}
    spend = float(row.get("spend") or 0)
    reset_at = _moment(row.get("budget_reset_at"))
    if reset_at is not None and reset_at <= datetime.now(UTC):
        spend = 0.0
    return {"spend": spend} if spend > 0 else {}


def _moment(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(key: ApiKey, owner: User, raw_key: str, replaces: str | None = None) -> str:
    """Create the key in LiteLLM with its value, idempotently; returns "created" or "existed".

    ``replaces`` names the token of the value this one replaces (rotation): its spend is
    carried over. A retry after a timeout names the same key: LiteLLM answers that it exists
    (alias taken) or keeps the first one. Either way /key/info confirms it and an update
    pushes our state.
    """
    ensure_litellm_user(owner)
    payload = _generate_payload(key, owner, raw_key)
    if replaces is not None:
        payload.update(carried_spend(replaces))
    try:
        litellm_client().key_generate(**payload)
        return "created"
    except LiteLLMError as exc:
        if exc.retryable or litellm_key_row(key.key_hash) is None:
            raise
    litellm_client().key_update(**_update_payload(key, owner))
    return "existed"


def delete_token(token: str) -> bool:
    """Delete a key in LiteLLM by token; False when it was already gone."""
    try:
        litellm_client().key_delete([token])
        return True
    except LiteLLMError as exc:
        if exc.retryable or litellm_key_row(token) is not None:
            raise
        return False


@dataclass
class PushOutcome:
    action: str  # updated | recreated | failed | skipped
    fields: list[str] = field(default_factory=list)
    reason: str | None = None


def push(key: ApiKey, owner: User, *, reset_spend: bool = False) -> PushOutcome:
    """Make LiteLLM hold this active key as we do; a key LiteLLM lost is re-created from its
    encrypted copy, or marked failed when no copy exists."""
    extra = {"spend": 0.0} if reset_spend else {}
    try:
        litellm_client().key_update(**_update_payload(key, owner), **extra)
        return PushOutcome("updated")
    except LiteLLMNotFound:
        return recreate_or_fail(key, owner)


def recreate_or_fail(key: ApiKey, owner: User) -> PushOutcome:
    raw = key_secrets.recover_value(key)
    if raw is None:
        reason = ("The key no longer exists in LiteLLM and no encrypted copy is kept to "
                  "re-create it; create a new key")
        mark_failed(key, reason)
        return PushOutcome("failed", reason=reason)
    register(key, owner, raw)
    audit.record("API_KEY_RECREATED", "api_key", key.id, details={"keyPrefix": key.key_prefix})
    return PushOutcome("recreated")


def mark_failed(key: ApiKey, reason: str) -> None:
    api_key_cache.forget_after_commit(key.key_hash)
    key.provisioning_state = "failed"
    key.provisioning_error = reason[:2000]
    audit.record("API_KEY_PROVISIONING_FAILED", "api_key", key.id, success=False,
                 details={"reason": reason[:500], "keyPrefix": key.key_prefix})


# -- job-side actions (commit) ----------------------------------------------------------------


def lock_key(key_id: uuid.UUID) -> ApiKey | None:
    """Serialise work on one key across workers until the transaction ends; the fresh row."""
    db.session.execute(select(func.pg_advisory_xact_lock(_LOCK_CLASS,
                                                         func.hashtext(str(key_id)))))
    db.session.expire_all()
    return db.session.get(ApiKey, key_id)


def provision(key_id: uuid.UUID) -> dict[str, Any]:
    """Complete a pending key in LiteLLM (pending → active, or failed with the reason); commits.

    Transient LiteLLM errors propagate so the job retries; a refusal fails the key and the job.
    """
    key = lock_key(key_id)
    if key is None or key.provisioning_state != "pending":
        db.session.rollback()
        return {"keyId": str(key_id), "skipped": key.provisioning_state if key else "deleted"}
    owner = db.session.get(User, key.user_id)
    raw = key_secrets.recover_value(key)
    if raw is None:
        mark_failed(key, "The key value is no longer available to finish provisioning; "
                         "create a new key")
        db.session.commit()
        return {"keyId": str(key_id), "state": "failed"}
    try:
        outcome = register(key, owner, raw)
    except LiteLLMError as exc:
        if exc.retryable:
            raise
        mark_failed(key, f"LiteLLM refused the key: {exc.message}")
        db.session.commit()
        raise
    activate(key)
    db.session.commit()
    key_secrets.release_value(key.id)
    return {"keyId": str(key_id), "state": "active", "litellm": outcome}


def activate(key: ApiKey) -> None:
    key.provisioning_state = "active"
    key.provisioning_error = None
    key.litellm_key_token = key.key_hash
    audit.record("API_KEY_PROVISIONED", "api_key", key.id, details={"keyPrefix": key.key_prefix})


def push_key(key_id: uuid.UUID, reset_spend: bool = False) -> dict[str, Any]:
    """Push an active key's row to LiteLLM (after an edit; ``reset_spend`` also sets its spend
    counter back to 0); commits."""
    key = lock_key(key_id)
    if key is None or key.provisioning_state != "active":
        db.session.rollback()
        return {"keyId": str(key_id), "skipped": key.provisioning_state if key else "deleted"}
    outcome = push(key, db.session.get(User, key.user_id), reset_spend=reset_spend)
    if outcome.action == "updated":
        audit.record("API_KEY_PUSHED", "api_key", key.id, details={"models": key.model_ids})
    db.session.commit()
    return {"keyId": str(key_id), "litellm": outcome.action, "reason": outcome.reason}


def revoke(key_id: uuid.UUID, token: str | None = None) -> dict[str, Any]:
    """Delete a revoked key (or, with ``token``, a rotated-out value) in LiteLLM; commits."""
    if token is not None:
        deleted = delete_token(token)
        audit.record("API_KEY_OLD_VALUE_DELETED", "api_key", key_id,
                     details={"deletedInLitellm": deleted})
        db.session.commit()
        return {"keyId": str(key_id), "deletedInLitellm": deleted}
    key = lock_key(key_id)
    if key is None or key.provisioning_state != "revoking":
        db.session.rollback()
        return {"keyId": str(key_id), "skipped": key.provisioning_state if key else "deleted"}
    deleted = delete_token(key.key_hash)
    finish_revocation(key, deleted)
    db.session.commit()
    return {"keyId": str(key_id), "state": "revoked", "deletedInLitellm": deleted}


def finish_revocation(key: ApiKey, deleted: bool) -> None:
    key.provisioning_state = "revoked"
    key.revoked_at = key.revoked_at or datetime.now(UTC)
    key_secrets.release_value(key.id)
    audit.record("API_KEY_REVOKED_IN_LITELLM", "api_key", key.id,
                 details={"deletedInLitellm": deleted, "keyPrefix": key.key_prefix})


def lost_access(model_ids: list[str] | None = None, user_id: uuid.UUID | None = None,
                key_id: uuid.UUID | None = None) -> dict[uuid.UUID, list[str]]:
    """(key → models) pairs a live key holds although the model is unavailable or its owner
    has no active subscription to it."""
    subscribed = select(Subscription.id).where(
        Subscription.user_id == ApiKey.user_id, Subscription.model_id == ApiKeyModel.model_id,
        Subscription.status == "active",
    ).exists()
    stmt = (
        select(ApiKeyModel.api_key_id, ApiKeyModel.model_id)
        .join(ApiKey, ApiKey.id == ApiKeyModel.api_key_id)
        .join(Model, Model.id == ApiKeyModel.model_id)
        .where(ApiKey.provisioning_state.in_(LIVE_KEY_STATES))
        .where((Model.availability == "unavailable") | ~subscribed)
        .order_by(ApiKeyModel.api_key_id, ApiKeyModel.model_id)
    )
    if model_ids is not None:
        stmt = stmt.where(ApiKeyModel.model_id.in_(model_ids))
    if user_id is not None:
        stmt = stmt.where(ApiKey.user_id == user_id)
    if key_id is not None:
        stmt = stmt.where(ApiKey.id == key_id)
    pairs: dict[uuid.UUID, list[str]] = {}
    for api_key_id, model_id in db.session.execute(stmt):
        pairs.setdefault(api_key_id, []).append(model_id)
    return pairs


def enforce_model_access(model_ids: list[str] | None = None, user_id: uuid.UUID | None = None,
                         progress=None) -> dict[str, Any]:
    """Remove from keys the models their owner may no longer call, in the DB and in LiteLLM.

    One transaction per key (rows deleted and LiteLLM updated together), so a retry after a
    failure finds the keys not done yet. Commits.
    """
    affected = lost_access(model_ids, user_id)
    db.session.rollback()
    removed = []
    for index, key_id in enumerate(affected):
        key = lock_key(key_id)
        models = lost_access(model_ids, user_id, key_id).get(key_id, [])
        if key is None or not models:
            db.session.rollback()
            continue
        key.models = [m for m in key.models if m.model_id not in models]
        db.session.flush()
        outcome = "db-only"
        if key.provisioning_state == "active":
            outcome = push(key, db.session.get(User, key.user_id)).action
        audit.record("API_KEY_MODELS_REMOVED", "api_key", key.id,
                     details={"models": models, "litellm": outcome})
        db.session.commit()
        removed.append({"keyId": str(key_id), "models": models, "litellm": outcome})
        if progress is not None:
            progress(int(100 * (index + 1) / len(affected)), f"{index + 1}/{len(affected)} keys")
    return {"keys": removed, "modelIds": model_ids, "userId": str(user_id) if user_id else None}


# -- enqueueing (caller commits; jobs publish after) --------------------------------------------


def create_update_job(key_id: uuid.UUID, requested_by: uuid.UUID | None, *,
                      reset_spend: bool = False):
    params: dict[str, Any] = {"keyId": str(key_id)}
    if reset_spend:
        params["resetSpend"] = True
    job, _ = jobs.create("update_key", params, requested_by=requested_by)
    return job


def create_revoke_job(key_id: uuid.UUID, requested_by: uuid.UUID | None,
                      token: str | None = None):
    params = {"keyId": str(key_id)}
    if token is not None:
        params["token"] = token
    flight = f"revoke:{key_id}:{token[:16]}" if token else f"revoke:{key_id}"
    job, _ = jobs.create("revoke_key", params, requested_by=requested_by, flight_key=flight)
    return job


def create_access_job(model_ids: list[str], user_id: uuid.UUID | None,
                      requested_by: uuid.UUID | None):
    params: dict[str, Any] = {"modelIds": sorted(set(model_ids))}
    if user_id is not None:
        params["userId"] = str(user_id)
    job, _ = jobs.create("remove_models_from_keys", params, requested_by=requested_by)
    return job


def owner_key_ids(user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.session.scalars(select(ApiKey.id).where(
        and_(ApiKey.user_id == user_id, ApiKey.provisioning_state == "active"))))


def create_owner_keys_push(user_id: uuid.UUID, requested_by: uuid.UUID | None = None) -> list:
    """Jobs pushing every active key of a user (e.g. after deactivation: keys are blocked), in
    the caller's unit of work."""
    return [create_update_job(key_id, requested_by) for key_id in owner_key_ids(user_id)]
