"""The model catalogue as users and admins read it: list, detail, admin edits, sync statistics,
integrity report and health. Everything is answered from PostgreSQL (filters, sort and paging
in SQL); only the health view asks LiteLLM whether it is reachable, cached briefly in Redis.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, Text, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY

from app.auth.identity import Identity
from app.errors import NotFound
from app.extensions import db, redis_client, redis_key
from app.litellm import litellm_client
from app.models import LIVE_KEY_STATES, ApiKey, ApiKeyModel, Model, Subscription, SyncRun
from app.services import audit, subscriptions
from app.services.listing import SortFields, matches, paginate_in_one_query

log = logging.getLogger(__name__)

SORTS = SortFields({
    "name": Model.id,
    "provider": Model.provider,
    "contextLength": Model.context_length,
    "inputCost": Model.input_cost_per_token,
    "outputCost": Model.output_cost_per_token,
    "createdAt": Model.created_at,
    "updatedAt": Model.updated_at,
}, tiebreak=(Model.id,))
LISTED_SUBSCRIPTION_STATUSES = ("active", "pending", "suspended")
REPORT_LIST_LIMIT = 200
PROBE_TTL_SECONDS = 15
# A sync older than this many intervals is stale (degraded); older than the second, unhealthy.
STALE_AFTER_INTERVALS = 2
UNHEALTHY_AFTER_INTERVALS = 3


# -- catalogue ------------------------------------------------------------------------------------


def list_query(filters: dict[str, Any]) -> Select:
    """The catalogue SELECT for ``GET /models`` (filters and sort; the pager pages it)."""
    stmt = select(Model)
    availability = filters.get("availability")
    if availability is None and "is_active" in filters:
        availability = "available" if filters["is_active"] else "unavailable"
    availability = availability or "available"
    if availability != "all":
        stmt = stmt.where(Model.availability == availability)
    if filters.get("search"):
        stmt = stmt.where(matches(filters["search"], Model.id, Model.description,
                                  Model.provider))
    if filters.get("provider"):
        stmt = stmt.where(Model.provider == filters["provider"].strip().lower())
    wanted = sorted({*filters.get("capability", []), *filters.get("feature", [])})
    if wanted:
        # features @> ARRAY[...]: served by the GIN index on models.features
        stmt = stmt.where(type_coerce(Model.features, PG_ARRAY(Text)).contains(wanted))
    if "restricted" in filters:
        stmt = stmt.where(Model.restricted.is_(filters["restricted"]))
    return stmt.order_by(*SORTS.order(filters.get("sort") or "provider"))


def list_page(filters: dict[str, Any], with_api_base: bool = False) -> dict[str, Any]:
    """A page of the catalogue (``view`` items in the list envelope) in one round trip: the
    rows, their total and the last successful sync."""
    found = paginate_in_one_query(list_query(filters), filters["page"], filters["limit"],
                                  _last_success_stmt().scalar_subquery())
    found["data"] = [view(model, last_success, with_api_base)
                     for model, last_success in found["data"]]
    return found


def get(model_id: str) -> Model:
    model = db.session.get(Model, model_id)
    if model is None:
        raise NotFound.resource("model", model_id)
    return model


def _last_success_stmt() -> Select:
    return select(func.max(SyncRun.finished_at)).where(SyncRun.success.is_(True))


def last_success_at() -> datetime | None:
    return db.session.scalar(_last_success_stmt())


def last_seen(model: Model, last_success: datetime | None) -> datetime:
    """An available model was listed by every successful sync since it was written."""
    if model.availability == "available" and last_success and last_success > model.last_seen_at:
        return last_success
    return model.last_seen_at


def view(model: Model, last_success: datetime | None,
         with_api_base: bool = False) -> dict[str, Any]:
    """A model as the API shows it (snake_case; the schema camel-cases)."""
    info = model.litellm_info or {}
    model_info = info.get("model_info") or {}
    params = info.get("litellm_params") or {}
    features = list(model.features or [])
    inputs, outputs = model.input_cost_per_token, model.output_cost_per_token
    pricing = None
    if inputs is not None or outputs is not None:
        pricing = {"input": inputs, "output": outputs, "unit": "per_token"}
    return {
        "id": model.id, "name": model.id, "provider": model.provider,
        "description": model.description or "", "mode": model.mode,
        "capabilities": features, "features": features,
        "context_length": model.context_length, "max_output_tokens": model.max_output_tokens,
        "max_tokens": _int_or_none(model_info.get("max_tokens")),
        "input_cost_per_token": inputs, "output_cost_per_token": outputs, "pricing": pricing,
        "supports_vision": model.supports_vision,
        "supports_function_calling": model.supports_function_calling,
        "supports_parallel_function_calling": model.supports_parallel_function_calling,
        "supports_tool_choice": model.supports_tool_choice,
        "supports_response_schema": model.supports_response_schema,
        "supports_reasoning": model.supports_reasoning,
        "supports_chat": "chat" in features, "supports_embeddings": "embeddings" in features,
        "backend_model_name": model.backend_model, "litellm_model_id": model.litellm_model_id,
        "api_base": params.get("api_base") if with_api_base else None,
        "tpm": _int_or_none(params.get("tpm", model_info.get("tpm"))),
        "rpm": _int_or_none(params.get("rpm", model_info.get("rpm"))),
        "restricted": model.restricted, "restricted_access": model.restricted,
        "availability": model.availability, "is_active": model.availability == "available",
        "first_seen_at": model.first_seen_at, "last_seen_at": last_seen(model, last_success),
        "unavailable_since": model.unavailable_since,
        "created_at": model.created_at, "updated_at": model.updated_at,
    }


def detail_view(model: Model, with_api_base: bool = False) -> dict[str, Any]:
    item = view(model, last_success_at(), with_api_base)
    item["metadata"] = {name: item[name] for name in (
        "litellm_model_id", "backend_model_name", "max_tokens", "input_cost_per_token",
        "output_cost_per_token", "tpm", "rpm")}
    return item


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def update(model_id: str, changes: dict[str, Any], identity: Identity) -> Model:
    return update_with_job(model_id, changes, identity)[0]


def update_with_job(model_id: str, changes: dict[str, Any],
                    identity: Identity) -> tuple[Model, Any]:
    """Admin edit of the fields a sync never overwrites: description and restricted. A flip
    of ``restricted`` moves the model's subscriptions (``subscriptions.restriction_changed``)."""
    model = get(model_id)
    if "restricted_access" in changes:
        changes = {**changes, "restricted": changes["restricted_access"]}
    diff = {}
    for name in ("description", "restricted"):
        if name in changes and getattr(model, name) != changes[name]:
            diff[name] = {"from": getattr(model, name), "to": changes[name]}
            setattr(model, name, changes[name])
    if diff:
        audit.record("MODEL_UPDATED", "model", model.id, details={"changes": diff})
    job = None
    if "restricted" in diff:
        job = subscriptions.restriction_changed(model, identity)
    db.session.commit()  # the job (if any) is published after this commit
    return model, job


# -- sync statistics, integrity, health --------------------------------------------------------


def _model_totals() -> dict[str, int]:
    row = db.session.execute(select(
        func.count(),
        func.count().filter(Model.availability == "available"),
        func.count().filter(Model.availability == "unavailable"),
        func.count().filter(Model.restricted.is_(True)),
    )).one()
    return dict(zip(("models", "available", "unavailable", "restricted"), row, strict=True))


def _latest_runs(limit: int, *, success: bool | None = None) -> list[SyncRun]:
    stmt = select(SyncRun).where(SyncRun.finished_at.is_not(None))  # every run sets it
    if success is not None:
        stmt = stmt.where(SyncRun.success.is_(success))
    order = (SyncRun.finished_at.desc(), SyncRun.id.desc())  # the finished_at index, backwards
    return list(db.session.scalars(stmt.order_by(*order).limit(limit)))


def sync_stats(history: int) -> dict[str, Any]:
    """Totals, last run, last success and the most recent runs."""
    totals = _model_totals()
    runs = db.session.execute(select(
        func.count(), func.count().filter(SyncRun.success.is_(True)),
        func.count().filter(SyncRun.success.is_(False)), func.count().filter(SyncRun.noop),
    )).one()
    recent = _latest_runs(max(history, 1))
    last_success = _latest_runs(1, success=True)
    return {
        "total_models": totals["models"], "available_models": totals["available"],
        "unavailable_models": totals["unavailable"],
        "last_sync_at": last_success[0].finished_at if last_success else None,
        "sync_interval_seconds": current_app.config["MODEL_SYNC_INTERVAL"],
        "models": totals,
        "runs": dict(zip(("total", "succeeded", "failed", "noop"), runs, strict=True)),
        "last_run": recent[0] if recent else None,
        "last_success": last_success[0] if last_success else None,
        "history": recent[:history],
    }


def _stale_sync(now: datetime) -> dict[str, Any]:
    interval = current_app.config["MODEL_SYNC_INTERVAL"]
    last = last_success_at()
    age = int((now - last).total_seconds()) if last else None
    threshold = interval * STALE_AFTER_INTERVALS if interval > 0 else None
    stale = last is None or (threshold is not None and age > threshold)
    return {"stale": stale, "last_success_at": last, "age_seconds": age,
            "threshold_seconds": threshold}


def validate_report() -> dict[str, Any]:
    """Integrity problems an admin should act on: subscriptions and live keys on unavailable
    models (keys wait for the clean-up job), available models without pricing, stale sync."""
    now = datetime.now(UTC)
    in_use = _unavailable_in_use()
    affected_stmt = (
        select(ApiKeyModel.api_key_id).distinct().join(ApiKey)
        .join(Model, Model.id == ApiKeyModel.model_id)
        .where(Model.availability == "unavailable",
               ApiKey.provisioning_state.in_(LIVE_KEY_STATES)))
    affected_count = db.session.scalar(
        select(func.count()).select_from(affected_stmt.subquery()))
    affected = [str(key_id) for key_id in db.session.scalars(
        affected_stmt.order_by(ApiKeyModel.api_key_id).limit(REPORT_LIST_LIMIT))]
    orphaned = db.session.scalar(
        select(func.count()).select_from(Subscription)
        .join(Model, Model.id == Subscription.model_id)
        .where(Model.availability == "unavailable",
               Subscription.status.in_(LISTED_SUBSCRIPTION_STATUSES)))
    unpriced_stmt = select(Model.id).where(
        Model.availability == "available",
        or_(Model.input_cost_per_token.is_(None), Model.output_cost_per_token.is_(None)))
    unpriced_count = db.session.scalar(select(func.count()).select_from(unpriced_stmt.subquery()))
    unpriced = list(db.session.scalars(unpriced_stmt.order_by(Model.id).limit(REPORT_LIST_LIMIT)))
    available = db.session.scalar(select(func.count()).where(Model.availability == "available"))
    stale = _stale_sync(now)
    issues = []
    if orphaned:
        issues.append(f"{orphaned} subscription(s) on unavailable models")
    if affected_count:
        issues.append(f"{affected_count} live API key(s) still include unavailable models")
    if unpriced_count:
        issues.append(f"{unpriced_count} available model(s) without input or output price")
    if stale["stale"]:
        issues.append("model sync is stale" if stale["last_success_at"]
                      else "no successful model sync yet")
    return {
        "status": "issues" if issues else "ok", "checked_at": now,
        "valid_models": available - unpriced_count, "orphaned_subscriptions": orphaned,
        "unavailable_models_in_use": in_use,
        "affected_keys": {"count": affected_count, "ids": affected},
        "models_without_pricing": {"count": unpriced_count, "ids": unpriced},
        "stale_sync": stale, "issues": issues,
    }


def _unavailable_in_use() -> list[dict[str, Any]]:
    """Unavailable models that still have open subscriptions or live keys (at most 200)."""
    open_subscription = (Subscription.model_id == Model.id) & Subscription.status.in_(
        LISTED_SUBSCRIPTION_STATUSES)
    live_key = (ApiKeyModel.model_id == Model.id) & ApiKey.provisioning_state.in_(
        LIVE_KEY_STATES)
    models = db.session.execute(
        select(Model.id, Model.unavailable_since)
        .where(Model.availability == "unavailable",
               or_(select(Subscription.id).where(open_subscription).exists(),
                   select(ApiKeyModel.api_key_id).join(ApiKey).where(live_key).exists()))
        .order_by(Model.id).limit(REPORT_LIST_LIMIT)).all()
    ids = [model_id for model_id, _ in models]
    counts: dict[str, dict[str, int]] = {model_id: {} for model_id in ids}
    for model_id, status, n in db.session.execute(
            select(Subscription.model_id, Subscription.status, func.count())
            .where(Subscription.model_id.in_(ids),
                   Subscription.status.in_(LISTED_SUBSCRIPTION_STATUSES))
            .group_by(Subscription.model_id, Subscription.status)):
        counts[model_id][status] = n
    key_ids: dict[str, list[str]] = {model_id: [] for model_id in ids}
    for model_id, key_id in db.session.execute(
            select(ApiKeyModel.model_id, ApiKeyModel.api_key_id).join(ApiKey)
            .where(ApiKeyModel.model_id.in_(ids),
                   ApiKey.provisioning_state.in_(LIVE_KEY_STATES))
            .order_by(ApiKeyModel.model_id, ApiKeyModel.api_key_id)):
        key_ids[model_id].append(str(key_id))
    return [{"model_id": model_id, "unavailable_since": since,
             "subscriptions": {**counts[model_id], "total": sum(counts[model_id].values())},
             "key_ids": key_ids[model_id]} for model_id, since in models]


def health_report() -> dict[str, Any]:
    """healthy / degraded / unhealthy from the last success's age, the last run and LiteLLM."""
    now = datetime.now(UTC)
    interval = current_app.config["MODEL_SYNC_INTERVAL"]
    last_run = next(iter(_latest_runs(1)), None)
    last_success = last_success_at()
    age = int((now - last_success).total_seconds()) if last_success else None
    totals = _model_totals()
    connected = litellm_reachable()
    issues, status = [], "healthy"
    if last_success is None:
        issues.append("no successful model sync yet")
        status = "unhealthy"
    elif interval > 0 and age > interval * UNHEALTHY_AFTER_INTERVALS:
        issues.append(f"last successful sync is {age}s old (interval {interval}s)")
        status = "unhealthy"
    elif interval > 0 and age > interval * STALE_AFTER_INTERVALS:
        issues.append(f"last successful sync is {age}s old (interval {interval}s)")
        status = "degraded"
    if last_run is not None and not last_run.success:
        issues.append("last sync failed")
    if not connected:
        issues.append("LiteLLM is unreachable")
    if last_success is not None and not totals["available"]:
        issues.append("no model is available")
    if status == "healthy" and issues:
        status = "degraded"
    return {
        "status": status, "last_sync": last_run.finished_at if last_run else None,
        "last_success_at": last_success, "last_success_age_seconds": age,
        "last_run_success": last_run.success if last_run else None,
        "last_error": last_run.error if last_run and not last_run.success else None,
        "sync_interval_seconds": interval, "models_count": totals["available"],
        "unavailable_count": totals["unavailable"], "litellm_connected": connected,
        "issues": issues,
    }


def litellm_reachable() -> bool:
    """LiteLLM's liveliness, remembered for a few seconds so a public endpoint cannot turn
    into a stream of probes."""
    key = redis_key("models", "litellm-reachable")
    try:
        cached = redis_client().get(key)
    except Exception:
        cached = None
    if cached is not None:
        return cached == b"1"
    try:
        litellm_client().health_liveliness()
        reachable = True
    except Exception as exc:  # any failure means "not reachable" here
        log.info("LiteLLM liveliness probe failed: %s", type(exc).__name__)
        reachable = False
    try:
        redis_client().set(key, b"1" if reachable else b"0", ex=PROBE_TTL_SECONDS)
    except Exception:
        log.warning("could not cache the LiteLLM probe")
    return reachable

