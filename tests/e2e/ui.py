"""What a person does in the upstream UI, as short steps the journeys share."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    email: str


# Mock mode: the login page's test button signs in as upstream's built-in admin, and the UI
# asks the backend for a development token (/api/auth/dev-token) before each request.
MOCK_ADMIN = Person("admin", "Administrator (Test)", "admin@litemaas.local")
# OIDC mode: the test provider's user; the UI shows what /api/v1/auth/me answers.
OIDC_USER = Person("alice", "Alice Example", "alice@example.com")


def sign_in(page: Page, site) -> Person:
    """From the login page to the home page, as the site's sign-in offers it."""
    page.goto("/login")
    if site.mode == "mock":
        page.get_by_role("button", name="Login as Admin (Test)").click()
        person = MOCK_ADMIN
    else:
        # SSO button -> POST /api/auth/login -> provider (consents at once) -> backend
        # callback -> /auth/callback#token=... -> /api/v1/auth/me -> home.
        page.get_by_role("button", name="Log in with SSO").click()
        person = OIDC_USER
    page.wait_for_url(re.compile(r"/home$"))
    expect(page.get_by_role("heading", name="Welcome to LiteMaaS")).to_be_visible()
    return person


def open_user_menu(page: Page) -> None:
    page.get_by_role("button", name="User menu").click()


def sign_out(page: Page, site) -> None:
    """User menu, Logout; with OIDC the UI then sends the browser to the provider's
    end-session page (the provider session ends too), and the person comes back."""
    open_user_menu(page)
    page.get_by_role("menuitem", name="Logout").last.click()
    if site.oidc is not None:
        page.wait_for_url(re.compile(re.escape(site.oidc.url) + r"/logout"))
        expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
        page.goto(site.url + "/")
    page.wait_for_url(re.compile(r"/login"))


def go(page: Page, nav_label: str, path: str) -> None:
    """Follow a link of the main navigation and wait for its page."""
    page.get_by_role("navigation", name="Global navigation").get_by_role(
        "link", name=nav_label, exact=True).click()
    page.wait_for_url(re.compile(re.escape(path) + r"$"))


def footer(dialog):
    """A dialog's footer (its header has an X button also named "Close")."""
    return dialog.locator(".pf-v6-c-modal-box__footer")


def toast(page: Page, title: str):
    """A notification the UI raised (a PatternFly toast shown for 2 s), by its title (after
    the screen-reader prefix, e.g. "Success alert:")."""
    return page.locator(".pf-v6-c-alert-group .pf-v6-c-alert__title").filter(
        has_text=re.compile(re.escape(title) + "$")).first


def eventually(check, timeout: float = 20.0, interval: float = 0.25):
    """``check()`` once it is truthy, or its last value after ``timeout`` seconds: for what
    the server finishes after the page has shown its answer."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(interval)


def model_card(page: Page, model: str):
    return page.locator(".pf-v6-c-card").filter(
        has=page.get_by_role("heading", name=model, exact=True, level=3))


def open_model(page: Page, model: str):
    """Click a model's card in the catalogue (the card is one big button); returns its
    details dialog."""
    model_card(page, model).locator(".pf-v6-c-card__clickable-action").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=model, exact=True, level=2)).to_be_visible()
    return dialog


def subscribe(page: Page, model: str) -> None:
    """From anywhere: the catalogue, the model's card, Subscribe, and the success toast."""
    go(page, "Models", "/models")
    dialog = open_model(page, model)
    button = dialog.get_by_role("button", name=f"Subscribe to {model}")
    click_until(button, "Subscribe", toast(page, "Successfully subscribed!"))


def click_until(button, label: str, outcome) -> None:
    """Click and expect ``outcome``. If it has not come and the button still shows ``label``,
    enabled, the page ignored the click (seen once on a loaded machine: a click landing while
    React re-rendered the dialog): click again, as a person would. A click that took (the
    button shows its busy label, or is gone with its dialog) is never repeated."""
    button.click()
    with contextlib.suppress(AssertionError):
        expect(outcome).to_be_visible(timeout=2500)
        return
    try:
        ignored = button.is_enabled(timeout=500) and button.inner_text(timeout=500) == label
    except PlaywrightError:  # gone: the dialog closed, the click took
        ignored = False
    if ignored:
        button.click()
    expect(outcome).to_be_visible()


def fill_form(dialog, values: dict[str, str], before_check=None) -> None:
    """Type ``values`` (selector -> text) into a dialog's fields and make sure they stayed.
    On a loaded machine a dialog that re-renders while opening can drop what was typed
    before React took it (seen once in CI: a key created without its description); a person
    would see the empty field and type again, so the fields are read back and refilled."""
    for selector, value in values.items():
        dialog.locator(selector).fill(value)
    if before_check is not None:
        before_check()
    for selector, value in values.items():
        field = dialog.locator(selector)
        with contextlib.suppress(AssertionError):
            expect(field).to_have_value(value, timeout=1000)
            continue
        field.fill(value)
        expect(field).to_have_value(value)


def create_key(page: Page, name: str, models: list[str], description: str = "",
               max_budget: str = "", rpm_limit: str = "") -> str:
    """On the API Keys page: the create dialog, and the new key's value it shows once."""
    go(page, "API Keys", "/api-keys")
    page.get_by_role("button", name="Create API Key").first.click()
    dialog = page.get_by_role("dialog", name="Create API Key")
    fields = {"#key-name": name, "#key-description": description,
              "#key-max-budget": max_budget, "#key-rpm-limit": rpm_limit}
    fill_form(dialog, {selector: value for selector, value in fields.items() if value},
              before_check=lambda: [
                  dialog.locator(".pf-v6-c-label").get_by_text(model, exact=True).click()
                  for model in models])
    dialog.get_by_role("button", name="Create API Key", exact=True).click()
    created = page.get_by_role("dialog", name="API Key Created Successfully")
    expect(created).to_be_visible()
    value = created.get_by_role("textbox").first.input_value()
    assert value.startswith("sk-"), value
    footer(created).get_by_role("button", name="Close", exact=True).click()
    expect(created).to_have_count(0)
    return value
