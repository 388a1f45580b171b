"""L4 — overlong IdP claims: the sign-in answers a clean 4xx (or sends the UI back with an
error), never a 500, stores nothing, and the claim's value (personal data) is not logged or
audited."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, User
from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser
from tests.support.sign_in import oidc_settings, sign_in

LONG = "Zebediah" * 1000  # 8000 characters


pytestmark = pytest.mark.usefixtures("fresh_provider")


@pytest.mark.parametrize("user", [
    FakeUser(sub="s" * 300, username="ok"),
    FakeUser(sub="sub-1", username=LONG),
    FakeUser(sub="sub-2", username="ok", name=LONG),
    FakeUser(sub="sub-3", username="ok", email=f"{LONG}@example.com"),
], ids=["sub", "username", "name", "email"])
def test_overlong_claims_are_refused_cleanly_and_not_logged(settings, provider, user, capsys,
                                                              caplog):
    provider.user = user
    with extra_app(settings, **oidc_settings(provider)) as app:
        response = sign_in(app.test_client())
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert body["error"]["code"] == "AUTHENTICATION_FAILED"
        assert body["error"]["details"] == {"reason": "claim_too_long"}
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(User)) == 0
            audit = json.dumps([r.details for r in db.session.scalars(select(AuditLog))])
            db.session.remove()
    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    needle = "s" * 300 if user.sub.startswith("sss") else "Zebediah" * 10
    assert needle not in logged and needle not in audit
    assert needle not in json.dumps(body)


def test_the_ui_is_sent_back_with_an_error(settings, provider):
    provider.user = FakeUser(sub="sub-4", username="ok", name=LONG)
    with extra_app(settings, FRONTEND_URL="https://portal.example.com",
                   **oidc_settings(provider)) as app:
        response = sign_in(app.test_client())
    assert response.status_code == 302
    fragment = parse_qs(urlsplit(response.headers["Location"]).fragment)
    assert fragment["error"] == ["authentication_failed"]


def test_a_long_but_acceptable_name_is_cut_not_refused(settings, provider):
    provider.user = FakeUser(sub="sub-5", username="pat", name="P" * 1000)
    with extra_app(settings, **oidc_settings(provider)) as app:
        response = sign_in(app.test_client())
    assert response.status_code == 200
    assert response.get_json()["user"]["fullName"] == "P" * 255
