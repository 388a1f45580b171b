"""Announcement banners: admins publish them (targeted by role or user, scheduled, optionally
dismissible); every signed-in page of the web UI shows the ones meant for its user.

Every change is audited with what changed (the banner's history is read back from the audit
trail); a change shows the banner again to users who had dismissed it, as upstream does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, literal, not_, or_, select
from sqlalchemy.dialects.postgresql import insert

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import AuditLog, Banner, BannerDismissal, User
from app.services import audit

VISIBLE_LIMIT = 5  # the UI shows the first; a few more queue up behind a dismissal
FIELDS = ("name", "is_active", "priority", "content", "variant", "is_dismissible",
          "dismiss_duration_hours", "start_date", "end_date", "target_roles", "target_user_ids",
          "link_url", "link_text", "markdown_enabled")
AUDIT_ACTIONS = {"BANNER_CREATED": "create", "BANNER_UPDATED": "update",
                 "BANNER_DELETED": "delete", "BANNER_ACTIVATED": "activate",
                 "BANNER_DEACTIVATED": "deactivate"}


def visible_to(identity) -> list[Banner]:
    """Active banners in their time window meant for this caller (None: anonymous, who sees
    only untargeted ones), minus those the caller dismissed; highest priority first."""
    now = func.now()
    user_id = getattr(identity, "user_id", None)
    roles = list(getattr(identity, "roles", ()) or ())
    stmt = select(Banner).where(
        Banner.is_active.is_(True),
        or_(Banner.start_date.is_(None), Banner.start_date <= now),
        or_(Banner.end_date.is_(None), Banner.end_date > now),
        or_(Banner.target_roles.is_(None), func.cardinality(Banner.target_roles) == 0,
            Banner.target_roles.overlap(literal(roles, Banner.target_roles.type))
            if roles else literal(False)),
        or_(Banner.target_user_ids.is_(None), func.cardinality(Banner.target_user_ids) == 0,
            Banner.target_user_ids.any(user_id) if user_id else literal(False)),
    )
    if user_id is not None:
        dismissed = select(BannerDismissal.banner_id).where(
            BannerDismissal.user_id == user_id, BannerDismissal.banner_id == Banner.id,
            or_(Banner.dismiss_duration_hours.is_(None),
                BannerDismissal.dismissed_at
                > now - func.make_interval(0, 0, 0, 0, Banner.dismiss_duration_hours)))
        stmt = stmt.where(or_(Banner.is_dismissible.is_(False), not_(dismissed.exists())))
    stmt = stmt.order_by(Banner.priority.desc(), Banner.created_at.desc()).limit(VISIBLE_LIMIT)
    return list(db.session.scalars(stmt))


def list_all() -> list[Banner]:
    return list(db.session.scalars(select(Banner).order_by(Banner.created_at.desc(),
                                                           Banner.id)))


def get(banner_id: uuid.UUID) -> Banner:
    banner = db.session.get(Banner, banner_id)
    if banner is None:
        raise NotFound("Banner not found", {"resource": "banner", "id": str(banner_id)},
                       code="BANNER_NOT_FOUND")
    return banner


def create(data: dict[str, Any], identity) -> Banner:
    _check(data, None)
    banner = Banner(id=uuid.uuid4(), **{k: v for k, v in data.items() if k in FIELDS},
                    created_by=identity.user_id, updated_by=identity.user_id)
    banner.content = _clean_texts(banner.content)
    db.session.add(banner)
    db.session.flush()
    audit.record("BANNER_CREATED", "banner", banner.id,
                 details={"newState": _state(banner)})
    db.session.commit()
    return banner


def update(banner_id: uuid.UUID, data: dict[str, Any], identity) -> Banner:
    """Change a banner; users who dismissed it see it again."""
    banner = get(banner_id)
    _check(data, banner)
    before = _state(banner)
    for name in FIELDS:
        if name in data:
            value = data[name]
            setattr(banner, name, _clean_texts(value) if name in ("content", "link_text")
                    else value)
    banner.updated_by = identity.user_id
    banner.updated_at = datetime.now(UTC)
    after = _state(banner)
    changed = {name: {"from": before[name], "to": after[name]}
               for name in after if before[name] != after[name]}
    db.session.execute(delete(BannerDismissal).where(BannerDismissal.banner_id == banner.id))
    audit.record("BANNER_UPDATED", "banner", banner.id,
                 details={"changes": changed, "previousState": before, "newState": after})
    db.session.commit()
    return banner


def delete_banner(banner_id: uuid.UUID, identity) -> None:
    banner = get(banner_id)
    audit.record("BANNER_DELETED", "banner", banner.id,
                 details={"previousState": _state(banner)})
    db.session.delete(banner)
    db.session.commit()


def set_visibility(changes: dict[str, bool], identity) -> dict[str, bool]:
    """Show or hide several banners at once (the settings page's "Apply changes");
    unknown ids are refused and nothing changes."""
    wanted = {uuid.UUID(key): bool(value) for key, value in changes.items()}
    found = {row.id: row for row in db.session.scalars(
        select(Banner).where(Banner.id.in_(wanted)).with_for_update())}
    unknown = sorted(str(i) for i in wanted if i not in found)
    if unknown:
        raise NotFound("Unknown banners", {"resource": "banner", "ids": unknown},
                       code="BANNER_NOT_FOUND")
    applied = {}
    for banner_id, visible in wanted.items():
        banner = found[banner_id]
        if banner.is_active == visible:
            continue
        banner.is_active, banner.updated_by = visible, identity.user_id
        banner.updated_at = datetime.now(UTC)
        if visible:  # shown again: to everyone, including those who dismissed it
            db.session.execute(delete(BannerDismissal)
                               .where(BannerDismissal.banner_id == banner_id))
        audit.record("BANNER_ACTIVATED" if visible else "BANNER_DEACTIVATED", "banner",
                     banner_id, details={"previousState": {"isActive": not visible},
                                         "newState": {"isActive": visible}})
        applied[str(banner_id)] = visible
    if not applied:  # nothing changed: still a trace of the request
        audit.record("BANNER_VISIBILITY_UNCHANGED", "banner", None,
                     details={"ids": sorted(str(i) for i in wanted)})
    db.session.commit()
    return applied


def dismiss(banner_id: uuid.UUID, identity) -> None:
    """Hide a dismissible banner for the caller (again: the dismissal restarts)."""
    banner = get(banner_id)
    if identity.user_id is None:
        raise ValidationError("Only a signed-in user can dismiss a banner", {},
                              code="BANNER_NOT_DISMISSIBLE")
    if not banner.is_dismissible:
        raise ValidationError("This banner cannot be dismissed", {"id": str(banner_id)},
                              code="BANNER_NOT_DISMISSIBLE")
    stmt = insert(BannerDismissal).values(banner_id=banner.id, user_id=identity.user_id)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[BannerDismissal.banner_id, BannerDismissal.user_id],
        set_={"dismissed_at": func.now()}))
    audit.record("BANNER_DISMISSED", "banner", banner.id)
    db.session.commit()


def history(banner_id: uuid.UUID) -> list[dict[str, Any]]:
    """The banner's changes, newest first, from the audit trail (also after deletion)."""
    rows = db.session.execute(
        select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.actor_id)
        .where(AuditLog.resource_type == "banner", AuditLog.resource_id == str(banner_id),
               AuditLog.action.in_(AUDIT_ACTIONS))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(100)).all()
    return [{"id": row.id, "banner_id": str(banner_id), "action": AUDIT_ACTIONS[row.action],
             "changed_by": username or row.actor_label,
             "previous_state": (row.details or {}).get("previousState"),
             "new_state": (row.details or {}).get("newState"), "changed_at": row.created_at}
            for row, username in rows]


# --- helpers --------------------------------------------------------------------------------


def _check(data: dict[str, Any], banner: Banner | None) -> None:
    start = data.get("start_date", banner.start_date if banner else None)
    end = data.get("end_date", banner.end_date if banner else None)
    if start is not None and end is not None and end <= start:
        raise ValidationError("Request validation failed",
                              {"fields": {"endDate": ["Must be after startDate."]}})
    ids = data.get("target_user_ids")
    if ids:
        known = set(db.session.scalars(select(User.id).where(User.id.in_(ids))))
        unknown = sorted({str(i) for i in ids if i not in known})
        if unknown:
            raise ValidationError("Request validation failed", {"fields": {
                "targetUserIds": [f"Unknown user: {i}" for i in unknown[:20]]}})
        data["target_user_ids"] = list(dict.fromkeys(ids))
    if data.get("target_roles"):
        data["target_roles"] = sorted(set(data["target_roles"]))


def _clean_texts(texts: dict[str, str] | None) -> dict[str, str] | None:
    """Languages left empty in the form are dropped."""
    if texts is None:
        return None
    return {lang: text for lang, text in texts.items() if text.strip()}


def _state(banner: Banner) -> dict[str, Any]:
    def plain(value):
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    return {name: plain(getattr(banner, name)) for name in FIELDS}


