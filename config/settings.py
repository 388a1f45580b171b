"""One settings object, read from the environment (DESIGN §10).

Every process (web, worker, beat, CLI, tests) builds its configuration here and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
# Secrets published somewhere (this repo's examples, upstream LiteMaaS' examples, tutorials):
# production refuses them, and anything that merely looks like a placeholder.
KNOWN_JWT_SECRETS = frozenset({
    DEV_JWT_SECRET,
    "change-me-to-a-long-random-string-at-least-32-chars",
    "your-super-secret-jwt-key-change-this-in-production",
    "your-jwt-secret-key-change-in-production",
    "your-secret-key",
    "secret",
    "changeme",
})
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "change-this", "placeholder",
                     "example", "your-secret", "your_secret", "insecure", "dev-only")
MIN_JWT_SECRET_ENTROPY_BITS = 96


class ConfigError(RuntimeError):
    """Raised at start when a setting is missing or invalid."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """All runtime settings; field names are the environment variable names."""

    # Unset means production (fail closed): `make run` and the tests opt into development/test.
    APP_ENV: str = "production"
    PORT: int = 8080
    LOG_LEVEL: str = "INFO"

    DATABASE_URL: str = ""
    DB_MAX_CONNECTIONS: int = 10
    REDIS_URL: str = ""
    # Prefix for every Redis key this deployment writes (broker, limiter, caches): lets two
    # deployments, or parallel test runs, share one Redis safely.
    REDIS_KEY_PREFIX: str = "litemaas:"

    JWT_SECRET: str = DEV_JWT_SECRET
    JWT_ACCESS_TTL_SECONDS: int = 900
    JWT_REFRESH_TTL_SECONDS: int = 7 * 24 * 3600
    JWT_ISSUER: str = "litemaas"  # every token carries iss and aud, both verified
    JWT_AUDIENCE: str = "litemaas-api"
    # The web UI signs in once and never refreshes: its token (checked against the server-side
    # session on every request) lives this long, like upstream LiteMaaS' 24 h.
    UI_SESSION_TTL_SECONDS: int = 24 * 3600

    OAUTH_MOCK: bool | None = None  # None: on in development/test, off otherwise
    OAUTH_PROVIDER: str = "openshift"  # openshift | oidc
    OAUTH_CLIENT_ID: str = ""
    OAUTH_CLIENT_SECRET: str = ""
    OAUTH_ISSUER_URL: str = ""
    OAUTH_CALLBACK_URL: str = ""
    OPENSHIFT_API_URL: str = ""
    OIDC_SCOPES: str = "openid profile email"
    OIDC_GROUPS_CLAIM: str = "groups"
    ADMIN_GROUPS: tuple[str, ...] = ("litemaas-admins", "administrators")
    READONLY_ADMIN_GROUPS: tuple[str, ...] = ("litemaas-readonly", "viewers")
    INITIAL_ADMIN_USERS: tuple[str, ...] = ()
    ADMIN_API_KEYS: tuple[str, ...] = ()
    FRONTEND_URL: str = ""  # the web UI; sign-in ends at FRONTEND_URL/auth/callback#token=…
    OAUTH_STATE_TTL_SECONDS: int = 600  # a sign-in must finish within this time
    OAUTH_HTTP_TIMEOUT_SECONDS: float = 10.0
    API_KEY_CACHE_TTL_SECONDS: int = 30  # API key lookups cached in Redis (revoke invalidates)
    API_KEY_NEGATIVE_CACHE_TTL_SECONDS: int = 60  # unknown key hashes remembered (0: never)
    CORS_ORIGINS: tuple[str, ...] = ()
    # Reverse proxies in front of the app (0: none). N > 0 trusts the last N hops of
    # X-Forwarded-For/-Proto/-Host/-Port: the client IP (rate limits, audit) and https (HSTS).
    TRUSTED_PROXIES: int = 0

    LITELLM_API_URL: str = "http://127.0.0.1:4000"
    LITELLM_API_KEY: str = ""
    LITELLM_PUBLIC_URL: str = ""  # LiteLLM as browsers reach it (chat); default LITELLM_API_URL
    LITELLM_TIMEOUT_SECONDS: float = 10.0
    # The proxy has an Enterprise licence: per-model key budgets (model_max_budget) are allowed.
    LITELLM_ENTERPRISE: bool = False
    ENCRYPTION_KEY: str = ""  # a Fernet key: keeps an encrypted copy of API keys (reveal)
    # A Fernet key for key values held in Redis until LiteLLM takes them; default
    # ENCRYPTION_KEY. Production requires one of the two.
    TRANSIT_ENCRYPTION_KEY: str = ""
    KEY_REVEAL_LIMIT_PER_HOUR: int = 5
    MAX_API_KEYS_PER_USER: int = 50  # live (not revoked) keys per user; 0 = no limit
    PENDING_KEY_TTL_SECONDS: int = 86400  # how long a not-yet-provisioned key value is held
    # API key defaults (applied when a new key leaves the field unset) and maximums (enforced
    # on create and edit); empty = none. /config/api-key-defaults serves them
    # (app.services.key_defaults).
    API_KEY_DEFAULT_MAX_BUDGET: float | None = None
    API_KEY_DEFAULT_SOFT_BUDGET: float | None = None
    API_KEY_DEFAULT_BUDGET_DURATION: str = ""
    API_KEY_DEFAULT_TPM_LIMIT: int | None = None
    API_KEY_DEFAULT_RPM_LIMIT: int | None = None
    API_KEY_DEFAULT_EXPIRATION_DAYS: int | None = None
    API_KEY_MAX_BUDGET: float | None = None
    API_KEY_MAX_TPM_LIMIT: int | None = None
    API_KEY_MAX_RPM_LIMIT: int | None = None
    API_KEY_MAX_EXPIRATION_DAYS: int | None = None

    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_MAX: int = 100  # per minute, role user
    RATE_LIMIT_API_KEY: int = 200
    RATE_LIMIT_ADMIN: int = 1000
    RATE_LIMIT_ANONYMOUS: int = 60
    MAX_CONTENT_LENGTH: int = 1024 * 1024

    MODEL_SYNC_INTERVAL: int = 300  # seconds, 0 disables the scheduled sync
    MODEL_SYNC_ON_START: bool = True
    MODEL_SYNC_ALLOW_EMPTY: bool = False
    # POST /models/sync waits this long for its job: 200 with the counts when it finished,
    # 202 with the job id otherwise (0: always 202 at once).
    MODEL_SYNC_WAIT_SECONDS: float = 5.0
    USAGE_ROLLUP_INTERVAL: int = 900
    # usage_daily keeps this many months (the current one counts); older monthly partitions are
    # dropped by a daily beat task. 0 keeps every month.
    USAGE_RETENTION_MONTHS: int = 0
    RECONCILE_INTERVAL: int = 3600
    # Keys in LiteLLM of LiteMaaS users that LiteMaaS did not make are always reported by
    # reconciliation; true also deletes them.
    RECONCILE_DELETE_FOREIGN_KEYS: bool = False
    JOB_REPUBLISH_AFTER_SECONDS: int = 120
    JOB_LEASE_SECONDS: int = 60
    MAX_QUEUED_JOBS_PER_USER: int = 20  # queued or running jobs one plain user may hold (0: no cap)
    CELERY_VISIBILITY_TIMEOUT: int = 3600
    WORKER_HEARTBEAT_TTL: int = 30
    HEALTH_CACHE_SECONDS: float = 5.0  # readiness probes run at most this often per process
    EXPORT_DIR: str = "exports"
    EXPORT_RETENTION_HOURS: int = 72  # export files are deleted this long after; 0 keeps them
    # the web UI's export and "refresh today" wait this long for their job, then answer 202
    UI_JOB_WAIT_SECONDS: float = 10.0
    # Database backups (pg_dump custom format + a .meta.json each, files 0600, directory 0700);
    # web and worker must share it. Outside the database on purpose: a restore never loses it.
    BACKUP_DIR: str = "backups"
    # Where pg_dump/pg_restore live; empty: the ones matching the server's major version among
    # pgserver's bundled binaries, /usr/lib/postgresql/*/bin and PATH.
    BACKUP_PG_BIN_DIR: str = ""
    # LiteLLM's own database (its DATABASE_URL): when set, it can be backed up and restored too.
    LITELLM_DATABASE_URL: str = ""
    BRANDING_IMAGE_MAX_BYTES: int = 2 * 1024 * 1024  # largest branding image accepted

    FLOWER_BASIC_AUTH: str = ""

    # Governance (README "Governance"): notifications, budget alerts, key hygiene, time-boxed
    # access. E-mail is off while SMTP_HOST is empty.
    SMTP_HOST: str = ""
    SMTP_PORT: int = 587
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = True  # refuse to send when the server does not offer STARTTLS
    SMTP_CA_FILE: str = ""  # CA bundle for the SMTP server's certificate (default: system)
    SMTP_FROM: str = "litemaas@localhost"
    SMTP_TIMEOUT_SECONDS: float = 10.0
    WEBHOOK_TIMEOUT_SECONDS: float = 5.0
    NOTIFY_MAX_ATTEMPTS: int = 5  # webhook/e-mail attempts before a delivery is failed
    NOTIFY_RETRY_BASE_SECONDS: float = 2.0  # backoff: base * 2**attempt, capped at 300 s
    BUDGET_ALERT_THRESHOLDS: tuple[str, ...] = ("50", "80", "100")  # percent of the budget
    BUDGET_FORECAST_WINDOW_DAYS: int = 7  # recent days the run-out forecast averages
    BUDGET_SWEEP_INTERVAL: int = 900  # seconds between budget sweeps on beat (0: off)
    KEY_HYGIENE_INTERVAL: int = 3600  # key expiry reminders, idle disable, grace ends (0: off)
    KEY_EXPIRY_REMINDER_DAYS: tuple[str, ...] = ("7", "1")
    KEY_IDLE_DISABLE_DAYS: int = 0  # block keys unused this many days (0: never)
    KEY_ROTATION_GRACE: int = 0  # seconds a rotated-out value keeps working (0: none)
    ACCESS_SWEEP_INTERVAL: int = 3600  # time-boxed approvals, reminders, approver digest
    ACCESS_REMINDER_DAYS: int = 7
    APPROVER_DIGEST_AFTER_HOURS: int = 24  # pending requests older than this go in the digest

    DEFAULT_USER_MAX_BUDGET: float = 100.0
    DEFAULT_USER_TPM_LIMIT: int = 100000
    DEFAULT_USER_RPM_LIMIT: int = 120

    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_production(self) -> bool:
        return self.APP_ENV == "production"

    @property
    def mock_auth(self) -> bool:
        if self.OAUTH_MOCK is None:
            return self.APP_ENV in {"development", "test"}
        return self.OAUTH_MOCK

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.DATABASE_URL)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)

    def validate(self) -> Settings:
        """Refuse to start on missing or unsafe settings; production is strict."""
        problems = []
        if self.APP_ENV not in {"development", "test", "production"}:
            problems.append("APP_ENV must be development, test or production")
        if not self.DATABASE_URL:
            problems.append("DATABASE_URL is required")
        if not self.REDIS_URL:
            problems.append("REDIS_URL is required")
        if self.OAUTH_PROVIDER not in {"openshift", "oidc"}:
            problems.append("OAUTH_PROVIDER must be openshift or oidc")
        if not 0 <= self.TRUSTED_PROXIES <= 10:
            problems.append("TRUSTED_PROXIES must be a number of proxy hops between 0 and 10")
        for name in ("ENCRYPTION_KEY", "TRANSIT_ENCRYPTION_KEY"):
            if getattr(self, name) and not _is_fernet_key(getattr(self, name)):
                problems.append(f"{name} must be a Fernet key (32 url-safe base64 bytes)")
        for name in ("BUDGET_ALERT_THRESHOLDS", "KEY_EXPIRY_REMINDER_DAYS"):
            if not all(v.isdigit() and 0 < int(v) <= 1000 for v in getattr(self, name)):
                problems.append(f"{name} must be whole numbers between 1 and 1000")
        if not 1 <= self.NOTIFY_MAX_ATTEMPTS <= 6:
            problems.append("NOTIFY_MAX_ATTEMPTS must be between 1 and 6")
        if not self.JWT_ISSUER or not self.JWT_AUDIENCE:
            problems.append("JWT_ISSUER and JWT_AUDIENCE must not be empty")
        if self.is_production:
            problems.extend(self._production_problems())
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        weak = jwt_secret_weakness(self.JWT_SECRET)
        if weak:
            problems.append(f"JWT_SECRET {weak}: set a random value of at least 32 characters "
                            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        if self.mock_auth:
            problems.append("OAUTH_MOCK=true is refused when APP_ENV=production")
        if not self.OAUTH_CALLBACK_URL:
            problems.append("OAUTH_CALLBACK_URL is required in production (the Host header "
                            "must not choose where the provider sends the code)")
        if not (self.TRANSIT_ENCRYPTION_KEY or self.ENCRYPTION_KEY):
            problems.append("TRANSIT_ENCRYPTION_KEY (or ENCRYPTION_KEY) is required in "
                            "production: it encrypts key values held in Redis")
        for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_ISSUER_URL"):
            if not getattr(self, name):
                problems.append(f"{name} is required in production")
        if not self.LITELLM_API_KEY:
            problems.append("LITELLM_API_KEY is required in production")
        return problems


def _entropy_bits(value: str) -> float:
    """Shannon entropy of the string's characters times its length: a cheap lower bar that
    refuses repeated or patterned values ("xxxx…", "abcabc…") whatever their length."""
    import math
    from collections import Counter

    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def _compressibility(value: str) -> float:
    """Compressed size over size (zlib's fixed overhead removed): ~1 for random text."""
    import zlib

    return (len(zlib.compress(value.encode(), 9)) - 8) / max(len(value), 1)


def jwt_secret_weakness(secret: str) -> str | None:
    """Why a JWT secret is unfit for production, or None."""
    lowered = secret.strip().lower()
    if secret in KNOWN_JWT_SECRETS or lowered in KNOWN_JWT_SECRETS:
        return "is a published example value"
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "looks like a placeholder"
    if len(secret) < 32:
        return "is shorter than 32 characters"
    if (_entropy_bits(secret) < MIN_JWT_SECRET_ENTROPY_BITS or len(set(secret)) < 10
            or _compressibility(secret) < 0.6):  # repeated patterns ("0123456789" * 4)
        return "has too little entropy"
    return None


def _is_fernet_key(value: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(value)
    except (ValueError, TypeError):
        return False
    return True


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as given by operators (postgres://, postgresql://) → the psycopg2 driver."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def _coerce(raw: str, annotation: str) -> Any:
    if "None" in annotation and raw.strip() == "" and "bool" not in annotation:
        return None
    annotation = annotation.replace(" | None", "")
    if "bool" in annotation:
        return _bool(raw)
    if "tuple" in annotation:
        return _csv(raw)
    if annotation == "int":
        return int(raw)
    if annotation == "float":
        return float(raw)
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raises ConfigError on unparsable values."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems = []
    if "FLASK_ENV" in environ and "APP_ENV" not in environ:
        values["APP_ENV"] = environ["FLASK_ENV"]
    for f in fields(Settings):
        raw = environ.get(f.name)
        if raw is None or f.name == "extra":
            continue
        try:
            values[f.name] = _coerce(raw, str(f.type))
        except ValueError as exc:
            problems.append(f"{f.name}: {exc}")
    if problems:
        raise ConfigError("Invalid configuration: " + "; ".join(problems))
    return Settings(**values)
