"""Browser journeys through the upstream LiteMaaS web UI in front of this backend.

Run by ``make e2e`` (``make test`` leaves this folder out). Each ``site`` is a whole system:
the backend as ``make run`` starts it, the built UI served with its /api proxy, and a way to
sign in: the mock sign-in of a development deployment, or OIDC against the test provider.
The journeys click, type and read the page; nothing intercepts or stubs a request.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e import stack as stacks
from tests.e2e import webui

ROOT = webui.ROOT
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / "e2e-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
TIMEOUT_MS = int(os.environ.get("E2E_TIMEOUT_MS", "20000"))
MODES = ("mock", "oidc")


@dataclass
class Site:
    """One running system as a browser user meets it."""

    mode: str  # mock | oidc
    stack: stacks.Stack
    ui: webui.UIServer
    oidc: object | None = None  # the FakeProvider in oidc mode

    @property
    def url(self) -> str:
        return self.ui.url


expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """This run's screenshots and logs only: the previous run's are removed first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    shutil.rmtree(ARTIFACTS / "logs", ignore_errors=True)
    (ARTIFACTS / "logs").mkdir()
    return ARTIFACTS


@pytest.fixture(scope="session")
def ui_dist() -> Path:
    return webui.build()


def _start_site(mode: str, dist: Path, artifacts: Path) -> Site:
    ui_port = stacks.free_port()
    ui_url = f"http://127.0.0.1:{ui_port}"
    oidc = None
    settings = {"OAUTH_MOCK": "true"}
    if mode == "oidc":
        from tests.support.fake_oidc import FakeProvider, FakeUser

        oidc = FakeProvider(client_id="litemaas-e2e").start()
        oidc.user = FakeUser(sub="e2e-0001", username="alice", email="alice@example.com",
                             name="Alice Example", groups=["developers"])
        settings = {"OAUTH_MOCK": "false", "OAUTH_PROVIDER": "oidc",
                    "OAUTH_CLIENT_ID": oidc.client_id,
                    "OAUTH_CLIENT_SECRET": oidc.client_secret,
                    "OAUTH_ISSUER_URL": oidc.url,
                    # Through the UI's origin, as upstream's deployment does (its nginx
                    # proxies /api/ to the backend).
                    "OAUTH_CALLBACK_URL": f"{ui_url}/api/auth/callback"}
    stack = stacks.make_stack(mode, artifacts / "logs", ui_url, **settings)
    try:
        stack.start()
        access_log = open(artifacts / "logs" / f"{mode}-webui.log", "a")  # noqa: SIM115
        ui = webui.UIServer(dist, stack.api_url, port=ui_port, access_log=access_log).start()
    except BaseException:
        stack.stop()
        if oidc is not None:
            oidc.stop()
        raise
    return Site(mode=mode, stack=stack, ui=ui, oidc=oidc)


@pytest.fixture(scope="session", params=MODES)
def site(request, ui_dist, artifacts) -> Iterator[Site]:
    site = _start_site(request.param, ui_dist, artifacts)
    yield site
    site.ui.stop()
    site.stack.stop()
    if site.oidc is not None:
        site.oidc.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site, artifacts, request):
    """A fresh browser profile on the site; its console errors and failed API answers are
    kept in the artifacts, and the end state is screenshotted whatever the outcome."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1400, "height": 900},
                                  locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    journal: list[str] = []
    page.on("console", lambda msg: journal.append(f"console.{msg.type}: {msg.text}")
            if msg.type in {"error", "warning"} else None)
    page.on("pageerror", lambda exc: journal.append(f"pageerror: {exc}"))
    page.on("requestfailed", lambda req: journal.append(
        f"requestfailed {req.method} {req.url}: {req.failure}"))
    page.on("response", lambda resp: journal.append(
        f"HTTP {resp.status} {resp.request.method} {resp.url}") if resp.status >= 400 else None)
    page.journal = journal
    yield page
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=False)
    except Exception as exc:  # a crashed page still gets its journal written
        journal.append(f"screenshot failed: {exc}")
    (artifacts / "logs" / f"{name}.journal.txt").write_text("\n".join(journal) + "\n")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Put the page's journal (console errors, failing API answers) in a failure's report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        journal = getattr(item.funcargs.get("page"), "journal", None)
        if journal:
            report.sections.append(("browser journal", "\n".join(journal[-40:])))


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS.is_dir():
        terminalreporter.write_line(f"e2e: screenshots, server logs and browser journals in "
                                    f"{ARTIFACTS}")
