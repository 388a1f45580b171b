"""Branding of the web UI: public settings and images, admin changes (upstream's contract:
``/branding``, ``/branding/images/{type}``)."""

from __future__ import annotations

from flask import make_response, request
from flask.views import MethodView

from app.api.base import Blueprint, ErrorSchema
from app.auth.identity import authenticate
from app.auth.permissions import PUBLIC
from app.models import BRANDING_IMAGE_KINDS
from app.schemas.branding import (
    BrandingImageUploadSchema,
    BrandingMessageSchema,
    BrandingSchema,
    BrandingUpdateSchema,
)
from app.security import allow_large_body
from app.services import branding

blp = Blueprint("branding", __name__, url_prefix="/branding",
                description="Branding of the web UI: sign-in page and header")
# Any text routes here, so the permission check answers first (403 before 404 for a
# readonly admin); the service refuses unknown kinds with 404.
KIND_PARAMETER = {"in": "path", "name": "kind", "required": True,
                  "schema": {"type": "string", "enum": list(BRANDING_IMAGE_KINDS)}}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
# Served images never run anything, even an SVG opened on its own.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

allow_large_body("PUT", "/api/v1/branding/images/", branding.request_body_limit)


@blp.route("")
class Branding(MethodView):
    @blp.auth(PUBLIC)
    @blp.response(200, BrandingSchema)
    def get(self):
        """Titles, which customisations are on and which images exist (no image data)."""
        return branding.settings_view()

    @blp.auth("branding:write")
    @blp.arguments(BrandingUpdateSchema)
    @blp.response(200, BrandingSchema)
    def patch(self, body):
        """Change the sign-in page title and subtitle and switch customisations on or off."""
        return branding.update_settings(body, authenticate())


@blp.route("/images/<string:kind>")
class BrandingImage(MethodView):
    @blp.auth(PUBLIC)
    @blp.doc(parameters=[KIND_PARAMETER])
    @blp.doc(responses={"200": {"description": "The image, with the type its bytes show",
                                "content": {t: {"schema": {"type": "string",
                                                           "format": "binary"}}
                                            for t in IMAGE_TYPES}}})
    @blp.alt_response(304, description="Not modified (If-None-Match)")
    @blp.alt_response(404, response="NOT_FOUND", description="No such image uploaded")
    def get(self, kind: str):
        """A branding image (public: the sign-in page shows the logo)."""
        image = branding.get_image(kind)
        etag = f'"{image.sha256}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = make_response("", 304)
        else:
            response = make_response(image.data)
            response.headers["Content-Type"] = image.mime_type
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = IMAGE_CSP
        return response

    @blp.auth("branding:write")
    @blp.doc(parameters=[KIND_PARAMETER])
    @blp.arguments(BrandingImageUploadSchema)
    @blp.response(200, BrandingMessageSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Unknown image kind")
    @blp.alt_response(413, schema=ErrorSchema,
                      description="Body larger than the image limit allows")
    def put(self, body, kind: str):
        """Upload an image (PNG, JPEG, GIF, WebP or SVG without scripts), checked by its
        bytes and by size (`BRANDING_IMAGE_MAX_BYTES`)."""
        branding.upload_image(kind, body["data"], body["mime_type"], authenticate())
        return {"message": f"Image {kind} uploaded successfully"}

    @blp.auth("branding:write")
    @blp.doc(parameters=[KIND_PARAMETER])
    @blp.response(200, BrandingMessageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, kind: str):
        """Remove an image."""
        branding.delete_image(kind, authenticate())
        return {"message": f"Image {kind} deleted successfully"}
