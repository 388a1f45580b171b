"""The audit trail, read-only: no endpoint changes or deletes an audit row."""

from __future__ import annotations

from app.api.base import Blueprint
from app.schemas.audit import AuditPageSchema, AuditQuerySchema
from app.services import audit

blp = Blueprint("audit", __name__, url_prefix="/audit-logs", description="Audit trail")


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
