"""Reconciliation: compare LiteMaaS with LiteLLM and repair the drift (DESIGN §6).

LiteMaaS is the source of truth. One run reads every LiteLLM key once (``/key/list``, paged,
full objects) and then, one key per transaction:

- an active key LiteLLM lost is re-created from its encrypted copy, or marked failed;
- an active key whose models, budget, limits, owner, expiry or blocked flag differ is re-pushed;
- a revoked (or failed) key still alive in LiteLLM is deleted there; a revocation half done
  is finished; a pending key older than a grace period is provisioned (or failed);
- keys holding models their owner lost access to are stripped of them;
- keys LiteMaaS created (``metadata.litemaas_key_id``) that match no row are deleted;
- keys of LiteMaaS users that LiteMaaS did not make (minted in LiteLLM directly) are reported,
  and deleted with ``RECONCILE_DELETE_FOREIGN_KEYS``;
- LiteMaaS users known to LiteLLM (and owners of active keys) missing there are re-created,
  and their budgets, limits and role (``internal_user_viewer``) re-pushed; teams are checked
  the same way.

Every repair is audited and listed in the job result. Transient LiteLLM errors stop the run
and the job retries it (each repair is idempotent); a refusal about one object is reported and
the run goes on.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.litellm import LiteLLMError, LiteLLMNotFound, litellm_client
from app.litellm.durations import litellm_duration
from app.models import ApiKey, Team, User
from app.services import audit, key_hygiene, litellm_accounts
from app.services import key_provisioning as provisioning

log = logging.getLogger(__name__)

PENDING_GRACE = timedelta(minutes=2)  # a request may still be provisioning a younger key
ORPHAN_GRACE = timedelta(minutes=10)  # a rotation may not have committed a younger key yet
PAGE_SIZE = 100



@dataclass
class Report:
    repairs: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[phase] = round((time.perf_counter() - started) * 1000)

    def repaired(self, action: str, resource_type: str, resource_id: Any, **details: Any) -> None:
        """Record a repair (audited with the caller's unit of work)."""
        entry = {"action": action, "resourceType": resource_type,
                 "resourceId": str(resource_id), **details}
        self.repairs.append(entry)
        audit.record("RECONCILE_REPAIR", resource_type, resource_id,
                     details={"action": action, **details})

    def failed(self, resource_type: str, resource_id: Any, exc: LiteLLMError) -> None:
        self.errors.append({"resourceType": resource_type, "resourceId": str(resource_id),
                            "error": exc.message[:500]})

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "repairs": self.repairs, "findings": self.findings,
                "errors": self.errors,
                "repairCount": len(self.repairs), "timingsMs": self.timings_ms}


def run(progress=None) -> dict[str, Any]:
    """Compare and repair everything once; returns the report (the job result)."""
    report = Report()
    with report.timed("fetch"):
        remote = litellm_keys()
    report.checked["litellmKeys"] = len(remote)
    with report.timed("keys"):
        _strip_lost_models(report)
        suspects = _suspect_keys(remote, report)
        for index, key_id in enumerate(suspects):
            _guarded(report, "api_key", key_id,
                     lambda k=key_id: _reconcile_key(k, remote, report))
            if progress is not None and index % 50 == 49:
                progress(10 + int(70 * (index + 1) / len(suspects)),
                         f"{index + 1} keys repaired")
        _delete_orphans(remote, report)
        _foreign_keys(remote, report)
    with report.timed("owners"):
        _reconcile_owners(report)
    with report.timed("teams"):
        _reconcile_teams(report)
    log.info("reconcile: %d repairs, %d errors", len(report.repairs), len(report.errors))
    return report.as_dict()


def litellm_keys() -> dict[str, dict]:
    """Every key LiteLLM holds, by token (``/key/list`` with full objects, all pages)."""
    keys: dict[str, dict] = {}
    page = 1
    while True:
        answer = litellm_client().key_list(page=page, size=PAGE_SIZE,
                                                 return_full_object=True)
        for row in answer.get("keys") or []:
            if isinstance(row, dict) and row.get("token"):
                keys[row["token"]] = row
        if page >= (answer.get("total_pages") or 0):
            return keys
        page += 1


def _guarded(report: Report, resource_type: str, resource_id: Any, action) -> None:
    """Run one repair; a permanent LiteLLM refusal is reported, a transient error propagates."""
    try:
        action()
    except LiteLLMError as exc:
        db.session.rollback()
        if exc.retryable:
            raise
        report.failed(resource_type, resource_id, exc)


def _strip_lost_models(report: Report) -> None:
    outcome = provisioning.enforce_model_access()
    for item in outcome["keys"]:
        report.repairs.append({"action": "models_removed", "resourceType": "api_key",
                               "resourceId": item["keyId"], "models": item["models"]})


def _suspect_keys(remote: dict[str, dict], report: Report) -> list[uuid.UUID]:
    """One read-only pass over every key: the ones that look out of line with LiteLLM. Each is
    then locked and looked at again before anything is repaired."""
    owners = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_(select(ApiKey.user_id).distinct())))}
    stale_pending = datetime.now(UTC) - PENDING_GRACE
    suspects, checked = [], 0
    keys = db.session.scalars(select(ApiKey).options(selectinload(ApiKey.models))
                              .order_by(ApiKey.created_at)
                              .execution_options(yield_per=1000))
    for key in keys:
        checked += 1
        if _looks_off(key, owners[key.user_id], remote.get(key.key_hash), stale_pending):
            suspects.append(key.id)
    db.session.rollback()
    report.checked["keys"] = checked
    report.checked["suspects"] = len(suspects)
    return suspects


def _looks_off(key: ApiKey, owner: User, row: dict | None, stale_pending: datetime) -> bool:
    state = key.provisioning_state
    if state == "pending":
        return key.created_at < stale_pending
    if state == "active":
        return row is None or bool(provisioning.drift(key, owner, row))
    if state == "revoking":
        return True
    return row is not None  # revoked or failed here, alive in LiteLLM


def _reconcile_key(key_id: uuid.UUID, remote: dict[str, dict], report: Report) -> None:
    key = provisioning.lock_key(key_id)
    if key is None:
        db.session.rollback()
        return
    state, row = key.provisioning_state, remote.get(key.key_hash)
    if state == "pending":
        db.session.rollback()
        if datetime.now(UTC) - key.created_at > PENDING_GRACE:
            _complete_pending(key_id, report)
        return
    if state == "active":
        _repair_active(key, row, report)
    elif state == "revoking":
        deleted = provisioning.delete_token(key.key_hash)
        provisioning.finish_revocation(key, deleted)
        report.repaired("revocation_completed", "api_key", key.id, deletedInLitellm=deleted)
    elif row is not None:  # revoked or failed here, alive in LiteLLM
        provisioning.delete_token(key.key_hash)
        report.repaired("key_deleted_in_litellm", "api_key", key.id, state=state)
    db.session.commit()


def _repair_active(key: ApiKey, row: dict | None, report: Report) -> None:
    owner = db.session.get(User, key.user_id)
    if row is None:
        row = provisioning.litellm_key_row(key.key_hash)  # the list may predate this key
    if row is None:
        outcome = provisioning.recreate_or_fail(key, owner)
        action = "key_recreated" if outcome.action == "recreated" else "key_marked_failed"
        report.repaired(action, "api_key", key.id, reason=outcome.reason)
        return
    changed = provisioning.drift(key, owner, row)
    if changed:
        outcome = provisioning.push(key, owner)
        report.repaired("key_repushed", "api_key", key.id, fields=changed,
                        litellm=outcome.action)


def _complete_pending(key_id: uuid.UUID, report: Report) -> None:
    try:
        outcome = provisioning.provision(key_id)
    except LiteLLMError as exc:
        if exc.retryable:
            raise
        report.repaired("key_marked_failed", "api_key", key_id, reason=exc.message[:300])
        db.session.commit()
        return
    if "state" in outcome:
        report.repaired(f"pending_key_{outcome['state']}", "api_key", key_id)
        db.session.commit()


def _delete_orphans(remote: dict[str, dict], report: Report) -> None:
    """Keys LiteMaaS created in LiteLLM that no row accounts for (a rotation whose old value
    was never deleted, a row deleted by hand). Keys made by others are left alone, and so are
    rotated-out values still inside their grace period."""
    ours = set(db.session.scalars(select(ApiKey.key_hash))) | key_hygiene.in_grace_hashes()
    db.session.rollback()
    cutoff = datetime.now(UTC) - ORPHAN_GRACE
    for token, row in remote.items():
        marker = (row.get("metadata") or {}).get("litemaas_key_id")
        if marker is None or token in ours or not _older_than(row.get("created_at"), cutoff):
            continue

        def delete(token=token, marker=marker):
            provisioning.delete_token(token)
            report.repaired("orphan_key_deleted", "api_key", marker, token=token[:12])
            db.session.commit()

        _guarded(report, "litellm_key", marker, delete)


def _foreign_keys(remote: dict[str, dict], report: Report) -> None:
    """Keys LiteLLM holds for a LiteMaaS user that LiteMaaS did not make (no marker, no row):
    minted with the user's own key while its LiteLLM role allowed it, or by hand. They bypass
    subscriptions and budgets: always reported, deleted with RECONCILE_DELETE_FOREIGN_KEYS."""
    ours = set(db.session.scalars(select(ApiKey.key_hash)))
    user_ids = {str(uid) for uid in db.session.scalars(select(User.id))}
    db.session.rollback()
    delete = current_app.config.get("RECONCILE_DELETE_FOREIGN_KEYS", False)
    foreign = [(token, row) for token, row in remote.items()
               if row.get("user_id") in user_ids and token not in ours
               and (row.get("metadata") or {}).get("litemaas_key_id") is None]
    report.checked["foreignKeys"] = len(foreign)
    for token, row in foreign:
        finding = {"kind": "foreign_key", "userId": row["user_id"], "token": token[:12],
                   "keyAlias": row.get("key_alias"), "createdBy": row.get("created_by"),
                   "models": row.get("models") or [], "deleted": False}
        if not delete:
            report.findings.append(finding)
            audit.record_now("RECONCILE_FOREIGN_KEY_FOUND", "user", row["user_id"],
                             success=False, details=finding)
            continue

        def remove(token=token, finding=finding):
            finding["deleted"] = provisioning.delete_token(token)
            report.findings.append(finding)
            report.repaired("foreign_key_deleted", "user", finding["userId"],
                            token=finding["token"], createdBy=finding["createdBy"])
            db.session.commit()

        _guarded(report, "litellm_key", token[:12], remove)


def _older_than(stamp: str | None, cutoff: datetime) -> bool:
    if not stamp:
        return True
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return True
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) < cutoff


def _reconcile_owners(report: Report) -> None:
    """Users LiteLLM knows and owners of active keys must exist there, with the budget,
    limits and role set here."""
    owners = list(db.session.scalars(select(User).where(or_(
        User.litellm_user_id.is_not(None),
        User.id.in_(select(ApiKey.user_id).where(ApiKey.provisioning_state == "active"))))))
    report.checked["users"] = len(owners)
    for user in owners:
        _guarded(report, "user", user.id, lambda u=user: _reconcile_owner(u, report))


def _reconcile_owner(user: User, report: Report) -> None:
    try:
        info = litellm_client().user_info(str(user.id)).get("user_info") or {}
    except LiteLLMNotFound:
        info = None
    wanted = {**litellm_accounts.user_limits(user),
              "user_role": litellm_accounts.LITELLM_USER_ROLE}
    changed = ["missing"] if info is None else [
        name for name, value in wanted.items() if not _same(info.get(name), value)]
    if changed:
        litellm_accounts.push_user(user)
        user.litellm_user_id = str(user.id)
        action = "user_recreated" if info is None else "user_repushed"
        report.repaired(action, "user", user.id, fields=changed)
        db.session.commit()
    else:
        db.session.rollback()


def _reconcile_teams(report: Report) -> None:
    """Every team must exist in LiteLLM with its budget, limits and members (owners as plain
    members), including teams whose provisioning never recorded a LiteLLM id."""
    settled = datetime.now(UTC) - PENDING_GRACE
    teams = list(db.session.scalars(select(Team).where(or_(
        Team.litellm_team_id.is_not(None), Team.created_at < settled))))
    db.session.rollback()
    report.checked["teams"] = len(teams)
    for team in teams:
        _guarded(report, "team", team.id, lambda t=team: _reconcile_team(t, report))


def _reconcile_team(team: Team, report: Report) -> None:
    try:
        answer = litellm_client().team_info(team.litellm_team_id or str(team.id))
        info = answer.get("team_info") or {}
    except LiteLLMNotFound:
        answer, info = None, None
    wanted = {"max_budget": None if team.max_budget is None else float(team.max_budget),
              "tpm_limit": team.tpm_limit, "rpm_limit": team.rpm_limit,
              "budget_duration": litellm_duration(team.budget_duration)}
    changed = ["missing"] if info is None else [
        name for name, value in wanted.items() if not _same(info.get(name), value)]
    if info is not None and litellm_accounts.members_differ(team, answer):
        changed.append("members")
    if info is not None and team.litellm_team_id is None:
        changed.append("litellm_team_id")
    db.session.rollback()
    if changed:
        litellm_accounts.sync_team(team.id)  # commits
        report.repaired("team_recreated" if info is None else "team_repushed", "team",
                        team.id, fields=changed)
        db.session.commit()


def _same(theirs: Any, ours: Any) -> bool:
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return abs(float(theirs) - float(ours)) < 1e-6
    return theirs == ours
