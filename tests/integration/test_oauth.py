"""OpenShift OAuth and generic OIDC sign-in, end to end against a fake provider over real HTTP
with real RS256-signed id_tokens, including the ways a sign-in must fail."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Job, User
from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser
from tests.support.jobs import wait_for_jobs

pytestmark = pytest.mark.usefixtures("fresh_provider")


def _oauth_settings(provider, kind: str) -> dict:
    return {"OAUTH_PROVIDER": kind, "OAUTH_CLIENT_ID": provider.client_id,
            "OAUTH_CLIENT_SECRET": provider.client_secret, "OAUTH_ISSUER_URL": provider.url,
            "OPENSHIFT_API_URL": provider.url, "ADMIN_GROUPS": ("platform-admins",),
            "READONLY_ADMIN_GROUPS": ("auditors",)}


@pytest.fixture(scope="module")
def oidc_app(settings, provider, app):
    with extra_app(settings, **_oauth_settings(provider, "oidc")) as oidc:
        yield oidc


@pytest.fixture(scope="module")
def openshift_app(settings, provider, app):
    with extra_app(settings, **_oauth_settings(provider, "openshift")) as openshift:
        yield openshift


def start(client):
    """GET /auth/login → the provider's authorize URL."""
    response = client.get("/api/v1/auth/login")
    assert response.status_code == 302, response.get_json()
    return response.headers["Location"]


def consent(authorize_url: str) -> str:
    """The browser at the provider: it redirects back with ?code&state."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def back(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client):
    return back(client, consent(start(client)))


def audit_rows(app, action: str) -> list[AuditLog]:
    with app.app_context():
        return db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()


# --- OIDC ----------------------------------------------------------------------------------


def test_login_redirects_to_provider_with_pkce_nonce_and_state(oidc_app, provider):
    client = oidc_app.test_client()
    location = start(client)
    assert location.startswith(f"{provider.url}/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["client_id"] == [provider.client_id]
    assert len(query["state"][0]) >= 40 and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/api/v1/auth/callback"]
    assert "openid" in query["scope"][0].split()
    cookie = client.get_cookie("litemaas_oauth", path="/api/v1/auth/callback")
    assert cookie is not None and cookie.http_only


def test_oidc_sign_in_creates_user_with_group_roles_and_provisions_litellm(
        oidc_app, provider, sim, celery_worker):
    provider.user = FakeUser(sub="oidc-42", username="carol", email="carol@example.com",
                             name="Carol C", groups=["platform-admins", "developers"])
    client = oidc_app.test_client()
    response = sign_in(client)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert body["user"]["username"] == "carol"
    assert set(body["user"]["roles"]) == {"admin", "user"}
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {body['accessToken']}"}).get_json()
    assert me["email"] == "carol@example.com" and me["fullName"] == "Carol C"
    with oidc_app.app_context():
        user = db.session.scalar(select(User).where(User.username == "carol"))
        assert (user.oauth_provider, user.oauth_subject) == ("oidc", "oidc-42")
        user_id = str(user.id)
    [job] = wait_for_jobs(oidc_app, "provision_user")
    assert job.status == "succeeded", job.error
    litellm_user = sim.state.users[user_id]
    assert litellm_user["user_email"] == "carol@example.com"
    assert litellm_user["max_budget"] == 100.0 and litellm_user["tpm_limit"] == 100000
    with oidc_app.app_context():
        assert db.session.get(User, user.id).litellm_user_id == user_id
    [login] = audit_rows(oidc_app, "LOGIN")
    assert login.details["provider"] == "oidc" and login.details["created"] is True


def test_second_sign_in_reuses_the_user_and_does_not_provision_again(
        oidc_app, provider, celery_worker):
    client = oidc_app.test_client()
    assert sign_in(client).status_code == 200
    wait_for_jobs(oidc_app, "provision_user")
    assert sign_in(client).status_code == 200
    with oidc_app.app_context():
        assert db.session.scalar(select(User).where(User.username == "alice")) is not None
        assert len(db.session.scalars(select(User)).all()) == 1
        assert len(db.session.scalars(select(Job).where(Job.kind == "provision_user")).all()) == 1


def test_roles_granted_in_litemaas_survive_the_next_sign_in(oidc_app, provider):
    client = oidc_app.test_client()
    first = sign_in(client).get_json()
    with oidc_app.app_context():
        user = db.session.get(User, first["user"]["id"])
        user.roles = ["admin-readonly", "user"]
        db.session.commit()
    again = sign_in(client).get_json()
    assert set(again["user"]["roles"]) == {"admin-readonly", "user"}


def test_wrong_state_is_refused_and_audited(oidc_app, provider):
    client = oidc_app.test_client()
    callback = consent(start(client))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = client.get(f"/api/v1/auth/callback?code={code}&state=not-the-state")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_STATE"
    [failed] = audit_rows(oidc_app, "LOGIN_FAILED")
    assert failed.success is False and failed.details["reason"] == "invalid_state"
    assert provider.token_requests == []  # the code was never exchanged


def test_state_is_single_use(oidc_app, provider):
    client = oidc_app.test_client()
    callback = consent(start(client))
    assert back(client, callback).status_code == 200
    replay = back(client, callback)
    assert replay.status_code == 400
    assert replay.get_json()["error"]["code"] == "INVALID_STATE"


def test_state_issued_to_another_browser_is_refused(oidc_app, provider):
    victim, attacker = oidc_app.test_client(), oidc_app.test_client()
    callback = consent(start(attacker))  # the attacker's own code and state ...
    response = back(victim, callback)  # ... planted in the victim's browser (login CSRF)
    assert response.status_code == 400
    assert audit_rows(oidc_app, "LOGIN_FAILED")[0].details["reason"] == "state_not_bound"


def test_state_lives_in_redis_with_a_short_ttl(oidc_app, provider):
    client = oidc_app.test_client()
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    with oidc_app.app_context():
        from app.auth.oauth import _state_key
        from app.extensions import redis_client

        ttl = redis_client().ttl(_state_key(state))
        assert 0 < ttl <= oidc_app.config["OAUTH_STATE_TTL_SECONDS"]
        redis_client().delete(_state_key(state))  # as if the TTL ran out
    callback = consent(f"{provider.url}/authorize?" + urlsplit(start(client)).query)
    stale = callback.replace(parse_qs(urlsplit(callback).query)["state"][0], state)
    assert back(client, stale).status_code == 400


def test_sign_in_started_on_one_worker_finishes_on_another(settings, provider, oidc_app):
    """Two app instances stand for two gunicorn workers: state is shared through Redis."""
    with extra_app(settings, **_oauth_settings(provider, "oidc")) as other_worker:
        first, second = oidc_app.test_client(), other_worker.test_client()
        callback = consent(start(first))
        cookie = first.get_cookie("litemaas_oauth", path="/api/v1/auth/callback")
        second.set_cookie("litemaas_oauth", cookie.value, path="/api/v1/auth/callback")
        response = back(second, callback)
        assert response.status_code == 200, response.get_json()


def test_expired_code_is_refused(oidc_app, provider):
    provider.knobs.code_ttl_seconds = 0
    response = sign_in(oidc_app.test_client())
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert audit_rows(oidc_app, "LOGIN_FAILED")[0].details["reason"] == "token_invalid_grant"
    with oidc_app.app_context():
        assert db.session.scalars(select(User)).all() == []


@pytest.mark.parametrize(("knob", "value", "reason"), [
    ("sign_with_wrong_key", True, "id_token_bad_signature"),
    ("id_token_issuer", "https://evil.example.com", "id_token_invalid_claim"),
    ("id_token_audience", "another-client", "id_token_invalid_claim"),
    ("id_token_nonce", "replayed-nonce", "id_token_invalid_claim"),
    ("id_token_lifetime", -600, "id_token_expired_token"),
])
def test_invalid_id_token_is_refused(oidc_app, provider, knob, value, reason):
    setattr(provider.knobs, knob, value)
    response = sign_in(oidc_app.test_client())
    assert response.status_code == 401, response.get_json()
    assert audit_rows(oidc_app, "LOGIN_FAILED")[0].details["reason"] == reason
    with oidc_app.app_context():
        assert db.session.scalars(select(User)).all() == []
        assert audit_rows(oidc_app, "LOGIN") == []


def test_discovery_document_of_another_issuer_is_refused(settings, provider):
    provider.knobs.discovery_issuer = "https://impostor.example.com"
    with extra_app(settings, **_oauth_settings(provider, "oidc")) as fresh:
        from app.auth import oauth

        oauth._discovery_cache.clear()
        response = fresh.test_client().get("/api/v1/auth/login")
        assert response.status_code == 503
        assert "Location" not in response.headers
        assert audit_rows(fresh, "LOGIN_FAILED")[0].details["reason"] == (
            "discovery_issuer_mismatch")


def test_provider_refusal_on_the_consent_page_is_reported(oidc_app, provider):
    client = oidc_app.test_client()
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(f"/api/v1/auth/callback?error=access_denied&state={state}")
    assert response.status_code == 400
    assert audit_rows(oidc_app, "LOGIN_FAILED")[0].details["providerError"] == "access_denied"


def test_provider_down_answers_503(oidc_app, provider):
    client = oidc_app.test_client()
    callback = consent(start(client))
    provider.knobs.down = True
    response = back(client, callback)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_groups_come_from_userinfo_when_the_id_token_has_none(oidc_app, provider):
    provider.knobs.groups_in_id_token = False
    provider.user = FakeUser(sub="ro-1", username="dave", groups=["auditors"])
    body = sign_in(oidc_app.test_client()).get_json()
    assert set(body["user"]["roles"]) == {"admin-readonly", "user"}


def test_deactivated_user_cannot_sign_in(oidc_app, provider):
    client = oidc_app.test_client()
    first = sign_in(client).get_json()
    with oidc_app.app_context():
        db.session.get(User, first["user"]["id"]).is_active = False
        db.session.commit()
    response = sign_in(client)
    assert response.status_code == 403
    assert audit_rows(oidc_app, "LOGIN_FAILED")[0].details["reason"] == "inactive"


def test_username_of_another_account_is_not_taken_over(oidc_app, provider, login):
    login("user")  # a mock account called "user"
    provider.user = FakeUser(sub="someone-else", username="user")
    response = sign_in(oidc_app.test_client())
    assert response.status_code == 409


def test_callback_redirects_to_the_frontend_with_tokens_in_the_fragment(settings, provider):
    with extra_app(settings, FRONTEND_URL="https://portal.example.com",
                   **_oauth_settings(provider, "oidc")) as fronted:
        client = fronted.test_client()
        response = sign_in(client)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert (location.scheme, location.netloc, location.path) == (
            "https", "portal.example.com", "/auth/callback")
        assert location.query == ""  # tokens never travel in a query string
        fragment = parse_qs(location.fragment)
        assert set(fragment) == {"token", "expires_in"}  # one UI-session token, no refresh
        token = fragment["token"][0]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        provider.knobs.code_ttl_seconds = 0
        failed = urlsplit(sign_in(client).headers["Location"])
        assert parse_qs(failed.fragment)["error"] == ["authentication_failed"]


def test_logout_offers_the_provider_end_session_url(oidc_app, provider):
    client = oidc_app.test_client()
    token = sign_in(client).get_json()["accessToken"]
    response = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["logoutUrl"] == f"{provider.url}/logout"


def test_login_without_oauth_configuration_answers_503(client):
    response = client.get("/api/v1/auth/login")
    assert response.status_code == 503
    config = client.get("/api/v1/auth/config").get_json()
    assert (config["provider"], config["oauthEnabled"]) == ("mock", False)


def test_auth_config_names_the_configured_provider(oidc_app):
    config = oidc_app.test_client().get("/api/v1/auth/config").get_json()
    assert (config["provider"], config["oauthEnabled"]) == ("oidc", True)


# --- OpenShift -----------------------------------------------------------------------------


def test_openshift_sign_in_reads_user_and_groups_from_the_user_api(openshift_app, provider):
    provider.user = FakeUser(sub="0d5e-uid", username="erin", email=None, name="Erin E",
                             groups=["auditors"])
    client = openshift_app.test_client()
    location = start(client)
    assert location.startswith(f"{provider.url}/oauth/authorize?")
    assert parse_qs(urlsplit(location).query)["scope"] == ["user:info user:check-access"]
    response = back(client, consent(location))
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["username"] == "erin" and user["fullName"] == "Erin E"
    assert set(user["roles"]) == {"admin-readonly", "user"}
    with openshift_app.app_context():
        row = db.session.get(User, user["id"])
        assert (row.oauth_provider, row.oauth_subject) == ("openshift", "0d5e-uid")
    assert provider.token_requests[0]["code_verifier"]


def test_openshift_user_api_refusing_the_token_fails_the_sign_in(openshift_app, provider):
    client = openshift_app.test_client()
    callback = consent(start(client))
    original = provider._bearer_user
    provider._bearer_user = lambda: None
    try:
        response = back(client, callback)
    finally:
        provider._bearer_user = original
    assert response.status_code == 401
    assert audit_rows(openshift_app, "LOGIN_FAILED")[0].details["reason"] == (
        "provider_refused_token")
