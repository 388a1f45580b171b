"""M5 — identity is bound to the provider's stable subject; an email is used only when the
provider verified it; INITIAL_ADMIN_USERS cannot be claimed with self-chosen claims (a
preferred_username or an unverified email), so a first claimer takes over nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser
from tests.support.sign_in import oidc_settings, sign_in

INITIAL = ("boss@example.com", "boss", "oidc:sub-of-the-boss")


@pytest.fixture(scope="module")
def oidc_app(settings, provider, app):
    with extra_app(settings, **oidc_settings(provider, INITIAL_ADMIN_USERS=INITIAL)) as oidc:
        yield oidc


pytestmark = pytest.mark.usefixtures("fresh_provider")


def test_a_chosen_username_or_unverified_email_does_not_claim_initial_admin(oidc_app, provider):
    provider.user = FakeUser(sub="attacker-1", username="boss", email="boss@example.com",
                             email_verified=False, groups=[])
    response = sign_in(oidc_app.test_client())
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["roles"] == ["user"]
    assert user["email"] is None  # an unverified email is not kept either


def test_an_email_without_email_verified_is_not_trusted(oidc_app, provider):
    provider.user = FakeUser(sub="attacker-2", username="mallory", email="boss@example.com",
                             email_verified=None, groups=[])
    user = sign_in(oidc_app.test_client()).get_json()["user"]
    assert user["roles"] == ["user"] and user["email"] is None


def test_a_verified_email_or_the_subject_claims_initial_admin(oidc_app, provider):
    provider.user = FakeUser(sub="real-boss", username="the-boss", email="boss@example.com",
                             email_verified=True, groups=[])
    assert set(sign_in(oidc_app.test_client()).get_json()["user"]["roles"]) == {"admin", "user"}
    provider.user = FakeUser(sub="sub-of-the-boss", username="boss-by-sub", email=None,
                             groups=[])
    assert set(sign_in(oidc_app.test_client()).get_json()["user"]["roles"]) == {"admin", "user"}


def test_the_account_follows_the_subject_not_the_claims(oidc_app, provider):
    provider.user = FakeUser(sub="stable-1", username="nora", email="nora@example.com")
    first = sign_in(oidc_app.test_client()).get_json()["user"]
    provider.user = FakeUser(sub="stable-1", username="nora-renamed", email="n@example.com")
    again = sign_in(oidc_app.test_client()).get_json()["user"]
    assert again["id"] == first["id"]
    # someone else presenting nora's verified email gets their own account, never hers
    provider.user = FakeUser(sub="other-2", username="not-nora", email="nora@example.com")
    other = sign_in(oidc_app.test_client()).get_json()["user"]
    assert other["id"] != first["id"]
    with oidc_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_a_username_already_taken_is_not_taken_over(oidc_app, provider):
    provider.user = FakeUser(sub="first-1", username="olga")
    first = sign_in(oidc_app.test_client())
    assert first.status_code == 200
    provider.user = FakeUser(sub="second-2", username="olga")
    second = sign_in(oidc_app.test_client())
    assert second.status_code == 409
    assert "accessToken" not in (second.get_json() or {})
