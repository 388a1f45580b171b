"""Issue 16's admin journeys for models, approvals and "Refresh models", through the real
upstream UI: an admin creates, tests, edits, restricts and deletes a model in LiteLLM (the
simulator) on the Model Management page; approves and denies requests in bulk on the
Subscription Management page; refreshes the models on Settings and Tools and reads the
counts. An admin-readonly sees the same pages, and every write fails with 403 from the server.

Admins sign in as a person would: in mock mode with the login page's admin button, with OIDC as
a provider user in the admin (or readonly) group.
"""

from __future__ import annotations

import contextlib
import re
import uuid

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.ui import click_until, eventually, footer, go, subscribe, toast

ADMIN_GROUP, READONLY_GROUP = "litemaas-admins", "litemaas-readonly"


@contextlib.contextmanager
def signed_in(page, site, group: str = ADMIN_GROUP, username: str | None = None):
    """Sign in as an admin (or readonly admin); OIDC: as a provider user of that group."""
    original = site.oidc.user if site.oidc is not None else None
    page.goto("/login")
    if site.mode == "mock":
        assert group == ADMIN_GROUP, "the mock sign-in offers only the admin"
        page.get_by_role("button", name="Login as Admin (Test)").click()
    else:
        from tests.support.fake_oidc import FakeUser

        name = username or f"{group.split('-')[-1]}-{uuid.uuid4().hex[:6]}"
        site.oidc.user = FakeUser(sub=f"e2e-{name}", username=name,
                                  email=f"{name}@example.com", name=name.title(),
                                  groups=[group])
        page.get_by_role("button", name="Log in with SSO").click()
    try:
        page.wait_for_url(re.compile(r"/home$"))
        yield
    finally:
        if site.oidc is not None:
            site.oidc.user = original


def _model(site, name: str) -> requests.Response:
    return site.stack.admin("GET", f"/api/v1/models/{name}")


def _in_litellm(site, name: str) -> list[dict]:
    listed = site.stack.sim("GET", "/model/info").json()["data"]
    return [m for m in listed if m["model_name"] == name]


def _session_call(page, method: str, path: str, body: dict | None = None) -> int:
    """A call with the signed-in person's own UI token (what a hidden control would send)."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const token = localStorage.getItem('access_token');
            const answer = await fetch(path, {method, headers: {
                'Content-Type': 'application/json', 'Authorization': `Bearer ${token}`},
                body: body === null ? undefined : JSON.stringify(body)});
            return answer.status;
        }""", [method, path, body])


def _form(dialog, values: dict[str, str]) -> None:
    for selector, value in values.items():
        field = dialog.locator(selector)
        field.fill(value)
        with contextlib.suppress(AssertionError):
            expect(field).to_have_value(value, timeout=1000)
            continue
        field.fill(value)
        expect(field).to_have_value(value)


def _row(page, name: str):
    """The models table's row of a model (its first cell is the name, exactly)."""
    return page.locator("tbody tr").filter(has=page.locator(
        "td:first-child", has_text=re.compile("^" + re.escape(name) + "$")))


def _line(page, *texts: str):
    """The approvals table's row holding every text (user and model cells hold more)."""
    rows = page.get_by_role("row")
    for text in texts:
        rows = rows.filter(has_text=text)
    return rows


def test_admin_creates_tests_edits_restricts_and_deletes_a_model(page, site):
    name = f"team-llm-{uuid.uuid4().hex[:6]}"
    with signed_in(page, site):
        go(page, "Model Management", "/admin/models")
        page.get_by_role("button", name="Create Model").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name="Create Model")).to_be_visible()
        _form(dialog, {"#model-name": name, "#description": "Made in the browser",
                       "#api-base": f"{site.stack.sim_url}/v1",
                       "#backend-model-name": "gpt-4o", "#api-key": "sk-wrong-provider-key"})
        # a real test through LiteLLM: the wrong key is refused, the right one answers
        dialog.get_by_role("button", name="Test Configuration").click()
        expect(dialog.get_by_text("Authentication failed")).to_be_visible()
        _form(dialog, {"#api-key": site.stack.sim_master_key})
        dialog.get_by_role("button", name="Test Configuration").click()
        expect(dialog.get_by_text("Connection successful! You can create the model.")
               ).to_be_visible()
        click_until(dialog.get_by_role("button", name="Create", exact=True), "Create",
                    toast(page, "Model Created"))
        expect(_row(page, name)).to_be_visible()
        created = _model(site, name)
        assert created.ok and created.json()["description"] == "Made in the browser"
        assert _in_litellm(site, name)[0]["litellm_params"]["api_base"] == (
            f"{site.stack.sim_url}/v1")
        assert site.stack.sim_master_key not in created.text

        # edit: the rate limit goes to LiteLLM
        _row(page, name).locator("td").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name="Edit Model")).to_be_visible()
        expect(dialog.locator("#api-key")).to_have_value("")  # never shown again
        _form(dialog, {"#rpm input": "7"})
        click_until(dialog.get_by_role("button", name="Update", exact=True), "Update",
                    toast(page, "Model Updated"))
        assert _in_litellm(site, name)[0]["litellm_params"]["rpm"] == 7
        assert _model(site, name).json()["rpm"] == 7

        # the admin uses the model, then restricts it: the cascade sends the subscription
        # back to review and the page of approvals shows it pending
        subscribe(page, name)
        go(page, "Model Management", "/admin/models")
        _row(page, name).locator("td").first.click()
        dialog = page.get_by_role("dialog", name=re.compile("Edit Model"))
        dialog.get_by_text("Require Admin Approval").click()
        # a second modal over the form (PatternFly hides the first from assistive tech)
        warning = page.locator(".pf-v6-c-modal-box").filter(
            has_text="Enable Restricted Access?")
        expect(warning).to_contain_text("move all active subscriptions")
        warning.locator("button", has_text=re.compile("^Yes$")).click()
        expect(warning).to_have_count(0)
        dialog = page.get_by_role("dialog", name=re.compile("Edit Model"))
        # the first update's toast must be gone, or it would stand for this one's
        expect(toast(page, "Model Updated")).to_have_count(0)
        click_until(dialog.get_by_role("button", name="Update", exact=True), "Update",
                    toast(page, "Model Updated"))
        assert eventually(lambda: _model(site, name).json()["restrictedAccess"] is True)
        go(page, "Subscription Management", "/admin/subscriptions")
        row = _line(page, name)
        expect(row).to_be_visible()
        expect(row.get_by_text(re.compile("pending", re.I))).to_be_visible()
        expect(row.get_by_text("Model now requires approval")).to_be_visible()

        # delete: gone from LiteLLM and from the table
        go(page, "Model Management", "/admin/models")
        _row(page, name).get_by_role("button", name=re.compile("Kebab|actions", re.I)).click()
        page.get_by_role("menuitem", name="Delete").click()
        confirm = page.get_by_role("dialog").filter(has_text=name)
        click_until(confirm.get_by_role("button", name="Delete", exact=True), "Delete",
                    toast(page, "Model Deleted"))
        expect(_row(page, name)).to_have_count(0)
        assert not _in_litellm(site, name)
        assert _model(site, name).json()["availability"] == "unavailable"


@pytest.mark.parametrize("site", ["mock"], indirect=True)
def test_admin_approves_and_denies_requests_in_bulk(page, site):
    """Requests from two people (signed in through our API, mock mode) for a restricted
    model; the admin approves one and denies the other from the approvals page."""
    catalogue = site.stack.admin("GET", "/api/v1/models", params={"limit": 100}).json()["data"]
    model = sorted(m["id"] for m in catalogue)[-1]
    assert site.stack.admin("PATCH", f"/api/v1/models/{model}",
                            json={"restricted": True}).ok
    people = {}
    for person in (f"carol{uuid.uuid4().hex[:4]}", f"dave{uuid.uuid4().hex[:4]}"):
        token = requests.post(f"{site.stack.api_url}/api/v1/auth/login", timeout=30,
                              json={"username": person}).json()["accessToken"]
        asked = requests.post(f"{site.stack.api_url}/api/v1/subscriptions", timeout=30,
                              json={"modelId": model},
                              headers={"Authorization": f"Bearer {token}"})
        assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
        people[person] = asked.json()["id"]
    carol, dave = people

    with signed_in(page, site):
        go(page, "Subscription Management", "/admin/subscriptions")
        for person in people:
            expect(_line(page, person)).to_be_visible()
        _line(page, carol).get_by_role("checkbox").check()
        page.get_by_role("button", name="Approve Selected").click()
        dialog = page.get_by_role("dialog", name=re.compile("Approve Subscriptions"))
        dialog.locator("#approve-reason").fill("for the pilot")
        footer(dialog).get_by_role("button", name="Confirm Approval").click()
        results = page.get_by_role("dialog", name=re.compile("Bulk Operation Results"))
        expect(results).to_be_visible()
        expect(toast(page, "1 subscription(s) approved")).to_be_visible()
        footer(results).get_by_role("button").first.click()

        _line(page, dave).get_by_role("checkbox").check()
        page.get_by_role("button", name="Deny Selected").click()
        dialog = page.get_by_role("dialog", name=re.compile("Deny Subscriptions"))
        dialog.locator("#deny-reason").fill("not this quarter")
        footer(dialog).get_by_role("button", name="Confirm Denial").click()
        expect(page.get_by_role("dialog", name=re.compile("Bulk Operation Results"))
               ).to_be_visible()
        expect(toast(page, "1 subscription(s) denied")).to_be_visible()

    listed = site.stack.admin("GET", "/api/v1/admin/subscriptions",
                              params={"modelIds": model, "limit": 100}).json()["data"]
    status = {item["user"]["username"]: (item["status"], item["statusReason"])
              for item in listed}
    assert status[carol] == ("active", "for the pilot")
    assert status[dave] == ("denied", "not this quarter")


def test_refresh_models_shows_the_counts(page, site):
    with signed_in(page, site):
        go(page, "Settings and Tools", "/admin/tools")
        page.get_by_role("tab", name="Models Sync").click()
        page.get_by_role("button", name="Refresh Models from LiteLLM").click()
        expect(toast(page, "Models synchronized successfully")).to_be_visible()
        summary = page.locator(".pf-v6-c-alert").filter(has_text="Last Synchronization")
        expect(summary).to_be_visible()
        total = len(site.stack.sim("GET", "/model/info").json()["data"])
        term = summary.locator(".pf-v6-c-description-list__group").filter(
            has_text="Total Models")
        expect(term.locator(".pf-v6-c-description-list__description")).to_have_text(str(total))


@pytest.mark.parametrize("site", ["oidc"], indirect=True)
def test_readonly_admin_sees_the_pages_and_every_write_is_refused(page, site):
    model = sorted(m["id"] for m in site.stack.admin(
        "GET", "/api/v1/models", params={"limit": 100}).json()["data"])[0]
    with signed_in(page, site, READONLY_GROUP):
        go(page, "Model Management", "/admin/models")
        expect(_row(page, model)).to_be_visible()
        expect(page.get_by_role("button", name="Create Model")).to_have_count(0)
        # the page offers no write control: the server refuses them all the same
        probe = {"api_base": f"{site.stack.sim_url}/v1", "backend_model_name": "gpt-4o",
                 "api_key": "x"}
        form = {"model_name": "ro-model", "backend_model_name": "gpt-4o", **probe,
                "input_cost_per_token": 0, "output_cost_per_token": 0, "tpm": 1, "rpm": 1,
                "max_tokens": 1, "supports_vision": False, "supports_function_calling": False,
                "supports_parallel_function_calling": False, "supports_tool_choice": False}
        assert _session_call(page, "POST", "/api/v1/admin/models", form) == 403
        assert _session_call(page, "POST", "/api/v1/admin/models/test", probe) == 403
        assert _session_call(page, "PUT", f"/api/v1/admin/models/{model}",
                             {"description": "x"}) == 403
        assert _session_call(page, "DELETE", f"/api/v1/admin/models/{model}") == 403
        assert _session_call(page, "POST", "/api/v1/models/sync", {}) == 403

        # the approvals page offers its buttons: the server answers 403
        pending = site.stack.admin("GET", "/api/v1/admin/subscriptions",
                                   params={"statuses": "pending", "limit": 100}).json()["data"]
        go(page, "Subscription Management", "/admin/subscriptions")
        expect(page.get_by_role("heading", name="Subscription Management")).to_be_visible()
        if pending:
            _line(page, pending[0]["user"]["username"], pending[0]["modelId"]).get_by_role(
                "checkbox").first.check()
            page.get_by_role("button", name="Approve Selected").click()
            dialog = page.get_by_role("dialog", name=re.compile("Approve Subscriptions"))
            with page.expect_response(re.compile(r"/admin/subscriptions/approve$")) as answer:
                footer(dialog).get_by_role("button", name="Confirm Approval").click()
            assert answer.value.status == 403
            # the dialog stays open on the error; the person closes it
            with contextlib.suppress(AssertionError, PlaywrightError):
                expect(dialog).to_be_visible(timeout=2000)
                footer(dialog).get_by_role("button", name="Cancel").click()
            expect(page.get_by_role("dialog")).to_have_count(0)
        ids = [item["id"] for item in pending] or [str(uuid.uuid4())]
        assert _session_call(page, "POST", "/api/v1/admin/subscriptions/approve",
                             {"subscriptionIds": ids}) == 403
        assert _session_call(page, "POST", "/api/v1/admin/subscriptions/deny",
                             {"subscriptionIds": ids, "reason": "no"}) == 403
        assert _session_call(page, "POST", f"/api/v1/admin/subscriptions/{ids[0]}/revert",
                             {"newStatus": "active"}) == 403
        assert _session_call(page, "DELETE", f"/api/v1/admin/subscriptions/{ids[0]}") == 403

        # Settings and Tools: the refresh button is there, disabled for a readonly admin
        go(page, "Settings and Tools", "/admin/tools")
        page.get_by_role("tab", name="Models Sync").click()
        button = page.get_by_role("button", name="Refresh Models from LiteLLM")
        expect(button).to_be_visible()
        expect(button).to_have_attribute("aria-disabled", "true")
    left = site.stack.admin("GET", "/api/v1/admin/subscriptions",
                            params={"statuses": "pending", "limit": 100}).json()["data"]
    assert {i["id"] for i in left} == {i["id"] for i in pending}
