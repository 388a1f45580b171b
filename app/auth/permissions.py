"""The one permission table: every route names a permission, every check reads this table.

``admin`` may do everything; ``admin-readonly`` every admin read and no write of any kind;
``user`` own resources only (services scope queries to the caller's id).

Credentials have scopes (DESIGN §12): a signed-in session may do what its roles allow; a user's
API key used as a credential here may only use the permissions in ``API_KEY_SCOPE`` (read the
catalogue, its own usage and itself), whatever its owner's roles; an admin API key is an admin.
"""

from __future__ import annotations

from app.auth.identity import Identity
from app.errors import Forbidden

ADMIN, READONLY, USER = "admin", "admin-readonly", "user"
PUBLIC = "public"
ANY_ROLE = frozenset({ADMIN, READONLY, USER})
ADMIN_READ = frozenset({ADMIN, READONLY})
ADMIN_ONLY = frozenset({ADMIN})

PERMISSIONS: dict[str, frozenset[str]] = {
    PUBLIC: frozenset(),
    "authenticated": ANY_ROLE,
    # own resources (users see theirs; admins and readonly admins see all)
    "jobs:read": ANY_ROLE,
    "subscriptions:read": ANY_ROLE,
    "subscriptions:write": frozenset({ADMIN, USER}),
    "api_keys:read": ANY_ROLE,
    "api_keys:write": frozenset({ADMIN, USER}),
    "teams:read": ANY_ROLE,
    "teams:write": frozenset({ADMIN, USER}),  # membership: admins, or the team's owners
    "usage:read": ANY_ROLE,
    "sessions:manage": ANY_ROLE,
    "account:read": ANY_ROLE,  # one's own profile and activity
    "account:write": ANY_ROLE,
    # admin views
    "admin:read": ADMIN_READ,
    "jobs:list": ADMIN_READ,
    "users:read": ADMIN_READ,
    "audit:read": ADMIN_READ,
    "models:validate": ADMIN_READ,
    "metrics:read": ADMIN_READ,
    "usage:read_all": ADMIN_READ,
    "usage:export": ADMIN_READ,  # a report of what admins may read; writes only a file
    "settings:read": ADMIN_READ,
    # admin writes
    "jobs:cancel": ADMIN_ONLY,
    "jobs:ping": ADMIN_ONLY,
    "models:write": ADMIN_ONLY,
    "models:sync": ADMIN_ONLY,
    "users:write": ADMIN_ONLY,
    "teams:manage": ADMIN_ONLY,  # create, rename, budgets and limits, delete
    "subscriptions:review": ADMIN_ONLY,
    "usage:admin": ADMIN_ONLY,
    "settings:write": ADMIN_ONLY,
    "reconcile:run": ADMIN_ONLY,
    "api_keys:admin": ADMIN_ONLY,
}

# An API key acts with the rights of a plain user on the owner's own resources ...
API_KEY_ROLES = (USER,)
# ... and only through these permissions: the catalogue (public routes and its sync stats),
# who it is (/auth/me), its own usage, and itself (services narrow "own" to the key). Never
# keys, subscriptions, teams, sessions, jobs or the account.
API_KEY_SCOPE = frozenset({PUBLIC, "authenticated", "usage:read", "api_keys:read"})
API_KEY_SCOPE_TEXT = ("a user's API key may call this operation, for its own usage and "
                      "itself only")


def roles_for(permission: str) -> frozenset[str]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown permission {permission!r}: add it to PERMISSIONS") from None


def allowed(roles: tuple[str, ...] | list[str], permission: str,
            credential: str = "session") -> bool:
    """Whether roles, presented with this kind of credential, hold the permission."""
    needed = roles_for(permission)
    if credential == "api_key" and permission not in API_KEY_SCOPE:
        return False
    return permission == PUBLIC or ADMIN in roles or bool(needed.intersection(roles))


def permitted(identity: Identity, permission: str) -> bool:
    return allowed(identity.roles, permission, identity.credential)


def require(identity: Identity, permission: str) -> Identity:
    if not permitted(identity, permission):
        from app.services import audit

        audit.record_now(
            "PERMISSION_DENIED",
            "permission",
            permission,
            success=False,
            actor=identity,
        )
        details = {"requiredPermission": permission,
                   "requiredRoles": sorted(roles_for(permission))}
        if identity.credential == "api_key":
            details["credential"] = "api_key"
            raise Forbidden("An API key cannot perform this action; sign in instead", details)
        raise Forbidden("You do not have permission to perform this action", details)
    return identity


def describe(permission: str) -> str:
    if permission == PUBLIC:
        return "**Access:** public."
    roles = ", ".join(sorted(roles_for(permission)))
    if permission in API_KEY_SCOPE:
        keys = f"**API keys:** {API_KEY_SCOPE_TEXT}."
    else:
        keys = ("**API keys:** a user's API key is refused (403); sign in, or use an admin "
                "API key.")
    return f"**Access:** permission `{permission}` (roles: {roles}). {keys}"
