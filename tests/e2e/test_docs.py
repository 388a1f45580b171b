"""`/docs` (Swagger UI) and `/docs/redoc` render in Chromium with every request to another
origin refused: the API reference works on an air-gapped cluster (issue 17, item 4).

The backend is the test app served over HTTP by werkzeug in a thread; the web UI is not needed.
"""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.e2e.conftest import TIMEOUT_MS


@pytest.fixture(scope="module")
def docs_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def offline_page(browser, docs_url):
    """A page whose requests to any other origin fail (and are counted), as without internet."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    own = urlparse(docs_url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []

    def route(request_route):
        if urlparse(request_route.request.url).netloc in (own, ""):
            request_route.continue_()
        else:
            elsewhere.append(request_route.request.url)
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.elsewhere, page.errors = elsewhere, errors
    yield page
    context.close()


def test_swagger_ui_renders_offline(offline_page, docs_url):
    page = offline_page
    page.goto(f"{docs_url}/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("LiteMaaS")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 20  # every operation of the API is listed
    page.locator(".opblock-summary-path", has_text="/api/v1/health/ready").first.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    assert page.elsewhere == [] and page.errors == []


def test_redoc_renders_offline(offline_page, docs_url):
    page = offline_page
    page.goto(f"{docs_url}/docs/redoc")
    # ReDoc lays out the whole spec (160 operations, 0.5 MB) before the first heading appears:
    # seconds on an idle core, more than the default wait on a loaded 2-core machine.
    expect(page.locator("h1").first).to_contain_text("LiteMaaS", timeout=90_000)
    expect(page.get_by_text("/api/v1/health/ready").first).to_be_attached()
    expect(page.locator("[role=search] input, input[placeholder='Search...']").first
           ).to_be_visible()
    assert page.elsewhere == [] and page.errors == []
