"""Announcement banners: what the signed-in UI shows (public list, per-user dismissal) and
their management on the admin settings page (upstream's ``/banners/admin*`` contract)."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate, peek_identity
from app.auth.permissions import PUBLIC
from app.schemas.banners import (
    BannerAuditListSchema,
    BannerChangedSchema,
    BannerCreateSchema,
    BannerSchema,
    BannerSimpleUpdateSchema,
    BannerUpdateSchema,
    BulkVisibilitySchema,
    MessageSchema,
)
from app.services import banners

blp = Blueprint("banners", __name__, url_prefix="/banners",
                description="Announcement banners of the web UI")


@blp.route("")
class VisibleBanners(MethodView):
    @blp.auth(PUBLIC)
    @blp.response(200, BannerSchema(many=True))
    def get(self):
        """Banners to show the caller now: active, in their time window, targeted at the
        caller (anonymous callers see untargeted ones only) and not dismissed by them."""
        return banners.visible_to(peek_identity())


@blp.route("/<uuid:banner_id>/dismiss")
class DismissBanner(MethodView):
    @blp.auth("banners:dismiss")
    @blp.response(200, MessageSchema)
    @blp.alt_response(400, response="BAD_REQUEST", description="Not dismissible")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, banner_id: uuid.UUID):
        """Hide a dismissible banner for oneself (for its `dismissDurationHours` when set)."""
        banners.dismiss(banner_id, authenticate())
        return {"message": "Banner dismissed successfully"}


@blp.route("/admin")
class AdminBanners(MethodView):
    @blp.auth("banners:read")
    @blp.response(200, BannerSchema(many=True))
    def get(self):
        """Every banner, inactive ones included, newest first."""
        return banners.list_all()

    @blp.auth("banners:write")
    @blp.arguments(BannerCreateSchema)
    @blp.response(201, BannerChangedSchema)
    def post(self, body):
        """Create a banner (inactive unless `isActive`)."""
        banner = banners.create(body, authenticate())
        return ({"banner": banner, "message": "Banner created successfully"}, 201,
                {"Location": f"/api/v1/banners/admin/{banner.id}"})


@blp.route("/admin/bulk-visibility")
class BannerVisibility(MethodView):
    @blp.auth("banners:write")
    @blp.arguments(BulkVisibilitySchema)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="An unknown banner id")
    def patch(self, body):
        """Show or hide several banners at once (`{bannerId: true|false}`); showing one again
        shows it to users who dismissed it."""
        banners.set_visibility(body, authenticate())
        return {"message": "Banner visibility updates applied successfully"}


@blp.route("/admin/<uuid:banner_id>")
class AdminBannerById(MethodView):
    @blp.auth("banners:read")
    @blp.response(200, BannerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, banner_id: uuid.UUID):
        """One banner."""
        return banners.get(banner_id)

    @blp.auth("banners:write")
    @blp.arguments(BannerSimpleUpdateSchema)
    @blp.response(200, BannerChangedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def put(self, body, banner_id: uuid.UUID):
        """Edit a banner from the settings page: visibility, texts, variant, dismissible."""
        banner = banners.update(banner_id, body, authenticate())
        return {"banner": banner, "message": "Banner updated successfully"}

    @blp.auth("banners:write")
    @blp.arguments(BannerUpdateSchema)
    @blp.response(200, BannerChangedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, banner_id: uuid.UUID):
        """Change any field of a banner (targets, schedule, link, ...)."""
        banner = banners.update(banner_id, body, authenticate())
        return {"banner": banner, "message": "Banner updated successfully"}

    @blp.auth("banners:write")
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, banner_id: uuid.UUID):
        """Delete a banner (its history stays in the audit trail)."""
        banners.delete_banner(banner_id, authenticate())
        return {"message": "Banner deleted successfully"}


@blp.route("/admin/<uuid:banner_id>/audit")
class BannerHistory(MethodView):
    @blp.auth("banners:read")
    @blp.response(200, BannerAuditListSchema)
    def get(self, banner_id: uuid.UUID):
        """A banner's changes (create, update, activate, deactivate, delete), newest first."""
        entries = banners.history(banner_id)
        return {"audit_logs": entries, "total": len(entries)}
