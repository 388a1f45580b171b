"""API keys: create, list, edit, rotate, reveal and revoke (DESIGN §6, contract §5.5, §9).

Key creation (and rotation) is the one place a request talks to LiteLLM: the user must leave
with a working key. Everything else changes the row and hands the LiteLLM side to a job
(``app.services.key_provisioning``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from flask import current_app
from sqlalchemy import Select, desc, false, func, or_, select

from app.auth import api_keys as api_key_cache
from app.auth.identity import Identity
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unprocessable,
    ValidationError,
)
from app.extensions import db, redis_client, redis_key
from app.litellm import LiteLLMError, key_hash
from app.models import LIVE_KEY_STATES, ApiKey, ApiKeyModel, Job, Model, Subscription, User
from app.services import audit, jobs, key_defaults, key_hygiene, key_secrets
from app.services import key_provisioning as provisioning
from app.services.listing import SortFields, matches

log = logging.getLogger(__name__)

LIMIT_FIELDS = ("max_budget", "budget_duration", "soft_budget", "tpm_limit", "rpm_limit",
                "max_parallel_requests", "expires_at")
PER_MODEL_FIELDS = ("model_max_budget", "model_rpm_limit", "model_tpm_limit")
SORTS = SortFields({
    "createdAt": ApiKey.created_at, "name": ApiKey.name, "updatedAt": ApiKey.updated_at,
}, tiebreak=(desc(ApiKey.id),), nulls_last=False)


@dataclass
class IssuedKey:
    """A key and its raw value, returned once; ``job`` is set when provisioning is pending."""

    key: ApiKey
    value: str
    job: Job | None = None
    old_prefix: str | None = None
    old_value_valid_until: datetime | None = None  # rotation with KEY_ROTATION_GRACE


# -- reads ------------------------------------------------------------------------------------


def list_query(user_id: uuid.UUID | None = None, state: str | None = None,
               model_id: str | None = None, search: str | None = None,
               sort: str = "-createdAt", is_active: bool | None = None,
               user_ids: list[uuid.UUID] | None = None,
               key_id: uuid.UUID | None = None) -> Select:
    stmt = select(ApiKey)
    if key_id is not None:
        stmt = stmt.where(ApiKey.id == key_id)
    if user_id is not None:
        stmt = stmt.where(ApiKey.user_id == user_id)
    if user_ids is not None:
        stmt = stmt.where(ApiKey.user_id.in_(user_ids))
    if state:
        stmt = stmt.where(ApiKey.provisioning_state == state)
    if is_active is not None:
        active = (ApiKey.provisioning_state == "active") & or_(
            ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now())
        stmt = stmt.where(active if is_active else ~active)
    if model_id:
        stmt = stmt.where(ApiKey.id.in_(
            select(ApiKeyModel.api_key_id).where(ApiKeyModel.model_id == model_id)))
    if search:
        stmt = stmt.where(matches(search, ApiKey.name, starts=(ApiKey.key_prefix,)))
    return stmt.order_by(*SORTS.order(sort))


def own_query(identity: Identity, **filters: Any) -> Select:
    """The caller's own keys; an admin API key (no user) owns none, a user's API key only
    itself (its scope, app.auth.permissions.API_KEY_SCOPE). Revoked keys are history: listed
    only when asked for by status (the web UI expects a deleted key to leave its list)."""
    stmt = list_query(identity.user_id, **filters)
    if not filters.get("state"):
        stmt = stmt.where(ApiKey.provisioning_state.notin_(("revoked", "revoking")))
    if identity.credential == "api_key":
        return stmt.where(ApiKey.id == identity.api_key_id)
    return stmt if identity.user_id is not None else stmt.where(false())


def listable_owners(identity: Identity, user_id: uuid.UUID | None,
                    user_ids: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    """Whose keys a list may show: anyone asked for (None: everyone) for admins and readonly
    admins; for anyone else only their own, and asking for another user's is a 403."""
    asked = sorted({*(user_ids or ()), *((user_id,) if user_id else ())}, key=str) or None
    if identity.can_read_all:
        return asked
    own = identity.user_id
    if own is None or any(other != own for other in asked or ()):
        raise Forbidden("You may list only your own API keys",
                        {"requiredPermission": "admin:read"})
    return [own]


def credential_key(identity: Identity) -> uuid.UUID | None:
    """The key a user's API key credential is limited to (itself), else None."""
    return identity.api_key_id if identity.credential == "api_key" else None


KEY_OPTIONS_LIMIT = 1000


def key_options(user_ids: list[uuid.UUID] | None,
                key_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The keys of these users for a filter menu (id, name, LiteLLM alias, owner)."""
    stmt = (select(ApiKey.id, ApiKey.name, ApiKey.key_alias, User.id, User.username, User.email)
            .join(User, User.id == ApiKey.user_id).order_by(User.username, ApiKey.name)
            .limit(KEY_OPTIONS_LIMIT))
    if user_ids is not None:
        stmt = stmt.where(ApiKey.user_id.in_(user_ids))
    if key_id is not None:
        stmt = stmt.where(ApiKey.id == key_id)
    return [{"id": ident, "name": name, "key_alias": alias, "user_id": owner,
             "username": username, "email": email}
            for ident, name, alias, owner, username, email in db.session.execute(stmt)]


def get_visible(key_id: uuid.UUID, identity: Identity) -> ApiKey:
    """A key its owner (or an admin/readonly admin) may see; anyone else gets 404."""
    key = db.session.get(ApiKey, key_id)
    if key is None or (key.user_id != identity.user_id and not identity.can_read_all):
        raise NotFound.resource("api_key", key_id)
    if identity.credential == "api_key" and key.id != identity.api_key_id:
        raise NotFound.resource("api_key", key_id)  # a key sees itself, not its siblings
    return key


def _get_owned(key_id: uuid.UUID, identity: Identity, *, admin_may: bool = False,
               lock: bool = False) -> ApiKey:
    """The caller's key (or any key, for an admin when ``admin_may``); ``lock`` waits for any
    provisioning job working on it, so a change is never overtaken by an older push."""
    key = provisioning.lock_key(key_id) if lock else db.session.get(ApiKey, key_id)
    if key is None or (key.user_id != identity.user_id and not (admin_may and identity.is_admin)):
        raise NotFound.resource("api_key", key_id)
    return key


def model_details(keys: list[ApiKey]) -> dict[str, Model]:
    ids = {model_id for key in keys for model_id in key.model_ids}
    if not ids:
        return {}
    return {m.id: m for m in db.session.scalars(select(Model).where(Model.id.in_(ids)))}


# -- validation -------------------------------------------------------------------------------


def check_models_allowed(owner_id: uuid.UUID, model_ids: list[str]) -> list[str]:
    """The distinct models, if the owner holds an active subscription to each available one.

    Rows are read FOR SHARE so a concurrent cancellation or model removal waits for us and
    then sees (and strips) this key's models.
    """
    wanted = list(dict.fromkeys(model_ids))
    if not wanted:
        raise ValidationError("Request validation failed",
                              {"fields": {"modelIds": ["Choose at least one model."]}})
    models = {m.id: m for m in db.session.scalars(
        select(Model).where(Model.id.in_(wanted)).with_for_update(read=True))}
    subscriptions = {s.model_id: s for s in db.session.scalars(
        select(Subscription).where(Subscription.user_id == owner_id,
                                   Subscription.model_id.in_(wanted))
        .with_for_update(read=True))}
    problems = {}
    for model_id in wanted:
        model, subscription = models.get(model_id), subscriptions.get(model_id)
        if model is None:
            problems[model_id] = "unknown_model"
        elif model.availability != "available":
            problems[model_id] = "model_unavailable"
        elif subscription is None:
            problems[model_id] = "not_subscribed"
        elif subscription.status != "active":
            problems[model_id] = f"subscription_{subscription.status}"
    if problems:
        raise Unprocessable(
            "API keys may only include available models you hold an active subscription to",
            {"modelIds": sorted(problems), "reasons": problems}, code="MODELS_NOT_ALLOWED")
    return wanted


MAX_KEY_LIFETIME = timedelta(days=3650)


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValidationError("Request validation failed",
                              {"fields": {"expiresAt": ["Must be in the future."]}})
    if expires_at is not None and expires_at > datetime.now(UTC) + MAX_KEY_LIFETIME:
        raise ValidationError("Request validation failed",
                              {"fields": {"expiresAt": ["Must be within 10 years."]}})


def _owner(identity: Identity) -> User:
    if identity.user_id is None:
        raise Forbidden("An admin API key has no user to own API keys; sign in as a user")
    return db.session.get(User, identity.user_id)


def _check_key_quota(owner_id: uuid.UUID) -> None:
    """Refuse a key beyond ``MAX_API_KEYS_PER_USER``. The owner's row stays locked until the
    new key is committed, so concurrent creations count one after the other (no race past it)."""
    limit = current_app.config["MAX_API_KEYS_PER_USER"]
    if not limit:
        return
    db.session.execute(select(User.id).where(User.id == owner_id)
                       .with_for_update(key_share=True))
    live = db.session.scalar(select(func.count()).select_from(ApiKey).where(
        ApiKey.user_id == owner_id, ApiKey.provisioning_state.in_(LIVE_KEY_STATES)))
    if live >= limit:
        raise Conflict(f"You already have {live} API keys; revoke one first",
                       {"limit": limit}, code="API_KEY_LIMIT_REACHED")


# -- create -----------------------------------------------------------------------------------


def create(identity: Identity, data: dict[str, Any],
           owner_id: uuid.UUID | None = None) -> IssuedKey:
    """Create a key (the caller's, or with ``owner_id`` a key an admin makes for that user)
    and provision it in LiteLLM now; when LiteLLM is unreachable the key is kept ``pending``
    and a job finishes it (``IssuedKey.job``). Defaults and maximums apply to both.

    Two commits on purpose: the pending row is committed before LiteLLM is called, so a crash
    in between leaves a row reconciliation can finish, never an unknown key in LiteLLM.
    """
    owner = _owner(identity) if owner_id is None else _owner_for_admin(owner_id)
    data = key_defaults.with_defaults(data)
    _check_expiry(data.get("expires_at"))
    _check_limits(data, expiry_given=True)
    _check_key_quota(owner.id)
    model_ids = check_models_allowed(owner.id, data["model_ids"])
    raw = key_secrets.new_key_value()
    key = ApiKey(id=uuid.uuid4(), user_id=owner.id, name=data["name"],
                 key_prefix=key_secrets.display_prefix(raw),
                 key_hash=key_hash(raw),
                 encrypted_key=key_secrets.encrypt_for_storage(raw),
                 provisioning_state="pending",
                 key_metadata=_metadata(data.get("metadata")),
                 **{name: data.get(name) for name in LIMIT_FIELDS},
                 **{name: _per_model(data.get(name)) for name in PER_MODEL_FIELDS})
    key.key_alias = provisioning.key_alias(key.name, key.key_hash)
    key.models = [ApiKeyModel(model_id=model_id) for model_id in model_ids]
    db.session.add(key)
    details = {"name": key.name, "models": model_ids, "keyPrefix": key.key_prefix}
    if owner.id != identity.user_id:
        details.update(byAdmin=True, ownerId=str(owner.id))
    audit.record("API_KEY_CREATED", "api_key", key.id, details=details)
    db.session.commit()
    return _provision_now(key, owner, raw, identity)


def _owner_for_admin(owner_id: uuid.UUID) -> User:
    owner = db.session.get(User, owner_id)
    if owner is None:
        raise NotFound.resource("user", owner_id)
    if not owner.is_active:
        raise Conflict("This user is deactivated; activate them before giving them a key",
                       {"userId": str(owner_id)}, code="USER_INACTIVE")
    return owner


def _provision_now(key: ApiKey, owner: User, raw: str, identity: Identity) -> IssuedKey:
    try:
        provisioning.register(key, owner, raw)
    except LiteLLMError as exc:
        db.session.rollback()
        if not exc.retryable:
            _discard(key, exc)
        return IssuedKey(key, raw, _defer(key, raw, identity, exc))
    provisioning.activate(key)
    db.session.commit()
    return IssuedKey(key, raw)


def _defer(key: ApiKey, raw: str, identity: Identity, exc: LiteLLMError) -> Job:
    """LiteLLM is down or slow: keep the value (encrypted) and let a job finish the key."""
    try:
        if not key_secrets.reveal_enabled():
            key_secrets.hold_value(key.id, raw)
    except Exception:
        log.warning("api key %s: could not hold its value for the provisioning job", key.id)
        _discard(key, exc, unavailable=True)
    job, _ = jobs.create("provision_key", {"keyId": str(key.id)},
                         requested_by=identity.user_id, flight_key=f"key:{key.id}")
    key.provisioning_error = f"waiting for LiteLLM: {exc.message}"[:2000]
    audit.record("API_KEY_PROVISIONING_DEFERRED", "api_key", key.id,
                 details={"reason": exc.message[:300], "jobId": str(job.id)})
    db.session.commit()  # the job is published after this commit
    return job


def _discard(key: ApiKey, exc: LiteLLMError, unavailable: bool = False):
    """LiteLLM refused the key: nothing usable exists, so the row goes and the caller hears why."""
    key_id = key.id
    db.session.delete(key)
    audit.record("API_KEY_CREATE_FAILED", "api_key", key_id, success=False,
                 details={"reason": exc.message[:500]})
    db.session.commit()
    if unavailable:
        raise ServiceUnavailable("LiteLLM is unavailable; try again shortly",
                                 headers={"Retry-After": "10"})
    raise provisioning.LiteLLMRefused(f"LiteLLM refused the key: {exc.message}",
                                      {"status": exc.status})


# -- edit -------------------------------------------------------------------------------------


def update(key_id: uuid.UUID, identity: Identity, data: dict[str, Any]) -> tuple[ApiKey,
                                                                                 Job | None]:
    """Change name, models or limits; a job pushes the change to LiteLLM. One commit."""
    key = _get_owned(key_id, identity, admin_may=True, lock=True)
    if key.provisioning_state not in ("pending", "active"):
        raise Conflict(f"A {key.provisioning_state} key cannot be changed",
                       {"state": key.provisioning_state})
    if "expires_at" in data:
        _check_expiry(data["expires_at"])
    _check_limits(_after_change(key, data), expiry_given="expires_at" in data)
    changes = _apply_changes(key, data)
    if not changes:
        db.session.commit()  # nothing of the key's; keeps what the caller's unit of work holds
        return key, None
    job = None
    if key.provisioning_state == "active":  # a pending key is provisioned from the row anyway
        job = provisioning.create_update_job(key.id, identity.user_id)
    audit.record("API_KEY_UPDATED", "api_key", key.id, details={"changed": sorted(changes)})
    db.session.commit()  # the job (if any) is published after this commit
    return key, job


def _apply_changes(key: ApiKey, data: dict[str, Any]) -> set[str]:
    changes = set()
    if "model_ids" in data:
        model_ids = check_models_allowed(key.user_id, data["model_ids"])
        if sorted(model_ids) != sorted(key.model_ids):
            keep = [m for m in key.models if m.model_id in model_ids]
            held = {m.model_id for m in keep}
            key.models = keep + [ApiKeyModel(model_id=m) for m in model_ids if m not in held]
            changes.add("models")
    if "name" in data and data["name"] != key.name:
        key.name = data["name"]
        key.key_alias = provisioning.key_alias(key.name, key.key_hash)
        changes.add("name")
    for name in LIMIT_FIELDS:
        if name in data and _differs(getattr(key, name), data[name]):
            setattr(key, name, data[name])
            changes.add(name)
    for name in PER_MODEL_FIELDS:  # absent: kept; null or {}: cleared
        wanted = _per_model(data[name]) if name in data else getattr(key, name)
        wanted = _only_models(wanted, key.model_ids)  # a model leaving the key takes its limit
        if wanted != getattr(key, name):
            setattr(key, name, wanted)
            changes.add(name)
    if "metadata" in data and _metadata(data["metadata"]) != (key.key_metadata or {}):
        key.key_metadata = _metadata(data["metadata"])
        changes.add("metadata")
    return changes


def _after_change(key: ApiKey, data: dict[str, Any]) -> dict[str, Any]:
    """The key's limits as they would be after ``data`` (for the maximum checks)."""
    values = {name: getattr(key, name) for name in (*LIMIT_FIELDS, *PER_MODEL_FIELDS)}
    values["model_ids"] = key.model_ids
    values.update({name: data[name] for name in data
                   if name in values and name not in PER_MODEL_FIELDS})
    for name in PER_MODEL_FIELDS:
        values[name] = (_per_model(data[name]) if name in data
                        else _only_models(values[name], values["model_ids"]))
    return values


def _check_limits(values: dict[str, Any], *, expiry_given: bool) -> None:
    """Maximums and per-model limits; per-model budgets only on an Enterprise LiteLLM."""
    if values.get("model_max_budget") and not current_app.config["LITELLM_ENTERPRISE"]:
        raise Unprocessable("Per-model budgets need a LiteLLM Enterprise licence, which this "
                            "deployment does not declare (LITELLM_ENTERPRISE)",
                            {"field": "modelMaxBudget"}, code="ENTERPRISE_FEATURE")
    key_defaults.check_maximums(values, expiry_given=expiry_given)


def _per_model(limits: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per-model limits as stored (JSON numbers; budgets as {budget_limit, time_period});
    an empty map is no limit."""
    if not limits:
        return None
    return {model: ({"budget_limit": float(limit["budget_limit"]),
                     "time_period": limit["time_period"]} if isinstance(limit, dict) else limit)
            for model, limit in sorted(limits.items())}


def _only_models(limits: dict[str, Any] | None, model_ids: list[str]) -> dict[str, Any] | None:
    if not limits:
        return None
    kept = {model: limit for model, limit in limits.items() if model in model_ids}
    return kept or None


def _metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    return {name: value for name, value in (metadata or {}).items() if value is not None}


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, Decimal) and new is not None:
        return current != Decimal(str(new))
    return current != new


# -- rotate, reveal, revoke -------------------------------------------------------------------


def rotate(key_id: uuid.UUID, identity: Identity) -> IssuedKey:
    """Give the key a new value (same id and settings) and delete the old one in LiteLLM.

    The new value is created in LiteLLM first; only then does the row switch to it, so a
    failure leaves the old key working. The old value's deletion is a job.
    """
    jobs.check_queue_room()  # before LiteLLM makes the new value: each rotation leaves a job
    key = _get_owned(key_id, identity, lock=True)
    if key.provisioning_state != "active":
        raise Conflict(f"Only an active key can be rotated; this one is "
                       f"{key.provisioning_state}", {"state": key.provisioning_state})
    owner = db.session.get(User, key.user_id)
    old_hash, old_prefix = key.key_hash, key.key_prefix
    raw = key_secrets.new_key_value()
    key.key_hash = key_hash(raw)
    key.key_prefix = key_secrets.display_prefix(raw)
    key.key_alias = provisioning.key_alias(key.name, key.key_hash)
    key.encrypted_key = key_secrets.encrypt_for_storage(raw)
    try:
        provisioning.register(key, owner, raw, replaces=old_hash)  # keeps the spend (C2)
    except LiteLLMError as exc:
        db.session.rollback()
        if exc.retryable:
            raise ServiceUnavailable("LiteLLM is unavailable; the key was not rotated",
                                     headers={"Retry-After": "10"}) from None
        raise provisioning.LiteLLMRefused(f"LiteLLM refused the new key value: {exc.message}",
                                          {"status": exc.status}) from None
    key.litellm_key_token = key.key_hash
    # KEY_ROTATION_GRACE > 0: LiteLLM keeps honouring the old value until the key hygiene
    # sweep revokes it; otherwise it is deleted at once.
    grace_until = key_hygiene.keep_old_value(key, old_hash, old_prefix)
    job = None if grace_until else provisioning.create_revoke_job(key.id, identity.user_id,
                                                                  token=old_hash)
    audit.record("API_KEY_ROTATED", "api_key", key.id,
                 details={"oldPrefix": old_prefix, "keyPrefix": key.key_prefix,
                          "oldValueValidUntil": grace_until.isoformat() if grace_until
                          else None})
    api_key_cache.forget_after_commit(old_hash)
    db.session.commit()  # the job (if any) is published after this commit
    return IssuedKey(key, raw, job, old_prefix, grace_until)


def reveal(key_id: uuid.UUID, identity: Identity) -> tuple[ApiKey, str]:
    """The full value of one's own key, when ENCRYPTION_KEY keeps a copy. Audited and
    limited per user (KEY_REVEAL_LIMIT_PER_HOUR)."""
    if not key_secrets.reveal_enabled():
        raise NotFound("Revealing API keys is not enabled on this server (no ENCRYPTION_KEY)",
                       code="REVEAL_DISABLED")
    if identity.kind != "jwt":
        raise Forbidden("Revealing a key needs a signed-in user, not an API key")
    key = _get_owned(key_id, identity)
    _count_reveal(identity.user_id)
    value = key_secrets.decrypt_stored(key) if key.provisioning_state in ("pending",
                                                                           "active") else None
    if value is None:
        audit.record_now("API_KEY_REVEAL_REFUSED", "api_key", key.id, success=False,
                         details={"state": key.provisioning_state})
        raise Conflict("This key's value cannot be revealed (revoked, or created without an "
                       "encrypted copy); rotate it to get a new value",
                       {"state": key.provisioning_state}, code="KEY_NOT_REVEALABLE")
    audit.record_now("API_KEY_REVEALED", "api_key", key.id,
                     details={"keyPrefix": key.key_prefix})
    return key, value


def _count_reveal(user_id: uuid.UUID) -> None:
    limit = current_app.config["KEY_REVEAL_LIMIT_PER_HOUR"]
    name = redis_key("key-reveals", str(user_id))
    client = redis_client()
    try:
        count = client.incr(name)
        if count == 1:
            client.expire(name, 3600)
    except redis.RedisError:  # the limit cannot be enforced: refuse rather than fail open
        raise ServiceUnavailable("Key reveal is unavailable right now; try again shortly",
                                 headers={"Retry-After": "10"}) from None
    if count > limit:
        retry_after = max(1, client.ttl(name))
        audit.record_now("API_KEY_REVEAL_RATE_LIMITED", "user", user_id, success=False,
                         details={"limit": limit})
        raise RateLimited(f"At most {limit} key reveals per hour",
                          {"limit": limit, "window": "1h", "retryAfter": retry_after},
                          headers={"Retry-After": str(retry_after)})


def reset_spend(key_id: uuid.UUID, identity: Identity,
                as_admin: bool = False) -> tuple[ApiKey, Job]:
    """Set one's active key's spend (an admin: anyone's) back to 0 here and, by the returned
    job, in LiteLLM (which enforces the key's budget against it). One commit."""
    key = _get_owned(key_id, identity, admin_may=as_admin, lock=True)
    if key.provisioning_state != "active":
        raise Conflict(f"Only an active key's spend can be reset; this one is "
                       f"{key.provisioning_state}", {"state": key.provisioning_state})
    previous = key.spend
    key.spend = Decimal(0)
    job = provisioning.create_update_job(key.id, identity.user_id, reset_spend=True)
    audit.record("API_KEY_SPEND_RESET", "api_key", key.id,
                 details={"previousSpend": str(previous), "keyPrefix": key.key_prefix})
    db.session.commit()  # the job is published after this commit
    return key, job


def revoke(key_id: uuid.UUID, identity: Identity, *, as_admin: bool = False,
           reason: str | None = None) -> Job:
    """Refuse the key at once here, and delete it in LiteLLM by a job. One commit."""
    key = _get_owned(key_id, identity, admin_may=True, lock=True)
    if key.provisioning_state == "revoked":
        raise Conflict("This key is already revoked", {"state": "revoked"})
    key.provisioning_state = "revoking"
    key.revoked_at = key.revoked_at or datetime.now(UTC)
    job = provisioning.create_revoke_job(key.id, identity.user_id)
    key_hygiene.end_grace_now(key.id, identity.user_id)  # a rotated-out value goes too
    audit.record("API_KEY_REVOKED", "api_key", key.id,
                 details={"byAdmin": as_admin or key.user_id != identity.user_id,
                          "reason": reason, "keyPrefix": key.key_prefix})
    api_key_cache.forget_after_commit(key.key_hash)
    db.session.commit()  # a new job is published after this commit
    return job
