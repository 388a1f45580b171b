"""Subscriptions: users ask for models, restricted models wait for an admin (contract §7).

Statuses: ``active``, ``pending`` (restricted model, waiting for review), ``denied``,
``suspended`` (admin), ``cancelled`` (user). Every change writes a
``subscription_status_history`` row and an audit row in the same transaction. Losing access
(cancel, deny, suspend) strips the model from the owner's keys through a job
(``remove_models_from_keys``) committed together with the change. Nobody approves their own
request, admins included: a grant names a signed-in reviewer (an admin API key, which is nobody
in particular, cannot approve), and flipping a model's ``restricted`` flag grants nothing to
the admin who flips it (see ``restriction_changed``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, delete, desc, false, func, select, tuple_

from app.auth.identity import Identity
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.extensions import db
from app.models import Job, Model, Subscription, SubscriptionStatusHistory, UsageDaily, User
from app.services import audit
from app.services import key_provisioning as provisioning
from app.services.listing import SortFields, matches

REQUESTABLE_AGAIN = ("cancelled", "denied")  # a new request reuses the row
CANCELLABLE = ("active", "pending")
APPROVABLE = ("pending", "denied")
SORTS = SortFields({
    "createdAt": Subscription.created_at, "updatedAt": Subscription.updated_at,
    "modelId": Subscription.model_id, "status": Subscription.status,
}, tiebreak=(desc(Subscription.id),), nulls_last=False)


# -- reads ------------------------------------------------------------------------------------


def list_query(user_id: uuid.UUID | None = None, status: str | None = None,
               model_id: str | None = None, sort: str = "-createdAt",
               date_from: date | datetime | None = None, date_to: date | datetime | None = None,
               with_user: bool = False, *, statuses: list[str] | None = None,
               model_ids: list[str] | None = None, user_ids: list[uuid.UUID] | None = None,
               search: str | None = None) -> Select:
    """Subscriptions joined with their model (and user); rows are (subscription, model[, user]).
    A date bound is a whole UTC day; a datetime bound is that instant (the web UI sends
    instants). ``search``: a substring of the username, email or model id."""
    entities = (Subscription, Model, User) if with_user else (Subscription, Model)
    stmt = select(*entities).join(Model, Model.id == Subscription.model_id)
    if with_user or search:
        stmt = stmt.join(User, User.id == Subscription.user_id)
    if user_id is not None:
        stmt = stmt.where(Subscription.user_id == user_id)
    if status:
        stmt = stmt.where(Subscription.status == status)
    if statuses:
        stmt = stmt.where(Subscription.status.in_(statuses))
    if model_id:
        stmt = stmt.where(Subscription.model_id == model_id)
    if model_ids:
        stmt = stmt.where(Subscription.model_id.in_(model_ids))
    if user_ids:
        stmt = stmt.where(Subscription.user_id.in_(user_ids))
    if search:
        stmt = stmt.where(matches(search, User.username, User.email, Subscription.model_id))
    if date_from:
        start = date_from if isinstance(date_from, datetime) else datetime.combine(
            date_from, time(), tzinfo=UTC)
        stmt = stmt.where(Subscription.created_at >= start)
    if date_to:
        end = date_to if isinstance(date_to, datetime) else datetime.combine(
            date_to + timedelta(days=1), time(), tzinfo=UTC)
        stmt = stmt.where(Subscription.created_at <= end if isinstance(date_to, datetime)
                          else Subscription.created_at < end)
    return stmt.order_by(*SORTS.order(sort))


def own_query(identity: Identity, **filters: Any) -> Select:
    """The caller's own subscriptions; an admin API key (no user) owns none."""
    stmt = list_query(identity.user_id, **filters)
    return stmt if identity.user_id is not None else stmt.where(false())


def get_visible(subscription_id: uuid.UUID, identity: Identity) -> Subscription:
    """The caller's subscription (any, for admins and readonly admins); others get 404."""
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or (subscription.user_id != identity.user_id
                                and not identity.can_read_all):
        raise NotFound.resource("subscription", subscription_id)
    return subscription


def used_this_month(subscriptions: list[Subscription]) -> dict[tuple, tuple[int, int]]:
    """(requests, tokens) of each subscriber on the subscribed model this calendar month (UTC),
    from the usage rollup, keyed by (user_id, model_id); one query for a page."""
    pairs = {(s.user_id, s.model_id) for s in subscriptions}
    if not pairs:
        return {}
    first = datetime.now(UTC).date().replace(day=1)
    rows = db.session.execute(
        select(UsageDaily.user_id, UsageDaily.model_id, func.sum(UsageDaily.requests),
               func.sum(UsageDaily.total_tokens))
        .where(UsageDaily.day >= first,
               tuple_(UsageDaily.user_id, UsageDaily.model_id).in_(sorted(pairs, key=str)))
        .group_by(UsageDaily.user_id, UsageDaily.model_id))
    return {(user_id, model_id): (int(requests or 0), int(tokens or 0))
            for user_id, model_id, requests, tokens in rows}


def model_of(subscription: Subscription) -> Model:
    return db.session.get(Model, subscription.model_id)


def history(subscription: Subscription) -> list[SubscriptionStatusHistory]:
    return list(db.session.scalars(
        select(SubscriptionStatusHistory)
        .where(SubscriptionStatusHistory.subscription_id == subscription.id)
        .order_by(SubscriptionStatusHistory.changed_at, SubscriptionStatusHistory.id)))


def _locked(subscription_id: uuid.UUID) -> Subscription:
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update())
    if subscription is None:
        raise NotFound.resource("subscription", subscription_id)
    return subscription


def _own_locked(subscription_id: uuid.UUID, identity: Identity) -> Subscription:
    subscription = _locked(subscription_id)
    if subscription.user_id != identity.user_id:
        raise NotFound.resource("subscription", subscription_id)
    return subscription


# -- the one way a status changes -------------------------------------------------------------


def _change(subscription: Subscription, new_status: str, identity: Identity, action: str,
            reason: str | None, *, reviewed: bool = False, is_new: bool = False) -> None:
    old_status = None if is_new else subscription.status
    db.session.add(SubscriptionStatusHistory(
        subscription_id=subscription.id, old_status=old_status, new_status=new_status,
        reason=reason, changed_by=identity.user_id))
    subscription.status = new_status
    subscription.reason = reason
    if reviewed:
        subscription.reviewed_by = identity.user_id
        subscription.reviewed_at = datetime.now(UTC)
    audit.record(action, "subscription", subscription.id, details={
        "modelId": subscription.model_id, "userId": str(subscription.user_id),
        "from": old_status, "to": new_status, "reason": reason})


def _commit_losing_access(subscription: Subscription, old_status: str,
                          identity: Identity) -> Job | None:
    """Commit; if the owner could use the model before, a job strips it from their keys."""
    job = None
    if old_status == "active":
        job = provisioning.create_access_job([subscription.model_id], subscription.user_id,
                                             identity.user_id)
    db.session.commit()  # the job is published after this commit
    return job


def _require_status(subscription: Subscription, allowed: tuple[str, ...], verb: str) -> None:
    if subscription.status not in allowed:
        raise Conflict(f"A {subscription.status} subscription cannot be {verb}",
                       {"status": subscription.status, "allowedFrom": list(allowed)},
                       code="INVALID_STATUS_TRANSITION")


def _require_future(moment: datetime) -> None:
    if moment <= datetime.now(UTC):
        raise Unprocessable("The end of access must be in the future",
                            {"expiresAt": moment.isoformat()}, code="EXPIRY_IN_PAST")


def _require_available(model: Model) -> None:
    if model.availability != "available":
        raise Unprocessable(f"Model {model.id} is not available",
                            {"modelId": model.id, "availability": model.availability},
                            code="MODEL_UNAVAILABLE")


# -- user actions -----------------------------------------------------------------------------


def create(identity: Identity, model_id: str, reason: str | None = None,
           quotas: dict[str, int] | None = None) -> Subscription:
    """Subscribe: ``active`` for an unrestricted model, ``pending`` for a restricted one. A
    cancelled or denied subscription is requested again on the same row. ``quotas``
    (quota_requests, quota_tokens) are kept as asked. One commit."""
    if identity.user_id is None:
        raise Forbidden("An admin API key has no user to subscribe; sign in as a user")
    model = db.session.get(Model, model_id)
    if model is None:
        raise NotFound.resource("model", model_id)
    _require_available(model)
    new_status = "pending" if model.restricted else "active"
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.user_id == identity.user_id,
                                   Subscription.model_id == model_id).with_for_update())
    if subscription is None:
        subscription = Subscription(id=uuid.uuid4(), user_id=identity.user_id,
                                    model_id=model_id, status=new_status)
        db.session.add(subscription)
        db.session.flush()  # the history row refers to it
        _change(subscription, new_status, identity, _created_action(new_status), reason,
                is_new=True)
    elif subscription.status in REQUESTABLE_AGAIN:
        subscription.reviewed_by = subscription.reviewed_at = None
        _change(subscription, new_status, identity, _created_action(new_status), reason)
    else:
        raise Conflict("You already have a subscription to this model",
                       {"subscriptionId": str(subscription.id), "status": subscription.status},
                       code="ALREADY_EXISTS")
    for name, value in (quotas or {}).items():
        setattr(subscription, name, value)
    db.session.commit()
    return subscription


def _created_action(status: str) -> str:
    return "SUBSCRIPTION_REQUESTED" if status == "pending" else "SUBSCRIPTION_CREATED"


def cancel(subscription_id: uuid.UUID, identity: Identity) -> tuple[Subscription, Job | None]:
    """The owner ends a subscription (active or pending); its model leaves their keys."""
    subscription = _own_locked(subscription_id, identity)
    _require_status(subscription, CANCELLABLE, "cancelled")
    old_status = subscription.status
    _change(subscription, "cancelled", identity, "SUBSCRIPTION_CANCELLED", None)
    return subscription, _commit_losing_access(subscription, old_status, identity)


def update(subscription_id: uuid.UUID, identity: Identity,
           data: dict[str, Any]) -> tuple[Subscription, Job | None]:
    """What an owner may change: cancel (``status: cancelled``), ask again after a denial or
    cancellation (``status: pending``), reword the justification of a pending request, or the
    quotas asked for (kept, informational)."""
    status = data.get("status")
    if status == "cancelled":
        return cancel(subscription_id, identity)
    subscription = _own_locked(subscription_id, identity)
    if status == "pending":
        _require_status(subscription, REQUESTABLE_AGAIN, "requested again")
        model = model_of(subscription)
        _require_available(model)
        new_status = "pending" if model.restricted else "active"
        subscription.reviewed_by = subscription.reviewed_at = None
        _change(subscription, new_status, identity, "SUBSCRIPTION_REREQUESTED",
                data.get("reason"))
    elif "reason" in data:
        _require_status(subscription, ("pending",), "annotated")
        subscription.reason = data["reason"]
        audit.record("SUBSCRIPTION_NOTE_UPDATED", "subscription", subscription.id)
    quotas = {name: data[name] for name in ("quota_requests", "quota_tokens") if name in data}
    if quotas:
        for name, value in quotas.items():
            setattr(subscription, name, value)
        audit.record("SUBSCRIPTION_QUOTAS_UPDATED", "subscription", subscription.id,
                     details={"quotaRequests": subscription.quota_requests,
                              "quotaTokens": subscription.quota_tokens})
    db.session.commit()
    return subscription, None


def request_review(subscription_id: uuid.UUID, identity: Identity) -> Subscription:
    """The owner asks an admin to look again at a denied request (denied → pending); asking
    while it is pending is a no-op. One commit."""
    subscription = _own_locked(subscription_id, identity)
    if subscription.status == "pending":
        db.session.rollback()
        return subscription
    _require_status(subscription, ("denied",), "sent for review again")
    model = model_of(subscription)
    _require_available(model)
    subscription.reviewed_by = subscription.reviewed_at = None
    _change(subscription, "pending" if model.restricted else "active", identity,
            "SUBSCRIPTION_REVIEW_REQUESTED", None)
    db.session.commit()
    return subscription


# -- admin actions ----------------------------------------------------------------------------


def _refuse_own(subscription: Subscription, identity: Identity, verb: str) -> None:
    if identity.user_id is None:  # an admin API key: whoever holds it may be the requester
        audit.record_now("SUBSCRIPTION_SELF_REVIEW_REFUSED", "subscription", subscription.id,
                         success=False, details={"action": verb, "reason": "admin_api_key"})
        raise Forbidden(f"An admin API key cannot {verb} a subscription; a signed-in admin "
                        "other than the requester must", {"subscriptionId": str(subscription.id)},
                        code="REVIEWER_REQUIRED")
    if subscription.user_id == identity.user_id:
        audit.record_now("SUBSCRIPTION_SELF_REVIEW_REFUSED", "subscription", subscription.id,
                         success=False, details={"action": verb})
        raise Forbidden(f"You cannot {verb} your own subscription; another admin must",
                        {"subscriptionId": str(subscription.id)}, code="SELF_APPROVAL_FORBIDDEN")


def approve(subscription_id: uuid.UUID, identity: Identity,
            reason: str | None = None, expires_at: datetime | None = None) -> Subscription:
    """pending (or denied) → active, by an admin other than the requester; until
    ``expires_at`` when given (time-boxed access, see app.services.access_reviews)."""
    subscription = _locked(subscription_id)
    _refuse_own(subscription, identity, "approve")
    _require_status(subscription, APPROVABLE, "approved")
    _require_available(model_of(subscription))
    if expires_at is not None:
        _require_future(expires_at)
    subscription.expires_at, subscription.renewal_requested_at = expires_at, None
    _change(subscription, "active", identity, "SUBSCRIPTION_APPROVED", reason, reviewed=True)
    db.session.commit()
    return subscription


def suspend(subscription_id: uuid.UUID, identity: Identity,
            reason: str) -> tuple[Subscription, Job | None]:
    """active → suspended; the model leaves the owner's keys."""
    subscription = _locked(subscription_id)
    _require_status(subscription, ("active",), "suspended")
    _change(subscription, "suspended", identity, "SUBSCRIPTION_SUSPENDED", reason,
            reviewed=True)
    return subscription, _commit_losing_access(subscription, "active", identity)


def reactivate(subscription_id: uuid.UUID, identity: Identity,
               reason: str | None = None) -> Subscription:
    """suspended → active (the owner adds the model back to keys as they wish)."""
    subscription = _locked(subscription_id)
    _refuse_own(subscription, identity, "reactivate")
    _require_status(subscription, ("suspended",), "reactivated")
    _require_available(model_of(subscription))
    _change(subscription, "active", identity, "SUBSCRIPTION_REACTIVATED", reason, reviewed=True)
    db.session.commit()
    return subscription


# -- bulk review, revert, delete, stats (the web UI's approvals page) ----------------------------

DENIABLE = ("pending", "active")
REVERTIBLE = ("active", "denied", "pending")


def review_many(subscription_ids: list[uuid.UUID], identity: Identity, action: str,
                reason: str | None) -> dict[str, Any]:
    """Approve or deny each subscription on its own (one commit each): what one cannot take
    (not found, wrong status, one's own request, model unavailable) is reported for that item
    and the others go on. ``{"successful", "failed", "errors": [{subscription, error}],
    "results": [{subscriptionId, success, status | code, error}]}``."""
    results, errors, jobs_made = [], [], []
    for subscription_id in dict.fromkeys(subscription_ids):  # each once, in the order given
        try:
            if action == "approve":
                subscription, job = approve(subscription_id, identity, reason), None
            else:
                subscription, job = deny(subscription_id, identity, reason or "", DENIABLE)
        except (NotFound, Conflict, Forbidden, Unprocessable) as exc:
            db.session.rollback()
            errors.append({"subscription": str(subscription_id), "error": exc.message})
            results.append({"subscription_id": subscription_id, "success": False,
                            "code": exc.code, "error": exc.message})
            continue
        if job is not None:
            jobs_made.append(job.id)
        results.append({"subscription_id": subscription_id, "success": True,
                        "status": subscription.status, "job_id": job.id if job else None})
    ok = sum(1 for result in results if result["success"])
    return {"successful": ok, "failed": len(results) - ok, "errors": errors,
            "results": results}


def deny(subscription_id: uuid.UUID, identity: Identity, reason: str,
         allowed: tuple[str, ...] = ("pending",)) -> tuple[Subscription, Job | None]:
    """pending (or, from the approvals page, active) → denied, with the reason the requester
    will see; an active subscription's model leaves the owner's keys."""
    subscription = _locked(subscription_id)
    _require_status(subscription, allowed, "denied")
    old_status = subscription.status
    _change(subscription, "denied", identity, "SUBSCRIPTION_DENIED", reason, reviewed=True)
    return subscription, _commit_losing_access(subscription, old_status, identity)


def revert(subscription_id: uuid.UUID, new_status: str, identity: Identity,
           reason: str | None) -> tuple[Subscription, Job | None]:
    """An admin's override among active, denied and pending. Going to ``active`` is an
    approval: never one's own request (nor by an admin API key), and only on an available
    model; leaving ``active`` strips the model from the owner's keys."""
    subscription = _locked(subscription_id)
    if subscription.status == new_status:
        raise Conflict(f"The subscription is already {new_status}",
                       {"status": subscription.status}, code="INVALID_STATUS_TRANSITION")
    _require_status(subscription, REVERTIBLE, "reverted")
    if new_status == "active":
        _refuse_own(subscription, identity, "approve")
        _require_available(model_of(subscription))
    old_status = subscription.status
    _change(subscription, new_status, identity, "SUBSCRIPTION_STATUS_REVERTED", reason,
            reviewed=new_status != "pending")
    if new_status == "pending":
        subscription.reviewed_by = subscription.reviewed_at = None
    return subscription, _commit_losing_access(subscription, old_status, identity)


def delete_subscription(subscription_id: uuid.UUID, identity: Identity,
                        reason: str | None) -> Job | None:
    """Remove a subscription and its history for good (audited with the reason); if it gave
    access, a job strips the model from the owner's keys."""
    subscription = _locked(subscription_id)
    old_status, owner, model_id = subscription.status, subscription.user_id, subscription.model_id
    audit.record("SUBSCRIPTION_DELETED", "subscription", subscription.id, details={
        "modelId": model_id, "userId": str(owner), "status": old_status, "reason": reason})
    db.session.execute(delete(SubscriptionStatusHistory)
                       .where(SubscriptionStatusHistory.subscription_id == subscription.id))
    db.session.delete(subscription)
    job = None
    if old_status == "active":
        job = provisioning.create_access_job([model_id], owner, identity.user_id)
    db.session.commit()  # the job (if any) is published after this commit
    return job


def approval_stats() -> dict[str, int]:
    """pending now; approved and denied today (UTC, by review time); requests that went
    through review at all (pending, active or denied)."""
    today = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    reviewed_today = Subscription.reviewed_at >= today
    row = db.session.execute(select(
        func.count().filter(Subscription.status == "pending"),
        func.count().filter(Subscription.status == "active", reviewed_today),
        func.count().filter(Subscription.status == "denied", reviewed_today),
        func.count().filter(Subscription.status.in_(("pending", "active", "denied"))),
    )).one()
    return dict(zip(("pending_count", "approved_today", "denied_today", "total_requests"),
                    row, strict=True))


# -- the model's restricted flag changed --------------------------------------------------------


def restriction_changed(model: Model, identity: Identity) -> Job | None:
    """Follow a flip of ``model.restricted`` (in the caller's unit of work; the returned job
    is published once the caller commits), as upstream LiteMaaS does.

    Now restricted: every active subscription waits for approval again (``pending``, reason
    "Model now requires approval") and a ``remove_models_from_keys`` job strips the model from
    those owners' keys. Now open: pending requests are granted, reviewed by the admin who opened
    the model, except that admin's own (and all of them when an admin API key flips it): those
    still need another admin, so flipping the flag never grants anyone their own request.
    """
    if not model.restricted:
        for subscription in _locked_with_status(model.id, "pending"):
            if identity.user_id is None or subscription.user_id == identity.user_id:
                audit.record("SUBSCRIPTION_SELF_REVIEW_REFUSED", "subscription", subscription.id,
                             success=False, details={"action": "unrestrict_model"})
                continue
            _change(subscription, "active", identity, "SUBSCRIPTION_APPROVED",
                    "Model restriction removed", reviewed=True)
        return None
    active = _locked_with_status(model.id, "active")
    for subscription in active:
        subscription.reviewed_by = subscription.reviewed_at = None
        _change(subscription, "pending", identity, "SUBSCRIPTION_REQUIRES_APPROVAL",
                "Model now requires approval")
    if not active:
        return None
    return provisioning.create_access_job([model.id], None, identity.user_id)


def _locked_with_status(model_id: str, status: str) -> list[Subscription]:
    return list(db.session.scalars(
        select(Subscription).where(Subscription.model_id == model_id,
                                   Subscription.status == status)
        .order_by(Subscription.id).with_for_update()))


# -- an admin gives a user models (the user dialog; keys an admin makes for the user) -----------

NEEDS_REVIEW = ("pending", "denied", "suspended")  # leaving these is an approval


def grant_for_user(owner_id: uuid.UUID, model_ids: list[str],
                   identity: Identity) -> dict[str, list]:
    """Make the owner's subscriptions to these models active: new ones are created, others
    re-activated, active ones left alone. Activating a restricted model, or a pending, denied
    or suspended subscription, is an approval: never by the owner themself, nor by an admin
    API key (L1). In the caller's unit of work (the caller commits)."""
    wanted = list(dict.fromkeys(model_ids))
    models = {m.id: m for m in db.session.scalars(
        select(Model).where(Model.id.in_(wanted)).with_for_update(read=True))}
    unknown = [m for m in wanted if m not in models]
    if unknown:
        raise Unprocessable("Unknown models", {"modelIds": unknown}, code="UNKNOWN_MODEL")
    held = {s.model_id: s for s in db.session.scalars(
        select(Subscription).where(Subscription.user_id == owner_id,
                                   Subscription.model_id.in_(wanted)).with_for_update())}
    result: dict[str, list] = {"created": [], "activated": [], "already_active": []}
    for model_id in wanted:
        model, subscription = models[model_id], held.get(model_id)
        if subscription is not None and subscription.status == "active":
            result["already_active"].append(model_id)
            continue
        _require_available(model)
        previous = subscription.status if subscription is not None else None
        review = model.restricted or previous in NEEDS_REVIEW
        if review:
            _refuse_own(subscription or Subscription(user_id=owner_id, model_id=model_id),
                        identity, "approve")
        if subscription is None:
            subscription = Subscription(id=uuid.uuid4(), user_id=owner_id, model_id=model_id,
                                        status="active")
            db.session.add(subscription)
            db.session.flush()
            _change(subscription, "active", identity, "SUBSCRIPTION_GRANTED_BY_ADMIN",
                    "Added by an admin", reviewed=review, is_new=True)
            result["created"].append({"model_id": model_id, "subscription_id": subscription.id})
        else:
            subscription.reviewed_by = subscription.reviewed_at = None
            _change(subscription, "active", identity, "SUBSCRIPTION_GRANTED_BY_ADMIN",
                    "Activated by an admin", reviewed=review)
            result["activated"].append({"model_id": model_id, "subscription_id": subscription.id,
                                        "previous_status": previous})
    return result
