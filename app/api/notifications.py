"""In-app notices and each user's notification choices (issue 19); admins manage channels
(signed webhooks, e-mail lists), their event subscriptions, and read the delivery log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask.views import MethodView
from sqlalchemy import update

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.errors import NotFound
from app.extensions import db
from app.models import Notification
from app.schemas.governance import (
    ChannelListSchema,
    ChannelSchema,
    ChannelUpdateSchema,
    DeliveryPageSchema,
    DeliveryQuerySchema,
    NotificationPageSchema,
    NotificationQuerySchema,
    NotificationSchema,
    PreferencesSchema,
    PreferencesUpdateSchema,
    ReadAllSchema,
)
from app.services import audit, notifications
from app.services.listing import paginate

blp = Blueprint("notifications", __name__, url_prefix="/notifications",
                description="Your in-app notices and which events reach you")
admin_blp = Blueprint("admin_notifications", __name__, url_prefix="/admin/notifications",
                      description="Admin: notification channels, subscriptions, delivery log")


def _own_user_id() -> uuid.UUID:
    identity = authenticate()
    if identity.user_id is None:  # an admin API key is nobody's inbox
        raise NotFound("This identity has no notifications", {"resource": "notifications"})
    return identity.user_id


@blp.route("")
@blp.auth("notifications:read")
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationPageSchema)
def list_notifications(query):
    """Your notices, newest first (filters: unread, event, severity); `unread` counts the
    unread ones. Banners: `?unread=true&severity=warning&severity=critical`."""
    user_id = _own_user_id()
    page = paginate(notifications.own_query(user_id, query.get("unread"), query.get("event"),
                                            query.get("severity")),
                    query["page"], query["limit"])
    page["unread"] = notifications.unread_count(user_id)
    return page


@blp.route("/<uuid:notification_id>/read", methods=["POST"])
@blp.auth("notifications:write")
@blp.response(200, NotificationSchema)
@blp.alt_response(404, response="NOT_FOUND")
def read_notification(notification_id: uuid.UUID):
    """Mark one of your notices read."""
    return notifications.mark_read(notification_id, _own_user_id())


@blp.route("/read-all", methods=["POST"])
@blp.auth("notifications:write")
@blp.response(200, ReadAllSchema)
def read_all():
    """Mark all your notices read."""
    user_id = _own_user_id()
    updated = db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))).rowcount
    audit.record("NOTIFICATIONS_READ_ALL", "user", user_id, details={"updated": updated})
    db.session.commit()
    return {"updated": updated}


@blp.route("/preferences")
class Preferences(MethodView):
    @blp.auth("notifications:read")
    @blp.response(200, PreferencesSchema)
    def get(self):
        """Every event about you, and whether it reaches you in the app and by e-mail."""
        return {"data": notifications.preferences(_own_user_id())}

    @blp.auth("notifications:write")
    @blp.arguments(PreferencesUpdateSchema)
    @blp.response(200, PreferencesSchema)
    def put(self, body):
        """Choose, per event, in-app and e-mail (fields left out keep their value)."""
        return {"data": notifications.set_preferences(_own_user_id(), body["preferences"])}


# -- admin ------------------------------------------------------------------------------------


def channel_view(channel) -> dict:
    return {"id": channel.id, "name": channel.name, "kind": channel.kind, "url": channel.url,
            "has_secret": bool(channel.secret), "recipients": list(channel.recipients),
            "events": list(channel.events), "enabled": channel.enabled,
            "created_at": channel.created_at, "updated_at": channel.updated_at}


@admin_blp.route("/channels")
class Channels(MethodView):
    @admin_blp.auth("notifications:read_all")
    @admin_blp.response(200, ChannelListSchema)
    def get(self):
        """Every channel with its events (secrets are never shown: `hasSecret`)."""
        from sqlalchemy import select

        from app.models import NotificationChannel

        rows = db.session.scalars(select(NotificationChannel)
                                  .order_by(NotificationChannel.name)).all()
        return {"data": [channel_view(c) for c in rows]}

    @admin_blp.auth("notifications:admin")
    @admin_blp.arguments(ChannelSchema)
    @admin_blp.response(201, ChannelSchema)
    @admin_blp.alt_response(409, response="CONFLICT", description="Name taken")
    def post(self, body):
        """Add a webhook (url, optional HMAC secret) or e-mail (recipients) channel."""
        return channel_view(notifications.create_channel(body, authenticate().user_id))


@admin_blp.route("/channels/<uuid:channel_id>")
class Channel(MethodView):
    @admin_blp.auth("notifications:read_all")
    @admin_blp.response(200, ChannelSchema)
    @admin_blp.alt_response(404, response="NOT_FOUND")
    def get(self, channel_id: uuid.UUID):
        """One channel."""
        return channel_view(notifications.get_channel(channel_id))

    @admin_blp.auth("notifications:admin")
    @admin_blp.arguments(ChannelUpdateSchema)
    @admin_blp.response(200, ChannelSchema)
    @admin_blp.alt_response(404, response="NOT_FOUND")
    @admin_blp.alt_response(409, response="CONFLICT", description="Name taken")
    def patch(self, body, channel_id: uuid.UUID):
        """Change a channel (events, url, secret, recipients, enabled)."""
        return channel_view(notifications.update_channel(channel_id, body))

    @admin_blp.auth("notifications:admin")
    @admin_blp.response(204)
    @admin_blp.alt_response(404, response="NOT_FOUND")
    def delete(self, channel_id: uuid.UUID):
        """Delete a channel (its delivery log stays)."""
        notifications.delete_channel(channel_id)


@admin_blp.route("/deliveries")
@admin_blp.auth("notifications:read_all")
@admin_blp.arguments(DeliveryQuerySchema, location="query")
@admin_blp.response(200, DeliveryPageSchema)
def list_deliveries(query):
    """The delivery log: status, attempts and response code of every webhook call and
    e-mail (filters: channelId, status, event)."""
    stmt = notifications.deliveries_query(query.get("channel_id"), query.get("status"),
                                          query.get("event"))
    return paginate(stmt, query["page"], query["limit"])
