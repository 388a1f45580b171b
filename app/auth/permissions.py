"""The one permission table: every route names a permission, every check reads this table.

``admin`` may do everything; ``admin-readonly`` every admin read and no write of any kind;
``user`` own resources only (services scope queries to the caller's id).
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
    # admin views
    "admin:read": ADMIN_READ,
    "jobs:list": ADMIN_READ,
    "users:read": ADMIN_READ,
    "audit:read": ADMIN_READ,
    "models:validate": ADMIN_READ,
    "metrics:read": ADMIN_READ,
    "usage:read_all": ADMIN_READ,
    "usage:export": ADMIN_READ,  # a report of what admins may read; writes only a file
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

# An API key acts with the rights of a plain user on the owner's own resources.
API_KEY_ROLES = (USER,)


def roles_for(permission: str) -> frozenset[str]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown permission {permission!r}: add it to PERMISSIONS") from None


def allowed(roles: tuple[str, ...] | list[str], permission: str) -> bool:
    needed = roles_for(permission)
    return permission == PUBLIC or ADMIN in roles or bool(needed.intersection(roles))


def require(identity: Identity, permission: str) -> Identity:
    if not allowed(identity.roles, permission):
        from app.services import audit

        audit.record_now(
            "PERMISSION_DENIED",
            "permission",
            permission,
            success=False,
            actor=identity,
        )
        raise Forbidden(
            "You do not have permission to perform this action",
            {"requiredPermission": permission, "requiredRoles": sorted(roles_for(permission))},
        )
    return identity


def describe(permission: str) -> str:
    if permission == PUBLIC:
        return "**Access:** public."
    roles = ", ".join(sorted(roles_for(permission)))
    return f"**Access:** permission `{permission}` (roles: {roles})."
