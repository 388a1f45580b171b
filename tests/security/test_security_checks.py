"""Security checks: forged, unsigned, expired and revoked JWTs; API keys of revoked keys and of
deactivated users; a readonly admin attempting every admin write of the OpenAPI document; users
reading others' resources by id; CORS only for configured origins; security headers on every
kind of answer; and no secret in the logs of a whole session of use."""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest
from sqlalchemy import func, select

from app.auth.permissions import allowed
from app.extensions import db
from app.models import AuditLog, Team
from tests.integration.provisioning_support import create_key, seed_models, subscribe
from tests.support.apps import extra_app
from tests.support.jobs import settle_jobs

ADMIN_KEY = "ltm_admin_test_key_0123456789"
WRITES = {"post", "put", "patch", "delete"}
FAKE_ID = "00000000-0000-4000-8000-000000000000"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response, status: int = 401) -> None:
    assert response.status_code == status, (response.status_code, response.get_data())
    assert response.get_json()["error"]["code"] in ("UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND")


# -- JWTs ---------------------------------------------------------------------------------------


def test_forged_tokens_are_refused(client, login, settings):
    token = login("user")["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    elevated = {**claims, "roles": ["admin"]}
    forged = {
        "alg_none": jwt.encode(elevated, None, algorithm="none"),
        "alg_none_unmodified": jwt.encode(claims, None, algorithm="none"),
        "wrong_key": jwt.encode(elevated, "x" * 64, algorithm="HS256"),
        "other_alg_same_key": jwt.encode(claims, settings.JWT_SECRET, algorithm="HS512"),
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 5},
                              settings.JWT_SECRET, algorithm="HS256"),
        "not_yet_valid": jwt.encode({**claims, "nbf": int(time.time()) + 3600},
                                    settings.JWT_SECRET, algorithm="HS256"),
        "other_user": jwt.encode({**claims, "sub": str(uuid.uuid4())}, settings.JWT_SECRET,
                                 algorithm="HS256"),
        "refresh_as_access": jwt.encode({**claims, "type": "refresh"}, settings.JWT_SECRET,
                                        algorithm="HS256"),
        "truncated": token[:-5],
    }
    for name, bad in forged.items():
        response = client.get("/api/v1/auth/me", headers=bearer(bad))
        assert response.status_code == 401, name
    # a properly signed token with elevated role claims still gets the user's real roles
    resigned = jwt.encode(elevated, settings.JWT_SECRET, algorithm="HS256")
    me = client.get("/api/v1/auth/me", headers=bearer(resigned))
    assert me.status_code == 200 and me.get_json()["roles"] == ["user"]
    assert client.get("/api/v1/users", headers=bearer(resigned)).status_code == 403


def test_revoked_session_tokens_are_refused(client):
    tokens = client.post("/api/v1/auth/login", json={"username": "user"}).get_json()
    headers = bearer(tokens["accessToken"])
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", json={}, headers=headers).status_code in (200,
                                                                                        204)
    assert_refused(client.get("/api/v1/auth/me", headers=headers))
    assert_refused(client.post("/api/v1/auth/refresh",
                               json={"refreshToken": tokens["refreshToken"]}))


# -- API keys -----------------------------------------------------------------------------------


@pytest.fixture
def keyed(app, client, login, sim):
    models = seed_models(app, sim, count=2)
    user = login("user")
    subscribe(client, user, models[0])
    key = create_key(client, user, [models[0]])
    return {"user": user, "admin": login("admin"), "key": key, "models": models}


def test_api_key_of_a_deactivated_user_is_refused(client, keyed):
    as_key = {"X-API-Key": keyed["key"]["key"]}
    assert client.get("/api/v1/api-keys", headers=as_key).status_code == 200
    user_id = keyed["key"]["userId"]
    assert client.patch(f"/api/v1/users/{user_id}", json={"isActive": False},
                        headers=keyed["admin"]).status_code == 200
    assert_refused(client.get("/api/v1/api-keys", headers=as_key))
    assert_refused(client.get("/api/v1/api-keys", headers=bearer(keyed["key"]["key"])))
    assert_refused(client.get("/api/v1/auth/me", headers=keyed["user"]))  # sessions too


def test_revoked_api_key_is_refused(client, keyed):
    as_key = {"X-API-Key": keyed["key"]["key"]}
    assert client.get("/api/v1/api-keys", headers=as_key).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{keyed['key']['id']}",
                         headers=keyed["user"]).status_code in (200, 202, 204)
    assert_refused(client.get("/api/v1/api-keys", headers=as_key))


def test_api_key_cannot_reach_admin_operations(client, keyed):
    as_key = {"X-API-Key": keyed["key"]["key"]}
    for path in ("/api/v1/users", "/api/v1/jobs", "/api/v1/audit-logs"):
        assert_refused(client.get(path, headers=as_key), 403)
    assert_refused(client.post("/api/v1/models/sync", json={}, headers=as_key), 403)


# -- readonly admin, every write -----------------------------------------------------------------


# Admin-level writes a readonly admin may still make: an export only writes a report of what
# readonly admins may read anyway; usage:read_all is POST /admin/usage/analytics, a read sent
# as POST (the web UI's filters in the body). Anything else added here must be a deliberate
# decision.
READONLY_MAY = {"usage:export", "usage:read_all"}


def _admin_writes(client) -> list[tuple[str, str, str]]:
    """Every write of the document whose permission is beyond a plain user's."""
    document = client.get("/docs/json").get_json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            permission = operation.get("x-required-permission")
            if (method in WRITES and permission and not allowed(("user",), permission)
                    and permission not in READONLY_MAY):
                found.append((method, path, permission))
    return found


def test_readonly_admin_is_refused_every_admin_write(app, client, login, celery_worker):
    adminro = login("adminro")
    settle_jobs(app)  # the sign-in's LiteLLM user job succeeds before counting
    writes = _admin_writes(client)
    assert len(writes) >= 10
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditLog)
                                   .where(AuditLog.success.is_(True)))
        db.session.remove()
    for method, path, permission in writes:
        url = re.sub(r"\{[^}]+\}", FAKE_ID, path)
        response = getattr(client, method)(url, json={}, headers=adminro)
        assert response.status_code == 403, (method, path, permission, response.get_json())
        assert response.get_json()["error"]["code"] == "FORBIDDEN"
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(AuditLog)
                                  .where(AuditLog.success.is_(True)))
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0
        db.session.remove()
    assert after == before  # nothing changed, nothing succeeded


# -- other users' resources ----------------------------------------------------------------------


def test_users_get_404_for_other_users_resources(app, client, login, sim, celery_worker):
    models = seed_models(app, sim, count=2)
    owner, other = login("owner-a"), login("other-b")
    subscription = subscribe(client, owner, models[0])
    key = create_key(client, owner, [models[0]])
    export = client.post("/api/v1/admin/usage/export", json={"format": "csv"},
                         headers={**login("admin"), "Prefer": "respond-async"})
    owned = {
        f"/api/v1/subscriptions/{subscription['id']}": {"get": None, "delete": None,
                                                         "patch": {"status": "cancelled"}},
        f"/api/v1/api-keys/{key['id']}": {"get": None, "delete": None,
                                          "patch": {"name": "mine now"}},
        f"/api/v1/api-keys/{key['id']}/rotate": {"post": {}},
    }
    if export.status_code == 202:
        owned[f"/api/v1/jobs/{export.get_json()['jobId']}"] = {"get": None}
    for path, methods in owned.items():
        for method, body in methods.items():
            kwargs = {} if body is None else {"json": body}
            response = getattr(client, method)(path, headers=other, **kwargs)
            assert response.status_code == 404, (method, path, response.get_json())
            assert response.get_json()["error"]["code"] == "NOT_FOUND"
    listing = client.get("/api/v1/api-keys", headers=other).get_json()
    assert listing["data"] == [] and listing["pagination"]["total"] == 0
    assert client.get(f"/api/v1/api-keys/{key['id']}", headers=owner).status_code == 200
    from tests.support.jobs import settle_jobs

    settle_jobs(app)


# -- CORS and headers ----------------------------------------------------------------------------


def test_cors_answers_only_configured_origins(app, settings):
    with extra_app(settings, CORS_ORIGINS=("https://ui.example.com",)) as cors_app:
        client = cors_app.test_client()
        for origin, allowed_origin in (("https://ui.example.com", True),
                                       ("https://evil.example.com", False),
                                       ("null", False), ("https://ui.example.com.evil.io", False)):
            preflight = client.options("/api/v1/models", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization"})
            simple = client.get("/api/v1/models", headers={"Origin": origin})
            for response in (preflight, simple):
                header = response.headers.get("Access-Control-Allow-Origin")
                assert header == (origin if allowed_origin else None), (origin, header)
                assert response.headers.get("Access-Control-Allow-Credentials") != "true"
    plain = app.test_client().get("/api/v1/models", headers={"Origin": "https://ui.example.com"})
    assert "Access-Control-Allow-Origin" not in plain.headers  # none configured: no CORS


def test_security_headers_on_every_kind_of_answer(client, login):
    user = login("user")
    catalogue = client.get("/api/v1/models")  # public, cached with ETag: revalidated
    assert catalogue.headers["Cache-Control"] == "no-cache" and catalogue.headers["ETag"]
    answers = [
        client.get("/api/v1/auth/me", headers=user),                    # 200 authenticated
        client.get("/api/v1/auth/me"),                                  # 401
        client.get("/api/v1/users", headers=user),                      # 403
        client.get(f"/api/v1/api-keys/{FAKE_ID}", headers=user),        # 404
        client.post("/api/v1/teams", data="x", content_type="text/plain", headers=user),  # 415
        client.get("/api/v1/nowhere"),                                   # 404 unknown route
    ]
    for response in answers:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert "Server" not in response.headers or "Werkzeug" not in response.headers["Server"]
    secure = client.get("/api/v1/health", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


# -- secrets in logs -----------------------------------------------------------------------------


def test_no_secret_reaches_the_logs(app, client, sim, settings, capsys, caplog, celery_worker):
    caplog.set_level("DEBUG")
    tokens = client.post("/api/v1/auth/login", json={"username": "user"}).get_json()
    user = bearer(tokens["accessToken"])
    models = seed_models(app, sim, count=2)
    subscribe(client, user, models[0])
    key = create_key(client, user, [models[0]])["key"]
    client.get("/api/v1/api-keys", headers={"X-API-Key": key})
    client.get("/api/v1/users", headers={"X-API-Key": ADMIN_KEY})
    bogus = "sk-" + "B" * 48
    client.get("/api/v1/api-keys", headers={"X-API-Key": bogus})   # refused and audited
    client.get("/api/v1/auth/me", headers=bearer(tokens["accessToken"] + "x"))
    client.post("/api/v1/auth/refresh", headers=bearer(tokens["refreshToken"]))
    sim.configure(down=True)                                         # errors from LiteLLM
    pending = create_key(client, user, [models[0]], name="pending", expect=202)
    sim.configure(down=False)
    from tests.support.jobs import wait_for_jobs

    wait_for_jobs(app, "provision_key")
    # an admin pastes the key itself into the revocation reason: the audit row must not keep it
    admin = bearer(client.post("/api/v1/auth/login", json={"username": "admin"}).get_json()[
        "accessToken"])
    revoked = client.post(f"/api/v1/admin/api-keys/{pending['id']}/revoke",
                          json={"reason": f"leaked in a chat: {pending['key']}"}, headers=admin)
    assert revoked.status_code == 202, revoked.get_json()
    wait_for_jobs(app, "revoke_key")
    client.post("/api/v1/auth/logout", json={}, headers=user)
    logged = capsys.readouterr()
    text = logged.out + logged.err + caplog.text
    with app.app_context():
        audit_text = " ".join(str(row.details) for row in db.session.scalars(select(AuditLog)))
        db.session.remove()
    secrets = {"access token": tokens["accessToken"], "refresh token": tokens["refreshToken"],
               "api key": key, "pending api key": pending["key"], "bogus key": bogus,
               "admin api key": ADMIN_KEY, "litellm master key": settings.LITELLM_API_KEY,
               "jwt secret": settings.JWT_SECRET}
    assert "request" in text  # the logs were captured
    for name, secret in secrets.items():
        assert secret not in text, f"{name} in the logs"
        assert secret not in audit_text, f"{name} in the audit trail"
        assert secret[8:40] not in text, f"part of the {name} in the logs"
