"""The LiteLLM client: the only code that speaks HTTP to LiteLLM (DESIGN §8)."""

from flask import current_app

from app.litellm.client import LiteLLMClient, key_hash
from app.litellm.errors import (
    LiteLLMAuthError,
    LiteLLMBadRequest,
    LiteLLMConflict,
    LiteLLMEnterpriseRequired,
    LiteLLMError,
    LiteLLMInvalidResponse,
    LiteLLMNotFound,
    LiteLLMRateLimited,
    LiteLLMUnavailable,
)

__all__ = [
    "LiteLLMAuthError",
    "LiteLLMBadRequest",
    "LiteLLMClient",
    "LiteLLMConflict",
    "LiteLLMEnterpriseRequired",
    "LiteLLMError",
    "LiteLLMInvalidResponse",
    "LiteLLMNotFound",
    "LiteLLMRateLimited",
    "LiteLLMUnavailable",
    "key_hash",
    "litellm_client",
]


def litellm_client() -> LiteLLMClient:
    """The app's LiteLLM client (the one way services get it)."""
    return current_app.extensions["litellm"]
