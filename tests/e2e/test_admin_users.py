"""Admin journeys of issue 16 through the upstream UI: the user dialog (budget, keys,
subscriptions), bulk limits, and the runtime settings (API key limits, currency) the user's key
dialog obeys; a readonly admin sees the same pages and every change is refused by the server.

Mock sign-in only: its test button signs in as the built-in admin, and the readonly admin is the
mock user ``adminro`` (the UI is told it is an admin so it offers every write control; the
server, which knows better, refuses them with 403).
"""

from __future__ import annotations

import contextlib
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.ui import sign_in, toast

pytestmark = pytest.mark.parametrize("site", ["mock"], indirect=True)


def _api(site, method: str, path: str, **kwargs) -> requests.Response:
    answer = site.stack.admin(method, path, **kwargs)
    assert answer.ok, answer.text
    return answer


def _target_user(site) -> dict:
    """A user who signed in once (mock sign-in creates them), as the admin will find them."""
    requests.post(site.stack.api_url + "/api/v1/auth/login", json={"username": "user"},
                  timeout=30).raise_for_status()
    users = _api(site, "GET", "/api/v1/users", params={"search": "user", "limit": 100}).json()
    return next(u for u in users["data"] if u["username"] == "user")


def _open_model(site) -> str:
    models = _api(site, "GET", "/api/v1/models", params={"limit": 100}).json()["data"]
    return next(m["name"] for m in models if not m.get("restricted"))


def _open_user_dialog(page, username: str):
    page.goto("/admin/users")
    page.get_by_role("row").filter(has_text=username).filter(
        has=page.get_by_text(f"{username}@example.com")).first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("tab", name="Budget & Limits")).to_be_visible()
    return dialog


def _modal(page, title: str):
    """A dialog opened over the user dialog. PatternFly hides it from the accessibility tree
    (it is inside the outer modal's hidden siblings), so it is found by its title's text."""
    return page.locator(".pf-v6-c-modal-box").filter(
        has=page.locator(".pf-v6-c-modal-box__title", has_text=title))


def _button(modal, label: str):
    return modal.locator("button", has_text=re.compile(f"^{re.escape(label)}$"))


def _row_action(page, row, label: str) -> None:
    """A table row's kebab menu, then one of its items (a click landing while the table
    re-renders after a change is lost: open the menu again, as a person would)."""
    item = page.locator(".pf-v6-c-menu__item-text").filter(
        has_text=re.compile(f"^{re.escape(label)}$"))  # (hidden from roles like the dialogs)
    for _ in range(3):
        row.get_by_role("button").last.click()
        with contextlib.suppress(AssertionError):
            expect(item).to_be_visible(timeout=3000)
            break
    item.click()


def _restore_settings(site) -> None:
    _api(site, "PUT", "/api/v1/admin/settings/api-key-defaults",
         json={"defaults": {}, "maximums": {}})
    _api(site, "PUT", "/api/v1/admin/settings/currency", json={"code": "USD"})


def test_admin_sets_key_limits_and_currency_then_manages_a_users_budget_keys_and_models(
        page, site):
    target = _target_user(site)
    model = _open_model(site)
    sign_in(page, site)
    try:
        # settings, limits tab: a maximum budget for every key
        with page.expect_response(lambda r: r.url.endswith("/admin/settings/api-key-defaults")
                                  and r.request.method == "GET"):
            page.goto("/admin/tools")  # the limits tab, which loads the current values
        page.locator("#defaults-max-budget").fill("7")
        page.locator("#maximums-max-budget").fill("20")
        page.locator("#limits-tab-content").get_by_role("button", name="Save Defaults").last.click()
        expect(toast(page, "API key defaults saved")).to_be_visible()
        limits = _api(site, "GET", "/api/v1/config/api-key-defaults").json()
        assert limits["maximums"]["maxBudget"] == 20 and limits["defaults"]["maxBudget"] == 7
        # currency tab: euros from now on, for everyone
        page.get_by_role("tab", name="Currency").click()
        page.locator("#currency-select").select_option("EUR")
        page.get_by_role("button", name="Save Currency").click()
        expect(toast(page, "Currency settings saved successfully")).to_be_visible()
        assert _api(site, "GET", "/api/v1/config").json()["currency"]["code"] == "EUR"

        # anyone's own key dialog pre-fills the new default (read from /config at load)
        page.goto("/api-keys")
        page.get_by_role("button", name="Create API Key").first.click()
        own = page.get_by_role("dialog", name="Create API Key")
        expect(own.locator("#key-max-budget")).to_have_value("7")
        own.get_by_role("button", name="Cancel").click()

        # the user dialog: counts and budget, then a new budget
        page.reload()  # the UI reads the currency at load
        dialog = _open_user_dialog(page, "user")
        dialog.get_by_role("tab", name="Budget & Limits").click()
        expect(dialog.get_by_text("Current Spend")).to_be_visible()
        dialog.locator("#max-budget").fill("30")
        dialog.get_by_role("button", name="Save", exact=True).click()
        expect(toast(page, "Budget Updated")).to_be_visible()
        detail = _api(site, "GET", f"/api/v1/admin/users/{target['id']}").json()
        assert detail["maxBudget"] == 30

        # a key for the user: above the maximum the server refuses, within it the key comes
        dialog.get_by_role("tab", name="API Keys").click()
        dialog.get_by_role("button", name="Create API Key").click()
        create = _modal(page, "Create API Key")
        expect(create.get_by_text("Max Budget (EUR)")).to_be_visible()
        create.locator("#create-key-name").fill("made by admin")
        create.locator(".pf-v6-c-label").get_by_text(model, exact=True).click()
        create.locator("#create-key-budget input").fill("25")
        _button(create, "Create").click()
        expect(toast(page, "Create Failed")).to_be_visible()  # above the maximum (400)
        create.locator("#create-key-budget input").fill("10")
        _button(create, "Create").click()
        generated = _modal(page, "API Key Generated")
        expect(generated).to_be_visible()
        value = generated.locator("input").first.input_value()
        assert value.startswith("sk-")
        _button(generated, "Done").click()
        keys = _api(site, "GET", f"/api/v1/admin/users/{target['id']}/api-keys").json()["data"]
        key = next(k for k in keys if k["name"] == "made by admin")
        assert key["maxBudget"] == 10 and key["userId"] == target["id"]

        # edit its budget: above the maximum refused, within it saved and pushed; then revoke
        row = dialog.get_by_role("row").filter(has_text="made by admin")
        _row_action(page, row, "Edit")
        edit = _modal(page, "Edit API Key")
        edit.locator("#edit-key-budget input").fill("21")
        _button(edit, "Save Changes").click()
        expect(toast(page, "Update Failed")).to_be_visible()
        edit.locator("#edit-key-budget input").fill("15")
        _button(edit, "Save Changes").click()
        expect(toast(page, "API Key Updated")).to_be_visible()
        edited = _api(site, "GET", f"/api/v1/admin/users/{target['id']}/api-keys").json()
        assert next(k for k in edited["data"] if k["id"] == key["id"])["maxBudget"] == 15
        row = dialog.get_by_role("row").filter(has_text="made by admin")
        _row_action(page, row, "Revoke")
        _button(_modal(page, "Revoke API Key"), "Revoke").click()
        expect(toast(page, "API Key Revoked")).to_be_visible()
        revoked = _api(site, "GET", f"/api/v1/admin/users/{target['id']}/api-keys").json()
        assert next(k for k in revoked["data"] if k["id"] == key["id"])["isActive"] is False

        # a subscription for the user
        dialog.get_by_role("tab", name="Subscriptions").click()
        dialog.get_by_role("button", name="Add Subscription").click()
        add = _modal(page, "Add Subscription")
        others = [m["name"] for m in _api(site, "GET", "/api/v1/models",
                                          params={"limit": 100}).json()["data"]
                  if not m.get("restricted") and m["name"] != model]
        add.locator(".pf-v6-c-label").get_by_text(others[0], exact=True).click()
        _button(add, "Add Subscription").click()
        expect(toast(page, "Subscriptions Added")).to_be_visible()
        subs = _api(site, "GET", f"/api/v1/admin/users/{target['id']}/subscriptions").json()
        assert others[0] in {s["modelId"] for s in subs["data"] if s["status"] == "active"}
        page.keyboard.press("Escape")

        # bulk limits: every active user, with the counts the job reports
        page.goto("/admin/tools")
        page.get_by_role("tab", name="Limits").click()
        page.locator("#limits-tab-content #rpm-limit").fill("42")
        page.get_by_role("button", name="Apply to All Users").click()
        page.get_by_role("dialog").get_by_role("button", name="Apply Changes").click()
        expect(page.locator(".pf-v6-c-alert-group .pf-v6-c-alert__title").filter(
            has_text=re.compile(r"Successfully updated \d+ users")).first).to_be_visible()
        again = _api(site, "GET", f"/api/v1/admin/users/{target['id']}").json()
        assert again["rpmLimit"] == 42
    finally:
        _restore_settings(site)


def test_readonly_admin_sees_the_pages_and_every_change_is_refused(page, site):
    target = _target_user(site)
    model = _open_model(site)
    _api(site, "POST", f"/api/v1/admin/users/{target['id']}/api-keys",
         json={"name": "kept", "modelIds": [model]})
    page.goto("/login")
    # The mock user adminro is a readonly admin on the server; the UI is told "admin" so it
    # offers the write controls, and each answer must be the server's 403.
    page.evaluate("""user => localStorage.setItem('litemaas_admin_user', JSON.stringify(user))""",
                  {"id": "adminro", "username": "adminro", "email": "adminro@example.com",
                   "name": "Readonly", "roles": ["admin", "user"]})
    refusals: list[str] = []
    page.on("response", lambda r: refusals.append(f"{r.request.method} {r.url}")
            if r.status == 403 else None)
    dialog = _open_user_dialog(page, "user")
    dialog.get_by_role("tab", name="Budget & Limits").click()
    dialog.locator("#max-budget").fill("99")
    dialog.get_by_role("button", name="Save", exact=True).click()
    expect(toast(page, "Update Failed")).to_be_visible()
    dialog.get_by_role("tab", name="API Keys").click()
    expect(dialog.get_by_role("row").filter(has_text="kept")).to_be_visible()
    row = dialog.get_by_role("row").filter(has_text="kept")
    _row_action(page, row, "Revoke")
    confirm = _modal(page, "Revoke API Key")
    _button(confirm, "Revoke").click()
    expect(toast(page, "Revoke Failed")).to_be_visible()
    if confirm.is_visible():  # the UI keeps its confirmation open after a failure
        _button(confirm, "Cancel").click()
    expect(confirm).to_have_count(0)
    dialog.get_by_role("button", name="Create API Key").click()
    create = _modal(page, "Create API Key")
    create.locator("#create-key-name").fill("not allowed")
    create.locator(".pf-v6-c-label").get_by_text(model, exact=True).click()
    _button(create, "Create").click()
    expect(toast(page, "Create Failed")).to_be_visible()
    _button(create, "Cancel").click()
    dialog.get_by_role("tab", name="Subscriptions").click()
    dialog.get_by_role("button", name="Add Subscription").click()
    add = _modal(page, "Add Subscription")
    add.locator(".pf-v6-c-label").first.click()
    _button(add, "Add Subscription").click()
    expect(toast(page, "Add Failed")).to_be_visible()
    page.keyboard.press("Escape")
    page.goto("/admin/tools")  # the limits tab: key limits, new-user defaults, bulk limits
    page.locator("#maximums-max-budget").fill("1")
    page.locator("#limits-tab-content").get_by_role("button", name="Save Defaults").last.click()
    expect(toast(page, "Failed to save API key defaults")).to_be_visible()
    page.locator("#user-defaults-max-budget").fill("1")
    page.locator("#limits-tab-content").get_by_role("button", name="Save Defaults").first.click()
    expect(toast(page, "Failed to save user defaults")).to_be_visible()
    page.locator("#limits-tab-content #rpm-limit").fill("1")
    page.get_by_role("button", name="Apply to All Users").click()
    page.get_by_role("dialog").get_by_role("button", name="Apply Changes").click()
    expect(toast(page, "Failed to update user limits")).to_be_visible()
    page.get_by_role("tab", name="Currency").click()
    page.locator("#currency-select").select_option("GBP")
    page.get_by_role("button", name="Save Currency").click()
    expect(toast(page, "Failed to save currency settings")).to_be_visible()
    assert any("/budget-limits" in r for r in refusals), refusals
    assert any("/api-keys/" in r for r in refusals), refusals
    for path in ("/admin/settings/currency", "/admin/settings/api-key-defaults",
                 "/admin/settings/user-defaults", "/admin/users/bulk-update-limits",
                 f"/admin/users/{target['id']}/subscriptions"):
        assert any(path in r for r in refusals), (path, refusals)
    assert sum(f"/admin/users/{target['id']}/api-keys" in r for r in refusals) >= 2
    detail = _api(site, "GET", f"/api/v1/admin/users/{target['id']}").json()
    assert detail["maxBudget"] != 99 and detail["activeApiKeysCount"] >= 1
    assert _api(site, "GET", "/api/v1/config").json()["currency"]["code"] != "GBP"
    limits = _api(site, "GET", "/api/v1/config/api-key-defaults").json()
    assert limits["maximums"]["maxBudget"] != 1
    keys = _api(site, "GET", f"/api/v1/admin/users/{target['id']}/api-keys").json()["data"]
    assert [k["name"] for k in keys if k["isActive"]].count("not allowed") == 0
