"""M4 — roles granted by IdP groups follow the groups at every sign-in (gone when the group is
gone, and the user's tokens with them); roles granted in LiteMaaS stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import User
from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser
from tests.support.sign_in import oidc_settings, sign_in


@pytest.fixture(scope="module")
def oidc_app(settings, provider, app):
    with extra_app(settings, **oidc_settings(provider)) as oidc:
        yield oidc


pytestmark = pytest.mark.usefixtures("fresh_provider")


def test_admin_from_a_group_is_removed_when_the_group_is(oidc_app, provider, login):
    provider.user = FakeUser(sub="grp-1", username="gina", groups=["platform-admins"])
    client = oidc_app.test_client()
    first = sign_in(client).get_json()
    assert set(first["user"]["roles"]) == {"admin", "user"}
    old_token = {"Authorization": f"Bearer {first['accessToken']}"}
    provider.user = FakeUser(sub="grp-1", username="gina", groups=["developers"])
    again = sign_in(client).get_json()
    assert again["user"]["roles"] == ["user"]
    # the admin token of before the change stops working at once
    assert client.get("/api/v1/users", headers=old_token).status_code == 401
    with oidc_app.app_context():
        user = db.session.scalar(select(User).where(User.username == "gina"))
        assert user.roles == ["user"] and user.idp_roles == []


def test_a_role_granted_in_litemaas_survives_group_changes(oidc_app, provider, login):
    provider.user = FakeUser(sub="grp-2", username="hank", groups=["auditors"])
    client = oidc_app.test_client()
    hank = sign_in(client).get_json()["user"]
    assert set(hank["roles"]) == {"admin-readonly", "user"}
    # an admin grants admin here (the readonly role came from the group)
    granted = client.patch(f"/api/v1/users/{hank['id']}", headers=login("admin"),
                           json={"roles": ["admin", "admin-readonly", "user"]})
    assert granted.status_code == 200, granted.get_json()
    provider.user = FakeUser(sub="grp-2", username="hank", groups=[])
    roles = sign_in(client).get_json()["user"]["roles"]
    assert roles == ["admin", "user"]  # the LiteMaaS grant stays, the group's role is gone


def test_a_role_both_granted_here_and_by_a_group_stays_when_the_group_goes(
        oidc_app, provider, login):
    provider.user = FakeUser(sub="grp-3", username="ida", groups=["platform-admins"])
    client = oidc_app.test_client()
    ida = sign_in(client).get_json()["user"]
    # an admin takes admin away, then grants it here again: now it is a LiteMaaS grant
    admin = login("admin")
    assert client.patch(f"/api/v1/users/{ida['id']}", headers=admin,
                        json={"roles": ["user"]}).status_code == 200
    assert client.patch(f"/api/v1/users/{ida['id']}", headers=admin,
                        json={"roles": ["admin", "user"]}).status_code == 200
    provider.user = FakeUser(sub="grp-3", username="ida", groups=[])
    assert sign_in(client).get_json()["user"]["roles"] == ["admin", "user"]
