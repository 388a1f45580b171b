"""Also (issue 14): Swagger UI and ReDoc are served from pinned packages on this server, not a
CDN; the docs pages' CSP allows no other origin."""

from __future__ import annotations

import re

import pytest

ASSETS = [
    ("/docs/assets/swagger-ui/swagger-ui-bundle.js", "javascript", b"SwaggerUIBundle"),
    ("/docs/assets/swagger-ui/swagger-ui-standalone-preset.js", "javascript",
     b"SwaggerUIStandalonePreset"),
    ("/docs/assets/swagger-ui/swagger-ui.css", "text/css", b".swagger-ui"),
    ("/docs/assets/redoc/redoc.standalone.js", "javascript", b"Redoc"),
]


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs/", "/docs/redoc"])
def test_docs_pages_load_only_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    urls = referenced(response.get_data(as_text=True))
    assert urls, "the page loads its UI"
    for url in urls:
        assert url.startswith("/docs/assets/"), url
        assert client.get(url).status_code == 200, url
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp


@pytest.mark.parametrize(("path", "kind", "marker"), ASSETS)
def test_assets_are_the_packaged_builds(client, path, kind, marker):
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.content_type
    assert marker in response.get_data()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_only_listed_assets_are_served(client):
    for path in ("/docs/assets/swagger-ui/../../app/__init__.py",
                 "/docs/assets/swagger-ui/index.html", "/docs/assets/redoc/plugins.py",
                 "/docs/assets/other/redoc.standalone.js"):
        assert client.get(path).status_code == 404, path
