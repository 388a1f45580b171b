"""SQLAlchemy models: the whole schema of DESIGN §3."""

from app.models.api_key import LIVE_KEY_STATES, PROVISIONING_STATES, ApiKey, ApiKeyModel
from app.models.audit import AuditLog
from app.models.base import Base
from app.models.cache import CacheVersion
from app.models.catalog import AVAILABILITY, Model, SyncRun
from app.models.job import ACTIVE_JOB_STATUSES, JOB_STATUSES, Job
from app.models.setting import Setting
from app.models.subscription import (
    SUBSCRIPTION_STATUSES,
    Subscription,
    SubscriptionStatusHistory,
)
from app.models.usage import UsageDaily, UsageDailyTotal
from app.models.user import ROLES, TEAM_ROLES, Team, TeamMember, User, UserSession

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "AVAILABILITY",
    "JOB_STATUSES",
    "LIVE_KEY_STATES",
    "PROVISIONING_STATES",
    "ROLES",
    "SUBSCRIPTION_STATUSES",
    "TEAM_ROLES",
    "ApiKey",
    "ApiKeyModel",
    "AuditLog",
    "Base",
    "CacheVersion",
    "Job",
    "Model",
    "Setting",
    "Subscription",
    "SubscriptionStatusHistory",
    "SyncRun",
    "Team",
    "TeamMember",
    "UsageDaily",
    "UsageDailyTotal",
    "User",
    "UserSession",
]
