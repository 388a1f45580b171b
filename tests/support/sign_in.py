"""Drive a provider sign-in through the API as a browser would (the fake OIDC provider)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests


def oidc_settings(provider, **extra) -> dict:
    return {"OAUTH_PROVIDER": "oidc", "OAUTH_CLIENT_ID": provider.client_id,
            "OAUTH_CLIENT_SECRET": provider.client_secret, "OAUTH_ISSUER_URL": provider.url,
            "OPENSHIFT_API_URL": provider.url, "ADMIN_GROUPS": ("platform-admins",),
            "READONLY_ADMIN_GROUPS": ("auditors",), **extra}


def sign_in(client):
    """GET /api/v1/auth/login → the provider consents → the callback's answer."""
    started = client.get("/api/v1/auth/login")
    assert started.status_code == 302, started.get_json()
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}")
