"""The LiteLLM client: the only code that speaks HTTP to LiteLLM (DESIGN §8)."""

from app.litellm.client import LiteLLMClient
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
]
