"""L5 — display names (full name, provider username) carry no markup, bidi overrides, control
characters or line breaks: stripped when they come from the identity provider, refused when a
user sets them."""

from __future__ import annotations

import pytest

from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser
from tests.support.sign_in import oidc_settings, sign_in

BAD = ("<", ">", "\u202e", "\u2066", "\u200b", "\n", "\r", "\t", "\x07", '"', "`")


pytestmark = pytest.mark.usefixtures("fresh_provider")


def test_provider_names_are_cleaned(settings, provider):
    provider.user = FakeUser(sub="l5-1", username="eve<script>\u202e\n",
                             name="Eve \u202eevil\u202c <b>Bold</b>\r\nInjected: ok\x07\u200b")
    with extra_app(settings, **oidc_settings(provider)) as app:
        response = sign_in(app.test_client())
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    for value in (user["username"], user["fullName"]):
        assert not any(char in value for char in BAD), repr(value)
    assert user["fullName"] == "Eve evil bBold/b Injected: ok"
    assert user["username"] == "evescript"


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>", "Bob\u202eevil",
                                  "two\nlines", "tab\tname", "bell\x07", "zero\u200bwidth"])
def test_a_user_cannot_set_such_a_name(client, login, name):
    response = client.patch("/api/v1/users/me", json={"fullName": name}, headers=login("user"))
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


def test_an_ordinary_name_in_any_script_is_accepted(client, login):
    response = client.patch("/api/v1/users/me", json={"fullName": "Zoë O'Brien-Łukasz 山田"},
                            headers=login("user"))
    assert response.status_code == 200
