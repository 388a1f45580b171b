"""RBAC matrix: every operation of the OpenAPI document, called by every kind of caller.

Callers: anonymous, ``user`` (owns the world's resources), ``other`` (a second plain user),
``adminro`` (admin-readonly), ``admin``, ``api_key`` (a key of ``user``: it acts for the owner
with user rights, narrowed to the API-key scope, so anything outside it is 403) and
``admin_api_key`` (from ``ADMIN_API_KEYS``). Each call runs against a
fresh world (users, sessions, a job, a team, models, subscriptions and an API key of ``user``).

The expected outcome is derived from the permission table (``app.auth.permissions``):
anonymous → 401 unless public; a role the permission does not allow → 403; an allowed caller
→ success, except on owner-scoped resources where others get 404 (and a readonly admin, who
may see the resource, is refused the change with 403/404).

ADDING OR CHANGING AN ENDPOINT? Add its row to ``OPERATIONS`` below. The test fails for any
operation in ``/docs/json`` without a row, for rows without an operation, and for rows whose
permission differs from the one the route declares. A row says: the permission, how to fill
the path parameters from the world (``params``), a minimal valid body, whether the resource is
owner-scoped (``scope``), which statuses count as "allowed through auth" (``ok``; add 400/409/
422 only when the outcome depends on state, not on the caller), and per-caller exceptions
(``expect``).

Beyond status codes, every successful mutating call must leave an audit row carrying its request
id, and no secret used here (JWTs, API keys) may appear in the captured logs or audit rows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from app.auth.permissions import PUBLIC, allowed
from app.extensions import db
from app.litellm import LiteLLMClient
from app.models import (
    ACTIVE_JOB_STATUSES,
    ApiKey,
    ApiKeyModel,
    AuditLog,
    Base,
    Job,
    Model,
    Subscription,
    Team,
    TeamMember,
    User,
)
from app.services import sessions

CALLERS = ("anonymous", "user", "other", "adminro", "admin", "api_key", "admin_api_key")
CALLER_ROLES = {
    "user": ("user",), "other": ("user",), "api_key": ("user",),
    "adminro": ("admin-readonly", "user"), "admin": ("admin", "user"),
    "admin_api_key": ("admin",),
}
CALLER_CREDENTIALS = {"api_key": "api_key", "admin_api_key": "admin_api_key"}
OWNER_CALLERS = {"user", "api_key"}  # act for the owner of the world's resources
ADMIN_KEY = "ltm_admin_test_key_0123456789"
SUCCESS = frozenset({200, 201, 202, 204})
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Op:
    permission: str
    params: dict[str, str] = field(default_factory=dict)  # {placeholder: World attribute}
    body: dict | Callable[[World], dict] | None = None
    query: str = ""
    scope: str | None = None  # "owned": owner and admins see it; "self": the owner only
    ok: frozenset[int] = SUCCESS
    expect: dict[str, Any] = field(default_factory=dict)  # caller → outcome override
    audited: bool = True  # False: a POST that only reads (no audit row expected)


def _lenient(*extra: int) -> frozenset[int]:
    return SUCCESS | frozenset(extra)


OPERATIONS: dict[tuple[str, str], Op] = {
    # health and documentation
    ("GET", "/api/v1/health"): Op(PUBLIC),
    ("GET", "/api/v1/health/ready"): Op(PUBLIC, ok=_lenient(503)),
    ("GET", "/api/v1/health/database"): Op(PUBLIC),
    # auth
    ("GET", "/api/v1/auth/config"): Op(PUBLIC),
    ("GET", "/api/v1/auth/login"): Op(PUBLIC, ok=frozenset({302, 503})),  # OAuth unconfigured
    ("POST", "/api/v1/auth/login"): Op(PUBLIC, body={"username": "newcomer"}),
    ("GET", "/api/v1/auth/callback"): Op(PUBLIC, ok=frozenset({400})),  # no state: refused
    ("POST", "/api/v1/auth/refresh"): Op(
        PUBLIC, body=lambda w: {"refreshToken": w.refresh_token}),
    ("POST", "/api/v1/auth/logout"): Op(
        "sessions:manage", expect={"admin_api_key": 400}),
    ("GET", "/api/v1/auth/sessions"): Op("sessions:manage"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): Op("sessions:manage", scope="self"),
    ("GET", "/api/v1/auth/me"): Op("authenticated"),
    # the web UI's sign-in (unversioned, its contract) and what it reads on every page load
    ("POST", "/api/auth/login"): Op(PUBLIC, body={}, ok=frozenset({503})),  # OAuth unconfigured
    ("GET", "/api/auth/callback"): Op(PUBLIC, ok=frozenset({302})),  # to the UI with #error=
    ("POST", "/api/auth/logout"): Op("sessions:manage", expect={"admin_api_key": 400}),
    ("POST", "/api/auth/dev-token"): Op(PUBLIC, body={"username": "admin",
                                                      "roles": ["admin", "user"]}),
    ("GET", "/api/v1/config"): Op(PUBLIC),
    ("GET", "/api/v1/config/admin-analytics"): Op(PUBLIC),
    ("GET", "/api/v1/config/api-key-defaults"): Op(PUBLIC),
    ("GET", "/api/v1/branding"): Op(PUBLIC),
    ("GET", "/api/v1/banners"): Op(PUBLIC),
    # jobs
    ("GET", "/api/v1/jobs"): Op("jobs:list"),
    ("POST", "/api/v1/jobs/ping"): Op("jobs:ping", body={"seconds": 0}),
    ("GET", "/api/v1/jobs/{job_id}"): Op("jobs:read", scope="owned"),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Op("jobs:cancel"),
    ("GET", "/api/v1/jobs/{job_id}/download"): Op(
        "jobs:read", scope="owned", params={"job_id": "export_job_id"}),
    # models
    ("GET", "/api/v1/models"): Op(PUBLIC),
    ("POST", "/api/v1/models/sync"): Op("models:sync", body={}),
    ("GET", "/api/v1/models/sync/stats"): Op("authenticated"),
    ("GET", "/api/v1/models/validate"): Op("models:validate"),
    ("GET", "/api/v1/models/health"): Op(PUBLIC),
    ("GET", "/api/v1/models/{model_id}"): Op(PUBLIC),
    ("PATCH", "/api/v1/models/{model_id}"): Op("models:write", body={"description": "tested"}),
    # subscriptions
    ("GET", "/api/v1/subscriptions"): Op("subscriptions:read"),
    ("POST", "/api/v1/subscriptions"): Op(
        "subscriptions:write", body=lambda w: {"modelId": w.free_model_id},
        expect={"admin_api_key": "deny"}),
    ("GET", "/api/v1/subscriptions/{subscription_id}"): Op("subscriptions:read", scope="owned"),
    # the owner changes a subscription here; admins use /admin/subscriptions
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): Op(
        "subscriptions:write", scope="self", body={"status": "cancelled"}),
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): Op(
        "subscriptions:write", scope="self"),
    ("GET", "/api/v1/subscriptions/{subscription_id}/history"): Op(
        "subscriptions:read", scope="owned"),
    # the web UI's paths: cancel, and a review asked again after a denial (a pending one
    # answers as it is)
    ("POST", "/api/v1/subscriptions/{subscription_id}/cancel"): Op(
        "subscriptions:write", scope="self"),
    ("POST", "/api/v1/subscriptions/{subscription_id}/request-review"): Op(
        "subscriptions:write", scope="self", ok=_lenient(409)),  # only a denied one
    ("GET", "/api/v1/admin/subscriptions"): Op("admin:read"),
    ("POST", "/api/v1/admin/subscriptions/{subscription_id}/approve"): Op(
        "subscriptions:review", params={"subscription_id": "pending_subscription_id"}, body={},
        expect={"admin_api_key": 403}),  # a grant names a signed-in reviewer (L1)
    ("POST", "/api/v1/admin/subscriptions/{subscription_id}/deny"): Op(
        "subscriptions:review", params={"subscription_id": "pending_subscription_id"},
        body={"reason": "not for this project"}),
    ("POST", "/api/v1/admin/subscriptions/{subscription_id}/suspend"): Op(
        "subscriptions:review", body={"reason": "budget review"}),
    ("POST", "/api/v1/admin/subscriptions/{subscription_id}/reactivate"): Op(
        "subscriptions:review", body={}, ok=_lenient(409),  # only a suspended one
        expect={"admin_api_key": 403}),  # a grant names a signed-in reviewer (L1)
    # API keys
    ("GET", "/api/v1/api-keys"): Op("api_keys:read"),
    ("POST", "/api/v1/api-keys"): Op(
        "api_keys:write", body=lambda w: {"name": "rbac key", "modelIds": [w.model_id]},
        ok=_lenient(400, 422),  # callers without a subscription to the model are refused
        expect={"admin_api_key": "deny"}),
    ("GET", "/api/v1/api-keys/{key_id}"): Op("api_keys:read", scope="owned"),
    ("PATCH", "/api/v1/api-keys/{key_id}"): Op(
        "api_keys:write", scope="owned", body={"name": "renamed"}),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Op("api_keys:write", scope="owned"),
    ("POST", "/api/v1/api-keys/{key_id}/rotate"): Op("api_keys:write", scope="self"),
    # no ENCRYPTION_KEY in tests: reveal answers 404 REVEAL_DISABLED to everyone allowed
    ("POST", "/api/v1/api-keys/{key_id}/reveal"): Op(
        "api_keys:write", scope="owned", ok=frozenset({200, 404})),
    ("POST", "/api/v1/api-keys/{key_id}/reset-spend"): Op("api_keys:write", scope="self"),
    # a user gets their own keys here (the web UI's usage filter calls it)
    ("GET", "/api/v1/admin/api-keys"): Op("api_keys:read"),
    ("POST", "/api/v1/admin/api-keys/{key_id}/revoke"): Op(
        "api_keys:admin", body={"reason": "leaked"}),
    ("POST", "/api/v1/admin/reconcile"): Op("reconcile:run"),
    # usage
    ("GET", "/api/v1/usage/summary"): Op("usage:read"),
    ("GET", "/api/v1/usage/timeseries"): Op("usage:read"),
    ("GET", "/api/v1/usage/models"): Op("usage:read"),
    ("GET", "/api/v1/usage/budget"): Op("usage:read", expect={"admin_api_key": 404}),
    ("POST", "/api/v1/usage/analytics"): Op(
        "usage:read", body={"startDate": "2026-01-01", "endDate": "2026-01-31"},
        audited=False),
    ("GET", "/api/v1/usage/export"): Op("usage:read", query="?format=csv"),
    # admins see everyone's, any other user their own (the web UI's usage page calls it)
    ("GET", "/api/v1/admin/usage/filter-options"): Op("usage:read"),
    ("GET", "/api/v1/admin/usage/summary"): Op("usage:read_all"),
    ("GET", "/api/v1/admin/usage/timeseries"): Op("usage:read_all"),
    ("GET", "/api/v1/admin/usage/by-user"): Op("usage:read_all"),
    ("GET", "/api/v1/admin/usage/by-team"): Op("usage:read_all"),
    ("GET", "/api/v1/admin/usage/by-model"): Op("usage:read_all"),
    ("GET", "/api/v1/admin/usage/by-provider"): Op("usage:read_all"),
    ("POST", "/api/v1/admin/usage/rollup"): Op("usage:admin", body={}),
    ("POST", "/api/v1/admin/usage/export"): Op("usage:export", body={"format": "csv"}),
    # users
    ("GET", "/api/v1/users"): Op("users:read"),
    ("GET", "/api/v1/users/me"): Op("account:read", expect={"admin_api_key": 404}),
    ("PATCH", "/api/v1/users/me"): Op(
        "account:write", body={"fullName": "Renamed"}, expect={"admin_api_key": 404}),
    ("GET", "/api/v1/users/me/activity"): Op("account:read", expect={"admin_api_key": 404}),
    ("GET", "/api/v1/users/{user_id}"): Op("users:read", params={"user_id": "other_id"}),
    ("PATCH", "/api/v1/users/{user_id}"): Op(
        "users:write", params={"user_id": "other_id"}, body={"maxBudget": 12.5}),
    # the admin user dialog: the user's budget, keys and subscriptions; limits for everyone
    ("GET", "/api/v1/admin/users/{user_id}"): Op("users:read", params={"user_id": "other_id"}),
    ("PATCH", "/api/v1/admin/users/{user_id}/budget-limits"): Op(
        "users:write", params={"user_id": "other_id"}, body={"maxBudget": 12.5}),
    ("POST", "/api/v1/admin/users/{user_id}/reset-spend"): Op(
        "users:write", params={"user_id": "other_id"}),
    ("GET", "/api/v1/admin/users/{user_id}/api-keys"): Op(
        "users:read", params={"user_id": "owner_id"}),
    ("POST", "/api/v1/admin/users/{user_id}/api-keys"): Op(
        "users:write", params={"user_id": "other_id"},
        body=lambda w: {"name": "made by an admin", "modelIds": [w.free_model_id]}),
    ("PATCH", "/api/v1/admin/users/{user_id}/api-keys/{key_id}"): Op(
        "users:write", params={"user_id": "owner_id"}, body={"name": "renamed by admin"}),
    ("DELETE", "/api/v1/admin/users/{user_id}/api-keys/{key_id}"): Op(
        "users:write", params={"user_id": "owner_id"}),
    ("POST", "/api/v1/admin/users/{user_id}/api-keys/{key_id}/reset-spend"): Op(
        "users:write", params={"user_id": "owner_id"}),
    ("GET", "/api/v1/admin/users/{user_id}/subscriptions"): Op(
        "users:read", params={"user_id": "owner_id"}),
    ("POST", "/api/v1/admin/users/{user_id}/subscriptions"): Op(
        "users:write", params={"user_id": "other_id"},
        body=lambda w: {"modelIds": [w.free_model_id]}),
    ("POST", "/api/v1/admin/users/bulk-update-limits"): Op(
        "users:write", body={"maxBudget": 50}),
    # runtime settings (the settings page's limits and currency tabs)
    ("GET", "/api/v1/admin/settings/api-key-defaults"): Op("settings:read"),
    ("PUT", "/api/v1/admin/settings/api-key-defaults"): Op(
        "settings:write", body={"defaults": {"maxBudget": 5}, "maximums": {"maxBudget": 50}}),
    ("GET", "/api/v1/admin/settings/user-defaults"): Op("settings:read"),
    ("PUT", "/api/v1/admin/settings/user-defaults"): Op(
        "settings:write", body={"maxBudget": 20, "tpmLimit": None, "rpmLimit": None}),
    ("GET", "/api/v1/admin/settings/currency"): Op("settings:read"),
    ("PUT", "/api/v1/admin/settings/currency"): Op("settings:write", body={"code": "EUR"}),
    ("GET", "/api/v1/admin/settings/currency/supported"): Op("settings:read"),
    # teams
    ("GET", "/api/v1/teams"): Op("teams:read"),
    ("POST", "/api/v1/teams"): Op("teams:manage", body={"name": "rbac-team-2"}),
    ("GET", "/api/v1/teams/{team_id}"): Op("teams:read", scope="owned"),
    ("PATCH", "/api/v1/teams/{team_id}"): Op("teams:manage", body={"maxBudget": 10}),
    ("DELETE", "/api/v1/teams/{team_id}"): Op("teams:manage"),
    ("GET", "/api/v1/teams/{team_id}/members"): Op("teams:read", scope="owned"),
    ("POST", "/api/v1/teams/{team_id}/members"): Op(
        "teams:write", scope="owned", body=lambda w: {"userId": w.admin_id}),
    ("PATCH", "/api/v1/teams/{team_id}/members/{user_id}"): Op(
        "teams:write", scope="owned", params={"user_id": "mate_id"}, body={"role": "owner"}),
    ("DELETE", "/api/v1/teams/{team_id}/members/{user_id}"): Op(
        "teams:write", scope="owned", params={"user_id": "mate_id"}),
    # audit and operations
    ("GET", "/api/v1/audit-logs"): Op("audit:read"),
    ("GET", "/metrics"): Op("metrics:read"),
}


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    secrets: list[str]
    admin_id: str
    other_id: str
    mate_id: str
    job_id: str
    export_job_id: str
    export_file: Path
    session_id: str
    refresh_token: str
    team_id: str
    model_id: str
    free_model_id: str
    subscription_id: str
    pending_subscription_id: str
    key_id: str
    owner_id: str = ""  # the user owning the world's key and subscriptions


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/docs/json").get_json()


@pytest.fixture(scope="module")
def catalogue(sim):
    with LiteLLMClient(sim.url, sim.master_key) as client:
        return client.model_info()[:3]


def _model(entry: dict, restricted: bool = False) -> Model:
    info = entry["model_info"]
    return Model(id=entry["model_name"], provider=info.get("litellm_provider") or "openai",
                 input_cost_per_token=info.get("input_cost_per_token"),
                 output_cost_per_token=info.get("output_cost_per_token"), restricted=restricted,
                 content_hash=hashlib.sha256(json.dumps(entry, sort_keys=True).encode())
                 .hexdigest(), litellm_info=entry)


def build_world(app, sim, catalogue) -> World:
    with app.app_context():
        users = {}
        for name, roles in (("admin", ["admin", "user"]), ("adminro", ["admin-readonly", "user"]),
                            ("user", ["user"]), ("other", ["user"]), ("mate", ["user"])):
            users[name] = User(id=uuid.uuid4(), username=name, email=f"{name}@example.com",
                               oauth_provider="mock", oauth_subject=name, roles=roles)
        db.session.add_all(users.values())
        db.session.flush()
        tokens = {name: sessions.start(users[name], "127.0.0.1", "rbac")
                  for name in ("admin", "adminro", "user", "other")}
        spare = sessions.start(users["user"], "127.0.0.1", "rbac-second-device")
        owner = users["user"]
        owner_id = str(owner.id)
        paid, restricted, free = catalogue
        db.session.add_all([_model(paid), _model(restricted, restricted=True), _model(free)])
        db.session.flush()
        active = Subscription(user_id=owner.id, model_id=paid["model_name"], status="active")
        pending = Subscription(user_id=owner.id, model_id=restricted["model_name"],
                               status="pending")
        team = Team(id=uuid.uuid4(), name="rbac-team", created_by=users["admin"].id)
        db.session.add_all([active, pending, team])
        db.session.flush()
        db.session.add_all([TeamMember(team_id=team.id, user_id=owner.id, role="owner"),
                            TeamMember(team_id=team.id, user_id=users["mate"].id,
                                       role="member")])
        job = Job(id=uuid.uuid4(), kind="worker_ping", status="queued", params={},
                  requested_by=owner.id)
        export = Job(id=uuid.uuid4(), kind="usage_export", status="succeeded", params={},
                     requested_by=owner.id, result={"file": f"rbac-{uuid.uuid4().hex}.csv",
                                                    "filename": "usage.csv"})
        export_dir = Path(app.config["EXPORT_DIR"])
        export_dir.mkdir(parents=True, exist_ok=True)
        export_file = export_dir / export.result["file"]
        export_file.write_text("date,requests\n")
        raw_key = "sk-" + secrets.token_urlsafe(36)[:48]
        digest = hashlib.sha256(raw_key.encode()).hexdigest()
        key = ApiKey(id=uuid.uuid4(), user_id=owner.id, name="rbac", key_prefix=raw_key[:10],
                     key_hash=digest, litellm_key_token=digest, provisioning_state="active")
        db.session.add_all([job, export, key])
        db.session.flush()
        db.session.add(ApiKeyModel(api_key_id=key.id, model_id=paid["model_name"]))
        db.session.commit()
        world = World(
            headers={
                "anonymous": {},
                **{name: {"Authorization": f"Bearer {tokens[name]['access_token']}"}
                   for name in tokens},
                "api_key": {"X-API-Key": raw_key},
                "admin_api_key": {"Authorization": f"Bearer {ADMIN_KEY}"},
            },
            secrets=[raw_key, ADMIN_KEY, spare["access_token"], spare["refresh_token"]]
            + [t[kind] for t in tokens.values() for kind in ("access_token", "refresh_token")],
            admin_id=str(users["admin"].id), other_id=str(users["other"].id),
            mate_id=str(users["mate"].id), job_id=str(job.id), export_job_id=str(export.id),
            export_file=export_file,
            session_id=str(spare["session_id"]), refresh_token=spare["refresh_token"],
            team_id=str(team.id), model_id=paid["model_name"],
            free_model_id=free["model_name"], subscription_id=str(active.id),
            pending_subscription_id=str(pending.id), key_id=str(key.id), owner_id=owner_id,
        )
        db.session.remove()
    with LiteLLMClient(sim.url, sim.master_key) as client:
        client.key_generate(key=raw_key, models=[world.model_id], user_id=owner_id,
                            key_alias=f"rbac-{world.key_id[:8]}")
    return world


def settle(app, world: World, patience: float = 5.0, timeout: float = 90.0) -> None:
    """Let the jobs a call queued (every job but the world's own) run to their end before
    the world is emptied.

    A running task keeps a transaction open, so emptying tables under it could hang; jobs
    still queued after ``patience`` (waiting out a retry) are cancelled, which makes the
    worker skip them.
    """
    started = time.monotonic()
    with app.app_context():
        while True:
            statuses = set(db.session.scalars(
                select(Job.status).where(Job.status.in_(ACTIVE_JOB_STATUSES),
                                         Job.id != uuid.UUID(world.job_id))))
            db.session.rollback()
            if not statuses:
                break
            waited = time.monotonic() - started
            if statuses == {"queued"} and waited > patience:
                db.session.execute(update(Job).where(Job.status == "queued",
                                                     Job.id != uuid.UUID(world.job_id))
                                   .values(status="cancelled"))
                db.session.commit()
                continue
            assert waited < timeout, f"jobs still {statuses} after {timeout}s"
            time.sleep(0.05)
        db.session.remove()


def reset_world(app, sim, world: World) -> None:
    """Empty every table (DELETE: much cheaper than TRUNCATE for a handful of rows)."""
    settle(app, world)
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
    world.export_file.unlink(missing_ok=True)  # only ours: other test runs share the dir
    sim.reset()


# --- expectations ---------------------------------------------------------------------------


def expected(op: Op, method: str, caller: str) -> Any:
    if caller in op.expect:
        return op.expect[caller]
    if op.permission == PUBLIC:
        return "ok"
    if caller == "anonymous":
        return 401
    if not allowed(CALLER_ROLES[caller], op.permission,
                   CALLER_CREDENTIALS.get(caller, "session")):
        return 403
    if op.scope is None or caller in OWNER_CALLERS:
        return "ok"
    if op.scope == "self" or caller == "other":
        return 404  # someone else's resource does not exist for them
    if method == "GET" or caller in ("admin", "admin_api_key"):
        return "ok"
    return "deny"  # a readonly admin sees the resource but may not change it


def matches(outcome: Any, status: int, op: Op) -> bool:
    if outcome == "ok":
        return status in op.ok
    if outcome == "deny":
        return status in (403, 404)
    return status == outcome


def fill(path: str, op: Op, world: World) -> str:
    for placeholder in (part[1:-1] for part in path.split("/") if part.startswith("{")):
        attribute = op.params.get(placeholder, placeholder)
        path = path.replace(f"{{{placeholder}}}", getattr(world, attribute))
    return path


# --- tests ----------------------------------------------------------------------------------


def documented(spec) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): operation for path, item in spec["paths"].items()
            for method, operation in item.items()
            if method in ("get", "post", "put", "patch", "delete")}


def test_every_documented_operation_has_a_row_and_every_row_an_operation(spec):
    operations = documented(spec)
    missing = sorted(set(operations) - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - set(operations))
    assert not missing, f"add these operations to OPERATIONS: {missing}"
    assert not stale, f"these rows have no operation any more: {stale}"


def test_rows_name_the_permission_each_route_declares(spec):
    wrong = {key: (op.get("x-required-permission", PUBLIC), OPERATIONS[key].permission)
             for key, op in documented(spec).items()
             if key in OPERATIONS
             and op.get("x-required-permission", PUBLIC) != OPERATIONS[key].permission}
    assert not wrong, f"(declared, in the table): {wrong}"


def _audit_text(app) -> str:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog)).all()
        text = json.dumps([[r.details, r.actor_label, r.user_agent, r.resource_id]
                           for r in rows], default=str)
        db.session.remove()
        return text


def _audited(app, request_id: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(AuditLog.id).where(AuditLog.request_id == request_id,
                                                            AuditLog.success.is_(True)))
        db.session.remove()
        return found is not None


def _response_secrets(response) -> list[str]:
    body = response.get_json(silent=True) or {}
    return [body[name] for name in ("key", "accessToken", "refreshToken")
            if isinstance(body, dict) and isinstance(body.get(name), str)]


@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=lambda o: f"{o[0]} {o[1]}")
def test_each_caller_gets_what_the_permission_table_says(operation, app, client, sim, catalogue,
                                                         celery_worker, capsys):
    method, path = operation
    op = OPERATIONS[operation]
    problems, used_secrets, audit_dumps = [], [], []
    for caller in CALLERS:
        world = build_world(app, sim, catalogue)
        body = op.body(world) if callable(op.body) else op.body
        request_id = f"rbac-{uuid.uuid4().hex}"
        response = client.open(fill(path, op, world) + op.query, method=method,
                               headers={**world.headers[caller], "X-Request-ID": request_id},
                               json=body if method in MUTATING else None)
        want = expected(op, method, caller)
        status = response.status_code
        if not matches(want, status, op):
            problems.append(f"{caller}: expected {want}, got {status} "
                            f"{(response.get_json(silent=True) or {}).get('error')}")
        elif status >= 400 and status != 503 and response.is_json:
            assert set(response.get_json()) == {"error"}, (caller, response.get_json())
        if (method in MUTATING and op.audited and status in SUCCESS
                and not _audited(app, request_id)):
            problems.append(f"{caller}: {status} but no audit row with the request id")
        used_secrets += world.secrets + _response_secrets(response)
        audit_dumps.append(_audit_text(app))
        reset_world(app, sim, world)
    assert not problems, f"{method} {path}:\n  " + "\n  ".join(problems)
    logs = capsys.readouterr().out
    for secret in used_secrets:
        assert secret not in logs, "a secret reached the logs"
        assert all(secret not in dump for dump in audit_dumps), "a secret reached the audit"

