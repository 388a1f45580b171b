"""L10 — with FRONTEND_URL the sign-in hands the browser one UI-session token in the URL
fragment; a refresh token never travels in a URL (fragment or query)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask_jwt_extended import decode_token

from tests.support.apps import extra_app
from tests.support.sign_in import oidc_settings, sign_in

pytestmark = pytest.mark.usefixtures("fresh_provider")


def _ui_sign_in(client):
    auth_url = client.post("/api/auth/login", json={}).get_json()["authUrl"]
    back = urlsplit(requests.get(auth_url, allow_redirects=False, timeout=5).headers["Location"])
    return client.get(f"{back.path}?{back.query}")


@pytest.mark.parametrize("flow", ["native", "ui"])
def test_no_refresh_token_in_the_redirect(settings, provider, flow):
    with extra_app(settings, FRONTEND_URL="https://portal.example.com",
                   **oidc_settings(provider)) as app:
        client = app.test_client()
        response = sign_in(client) if flow == "native" else _ui_sign_in(client)
        assert response.status_code == 302
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert parts.query == "" and "refresh" not in location.lower()
        fragment = parse_qs(parts.fragment)
        assert set(fragment) == {"token", "expires_in"}
        with app.app_context():
            claims = decode_token(fragment["token"][0])
        assert claims["type"] == "access"
