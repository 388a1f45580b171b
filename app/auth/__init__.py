"""Authentication (who is calling) and authorization (what they may do)."""

from app.auth.api_keys import invalidate_api_key_cache, invalidate_user_api_keys

__all__ = ["invalidate_api_key_cache", "invalidate_user_api_keys"]
