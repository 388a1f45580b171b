"""The audit trail, read-only: no endpoint changes or deletes an audit row.

``/audit-logs`` is our native reader (keyset pages); ``/admin/audit`` answers the web UI's
audit page (page numbers with totals, free-text search, the action and category menus) from the
same query."""

from __future__ import annotations

from datetime import timedelta

from app.api.base import Blueprint
from app.schemas.audit import (
    AdminAuditQuerySchema,
    AuditActionsQuerySchema,
    AuditActionsSchema,
    AuditCategoriesSchema,
    AuditPageSchema,
    AuditQuerySchema,
)
from app.services import audit

blp = Blueprint("audit", __name__, url_prefix="/audit-logs", description="Audit trail")
admin_blp = Blueprint("admin_audit", __name__, url_prefix="/admin/audit",
                      description="The audit trail as the web UI's audit page reads it")


@blp.route("")
@blp.auth("audit:read")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit_logs(query):
    """Audit rows, newest first. Filters: actor (user id, username or label), action,
    resourceType, resourceId, success, from/to. Pages by `cursor` (keyset, fast at any depth;
    follow `nextCursor`) or, for compatibility, by `page` (with totals)."""
    stmt = audit.list_query(actor=query.get("actor"), action=query.get("action"),
                            resource_type=query.get("resource_type"),
                            resource_id=query.get("resource_id"), success=query.get("success"),
                            since=query.get("from_"), until=query.get("to"))
    if query.get("page"):
        return audit.offset_page(stmt, query["page"], query["limit"])
    return audit.keyset_page(stmt, query["limit"], query.get("cursor"))


def _excluded(value: str | None) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in (value or "").split(",") if part.strip()}))


@admin_blp.route("")
@admin_blp.auth("audit:read")
@admin_blp.arguments(AdminAuditQuerySchema, location="query")
@admin_blp.response(200, AuditPageSchema)
def admin_audit_logs(query):
    """Audit rows, newest first, by page with totals. Filters: action, resourceType, userId
    (the actor), startDate/endDate (days or moments), search (text in the action, resource,
    actor or details), excludeResourceTypes (comma-separated)."""
    since = until = None
    if query.get("start_date"):
        since = query["start_date"][0]
    if query.get("end_date"):
        moment, is_day = query["end_date"]
        until = moment + timedelta(days=1) if is_day else moment
    stmt = audit.list_query(actor_id=query.get("user_id"), action=query.get("action"),
                            resource_type=query.get("resource_type"), since=since, until=until,
                            search=query.get("search"),
                            exclude_resource_types=_excluded(query.get("exclude_resource_types")))
    return audit.offset_page(stmt, query["page"], query["limit"])


@admin_blp.route("/actions")
@admin_blp.auth("audit:read")
@admin_blp.arguments(AuditActionsQuerySchema, location="query")
@admin_blp.response(200, AuditActionsSchema)
def admin_audit_actions(query):
    """The actions in the trail, sorted (of one resourceType, or outside
    excludeResourceTypes), for the audit page's action menu."""
    return {"actions": audit.distinct_actions(
        query.get("resource_type"), _excluded(query.get("exclude_resource_types")))}


@admin_blp.route("/categories")
@admin_blp.auth("audit:read")
@admin_blp.response(200, AuditCategoriesSchema)
def admin_audit_categories():
    """The resource types in the trail, sorted (the audit page's category menu)."""
    return {"categories": audit.distinct_resource_types()}
