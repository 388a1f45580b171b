"""SQLAlchemy models: the whole schema of DESIGN §3."""

from app.models.api_key import LIVE_KEY_STATES, PROVISIONING_STATES, ApiKey, ApiKeyModel
from app.models.audit import AuditLog
from app.models.base import Base
from app.models.cache import CacheVersion
from app.models.catalog import AVAILABILITY, Model, SyncRun
from app.models.content import (
    BANNER_VARIANTS,
    BRANDING_IMAGE_KINDS,
    Banner,
    BannerDismissal,
    BrandingImage,
    BrandingSettings,
)
from app.models.governance import (
    ApiKeyGraceValue,
    BudgetAlert,
    BudgetPeriodLedger,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationPreference,
)
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
    "BANNER_VARIANTS",
    "BRANDING_IMAGE_KINDS",
    "JOB_STATUSES",
    "LIVE_KEY_STATES",
    "PROVISIONING_STATES",
    "ROLES",
    "SUBSCRIPTION_STATUSES",
    "TEAM_ROLES",
    "ApiKey",
    "ApiKeyGraceValue",
    "ApiKeyModel",
    "AuditLog",
    "Banner",
    "BannerDismissal",
    "Base",
    "BrandingImage",
    "BrandingSettings",
    "BudgetAlert",
    "BudgetPeriodLedger",
    "CacheVersion",
    "Job",
    "Model",
    "Notification",
    "NotificationChannel",
    "NotificationDelivery",
    "NotificationPreference",
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
