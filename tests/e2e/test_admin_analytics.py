"""Admin journeys of issue 16 through the upstream UI: the admin usage analytics page (the
figures LiteLLM recorded, a model filter, "Refresh Today", the export as a file) and the audit
page (search, the action filter); a readonly admin sees both pages and the server refuses every
change (403).

Mock sign-in is upstream's built-in admin; its readonly admin is the mock user ``adminro`` (the
UI is told it is an admin, so it offers every write control and the server must refuse). With
OIDC the test provider's groups make the person an admin or a readonly admin.

Upstream's admin export fetches with ``localStorage.access_token``, which its mock sign-in never
sets (the request carries ``Bearer null``): the export is driven with OIDC sign-in only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.ui import create_key, go, sign_in, subscribe, toast

# Models no other journey subscribes to (journeys share one site per sign-in mode).
MODEL = "gemini-1.5-pro"
AUDITED_MODEL = "llama3-70b-8192"


def _chat(site, key: str, model: str, text: str = "hello") -> requests.Response:
    """What an application does with a key: a chat completion at LiteLLM."""
    return requests.post(f"{site.stack.sim_url}/v1/chat/completions", timeout=10,
                         headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "user", "content": text}]})


def _week() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=6)).isoformat(), today.isoformat()


def _rollup(site) -> None:
    """The operator's rollup of the last week of LiteLLM's daily spend (a job)."""
    start, end = _week()
    for _ in range(60):
        answer = site.stack.admin("POST", "/api/v1/admin/usage/rollup",
                                  json={"startDate": start, "endDate": end})
        if answer.status_code != 409:  # another rollup running: wait for it
            break
        time.sleep(1)
    assert answer.status_code == 202, answer.text
    job = site.stack.wait_for_job(answer.json()["jobId"])
    assert job["status"] == "succeeded", job


def _recorded(site, **filters) -> dict:
    """What LiteLLM recorded over the last week for everyone (its daily activity totals)."""
    start, end = _week()
    answer = site.stack.sim("GET", "/user/daily/activity", params={
        "start_date": start, "end_date": end, "page_size": 1000, **filters})
    assert answer.ok, answer.text
    return answer.json()


def _requests_of(activity: dict, model: str | None = None) -> int:
    if model is None:
        return activity["metadata"]["total_api_requests"]
    return sum(day["breakdown"]["models"].get(model, {}).get("metrics", {})
               .get("api_requests", 0) for day in activity["results"])


@contextlib.contextmanager
def _oidc_person(site, username: str, groups: list[str]):
    """With OIDC: the test provider signs in this person (restored afterwards)."""
    from tests.support.fake_oidc import FakeUser

    kept = site.oidc.user
    site.oidc.user = FakeUser(sub=f"e2e-{username}", username=username,
                              email=f"{username}@example.com", name=username.title(),
                              groups=groups)
    try:
        yield
    finally:
        site.oidc.user = kept


def _sign_in_admin(page, site, stack: contextlib.ExitStack) -> None:
    if site.mode == "oidc":
        stack.enter_context(_oidc_person(site, "olivia", ["litemaas-admins"]))
    sign_in(page, site)


def _sign_in_readonly(page, site, stack: contextlib.ExitStack) -> None:
    if site.mode == "oidc":
        stack.enter_context(_oidc_person(site, "rita", ["litemaas-readonly"]))
        sign_in(page, site)
        return
    # Mock: the server's mock user adminro is a readonly admin; the UI is told "admin".
    page.goto("/login")
    page.evaluate("user => localStorage.setItem('litemaas_admin_user', JSON.stringify(user))",
                  {"id": "adminro", "username": "adminro", "email": "adminro@example.com",
                   "name": "Readonly", "roles": ["admin", "user"]})
    page.goto("/home")


def _card(page, label: str, value) -> object:
    return page.get_by_role("article", name=f"{label}: {value}")


def _open_admin_usage(page):
    go(page, "Usage Analytics", "/admin/usage")
    expect(page.get_by_role("heading", name="Admin Usage Analytics")).to_be_visible()


def test_admin_usage_page_shows_filters_refreshes_and_exports_what_litellm_recorded(
        page, site):
    with contextlib.ExitStack() as people:
        _sign_in_admin(page, site, people)
        subscribe(page, MODEL)
        raw = create_key(page, "analytics key", [MODEL])
        # LiteLLM has a week of history for every live key, and an application used this one.
        history = site.stack.sim("POST", "/_sim/activity",
                                 json={"days": 7, "requests_per_key_per_day": 5, "seed": 29})
        assert history.ok, history.text
        for n in range(3):
            assert _chat(site, raw, MODEL, f"question {n}").status_code == 200
        _rollup(site)
        recorded = _recorded(site)
        everyone = _requests_of(recorded)
        assert everyone > 3

        # The cards (last 7 days, the default) show what LiteLLM recorded for everyone.
        _open_admin_usage(page)
        expect(_card(page, "Total requests", everyone)).to_be_visible()
        expect(_card(page, "Total tokens", recorded["metadata"]["total_tokens"])).to_be_visible()

        # Filter by one model: the cards follow.
        page.locator("#multi-typeahead-select-models-input").click()
        page.locator("#select-multi-typeahead-models-listbox").get_by_text(
            MODEL, exact=True).click()
        page.keyboard.press("Escape")
        expect(_card(page, "Total requests", _requests_of(recorded, MODEL))).to_be_visible()
        page.get_by_role("button", name="Clear model selection").click()
        expect(_card(page, "Total requests", everyone)).to_be_visible()

        # More traffic today; "Refresh Today" rolls it up and the page shows it.
        for n in range(4):
            assert _chat(site, raw, MODEL, f"later {n}").status_code == 200
        page.get_by_role("button", name="Refresh Today").click()
        expect(toast(page, "Refresh successful")).to_be_visible()
        expect(_card(page, "Total requests", everyone + 4)).to_be_visible()
        # The notification covers the Export button: close it, as a person would.
        page.locator(".pf-v6-c-alert-group .pf-v6-c-alert").filter(
            has_text="Refresh successful").get_by_role("button").first.click()
        expect(toast(page, "Refresh successful")).to_be_hidden()

        if site.mode == "oidc":  # see the module's docstring
            page.get_by_role("button", name="Export", exact=True).first.click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_text("Export Usage Data")).to_be_visible()
            with page.expect_download() as download:
                dialog.get_by_role("button", name="Export usage data").click()
            text = Path(download.value.path()).read_text(encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(text)))
            assert sum(int(row["requests"]) for row in rows) == everyone + 4
            assert {row["model_id"] for row in rows} >= {MODEL}
            expect(toast(page, "Export successful")).to_be_visible()


def test_audit_page_searches_and_filters_by_action(page, site):
    with contextlib.ExitStack() as people:
        _sign_in_admin(page, site, people)
        subscribe(page, AUDITED_MODEL)  # an audited action of our own
        go(page, "Audit Logs", "/admin/audit")
        expect(page.get_by_role("heading", name="Audit Logs", level=1)).to_be_visible()
        table = page.get_by_label("Audit Logs", exact=True).last
        expect(table.get_by_text("Login").first).to_be_visible()

        # Free-text search (Enter): only rows mentioning the model remain.
        search = page.get_by_placeholder("Search audit logs")
        search.fill(AUDITED_MODEL)
        search.press("Enter")
        expect(table.get_by_text("Login")).to_have_count(0)
        expect(table.get_by_text(re.compile("SUBSCRIPTION", re.I)).first).to_be_visible()
        search.fill("")
        search.press("Enter")

        # The action menu lists the trail's actions; picking one filters the rows.
        page.get_by_role("button", name="All actions").click()
        page.get_by_role("option", name="Login", exact=True).click()
        rows = table.locator("tbody")
        expect(rows.filter(has=page.get_by_text("Login", exact=True)).first).to_be_visible()
        expect(rows.filter(has_not=page.get_by_text("Login", exact=True))).to_have_count(0)
        logins = site.stack.admin("GET", "/api/v1/admin/audit", params={
            "action": "LOGIN", "excludeResourceTypes": "API_ACCESS"}).json()
        assert logins["pagination"]["total"] >= 1


def test_readonly_admin_sees_the_pages_and_the_server_refuses_changes(page, site):
    refusals: list[str] = []
    page.on("response", lambda r: refusals.append(f"{r.request.method} {r.url}")
            if r.status == 403 else None)
    with contextlib.ExitStack() as people:
        _sign_in_readonly(page, site, people)
        _open_admin_usage(page)
        expect(page.get_by_role("article", name=re.compile(r"^Total requests: \d+"))
               ).to_be_visible()
        refresh = page.get_by_role("button", name="Refresh Today")
        if site.mode == "mock":
            # The UI believes this is an admin and offers the button: the server refuses.
            refresh.click()
            expect(page.locator(".pf-v6-c-alert-group .pf-v6-c-alert").first).to_be_visible()
            assert any("/admin/usage/refresh-today" in line for line in refusals), refusals
        else:
            expect(refresh).to_be_disabled()  # the UI knows the role ...
            status = page.evaluate("""async () => (await fetch(
                '/api/v1/admin/usage/refresh-today', {method: 'POST', headers: {
                  'Content-Type': 'application/json',
                  Authorization: `Bearer ${localStorage.getItem('access_token')}`},
                body: '{}'})).status""")
            assert status == 403  # ... and the server refuses whatever the UI does
            # Exporting is a read: the readonly admin gets the file.
            page.get_by_role("button", name="Export", exact=True).first.click()
            dialog = page.get_by_role("dialog")
            with page.expect_download() as download:
                dialog.get_by_role("button", name="Export usage data").click()
            header = Path(download.value.path()).read_text(encoding="utf-8").splitlines()[0]
            assert header.startswith("date,user_id")

        go(page, "Audit Logs", "/admin/audit")
        expect(page.get_by_role("heading", name="Audit Logs", level=1)).to_be_visible()
        expect(page.get_by_label("Audit Logs", exact=True).last.get_by_text("Login").first
               ).to_be_visible()


@pytest.fixture(autouse=True)
def _leave_the_mock_admin_as_found(site):
    """Mock mode signs every journey in as the same built-in admin: the subscriptions these
    journeys made are cancelled afterwards, so the other journeys find that admin unchanged."""
    yield
    if site.mode != "mock":
        return
    base = site.stack.api_url + "/api/v1"
    token = requests.post(f"{base}/auth/login", json={"username": "admin"},
                          timeout=30).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    mine = requests.get(f"{base}/subscriptions", params={"limit": 100}, headers=headers,
                        timeout=30).json()["data"]
    for subscription in mine:
        if subscription["modelId"] in (MODEL, AUDITED_MODEL) and \
                subscription["status"] in ("active", "pending"):
            answer = requests.delete(f"{base}/subscriptions/{subscription['id']}",
                                     headers=headers, timeout=30)
            assert answer.status_code < 300, answer.text


@pytest.fixture(autouse=True)
def _no_unexpected_refusals(page, request):
    """No 4xx/5xx reached the UI except the 403s the readonly journey provokes on purpose."""
    yield
    allowed = re.compile(r"HTTP 403 POST \S+/api/v1/admin/usage/refresh-today$")
    tolerated = re.compile(r"HTTP 400 GET \S+/api/v1/admin/api-keys\?userIds=admin-bypass$")
    errors = [line for line in page.journal if re.match(r"HTTP [45]\d\d \S+ \S+/api/", line)
              and not tolerated.match(line)
              and not ("readonly" in request.node.name and allowed.match(line))]
    assert not errors, errors
