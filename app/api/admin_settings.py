"""Admin: runtime settings of the web UI's settings page (limits and currency tabs): API key
defaults and maximums, new-user defaults, the currency. Readonly admins read them."""

from __future__ import annotations

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.schemas.settings import (
    ApiKeyDefaultsSchema,
    ApiKeyDefaultsUpdateSchema,
    CurrencySchema,
    CurrencyUpdateSchema,
    UserDefaultsSchema,
    UserDefaultsUpdateSchema,
    UserDefaultsViewSchema,
)
from app.services import key_defaults, settings

blp = Blueprint("admin_settings", __name__, url_prefix="/admin/settings",
                description="Admin: runtime settings (API key limits, user defaults, currency)")


@blp.route("/api-key-defaults")
class ApiKeyDefaults(MethodView):
    @blp.auth("settings:read")
    @blp.response(200, ApiKeyDefaultsSchema)
    def get(self):
        """Defaults for new API keys and the maximums enforced on every key create and edit."""
        return key_defaults.api_key_defaults()

    @blp.auth("settings:write")
    @blp.arguments(ApiKeyDefaultsUpdateSchema)
    @blp.response(200, ApiKeyDefaultsSchema)
    def put(self, body):
        """Replace the API key defaults and maximums (null: none); every key path enforces the
        new maximums at once. A default above its maximum is refused (400)."""
        return key_defaults.update(body, authenticate())


@blp.route("/user-defaults")
class UserDefaults(MethodView):
    @blp.auth("settings:read")
    @blp.response(200, UserDefaultsViewSchema)
    def get(self):
        """Budget and limits given to users created from now on, and the environment defaults
        that apply where none is set."""
        return {**settings.user_defaults(), "env_defaults": settings.env_user_defaults()}

    @blp.auth("settings:write")
    @blp.arguments(UserDefaultsUpdateSchema)
    @blp.response(200, UserDefaultsSchema)
    def put(self, body):
        """Replace the new-user defaults (null: the environment default). A new user gets them
        at first sign-in, and LiteLLM gets them with the user; existing users keep theirs (use
        bulk-update-limits for them)."""
        return settings.update_user_defaults(body, authenticate())


@blp.route("/currency")
class Currency(MethodView):
    @blp.auth("settings:read")
    @blp.response(200, CurrencySchema)
    def get(self):
        """The currency money is shown in (also in the public `/config`)."""
        return settings.currency()

    @blp.auth("settings:write")
    @blp.arguments(CurrencyUpdateSchema)
    @blp.response(200, CurrencySchema)
    def put(self, body):
        """Choose the currency (one of `/currency/supported`; symbol and name may be
        customised). Display only: amounts are not converted."""
        return settings.update_currency(body, authenticate())


@blp.route("/currency/supported")
@blp.auth("settings:read")
@blp.response(200, CurrencySchema(many=True))
def supported_currencies():
    """The currencies an admin may choose."""
    return settings.SUPPORTED_CURRENCIES
