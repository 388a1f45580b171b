"""What a person does in the upstream UI, as short steps the journeys share."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def sign_out(page: Page) -> None:
    open_user_menu(page)
    page.get_by_role("menuitem", name="Logout").click()
    page.wait_for_url(re.compile(r"/login"))


def go(page: Page, nav_label: str, path: str) -> None:
    """Follow a link of the main navigation and wait for its page."""
    page.get_by_role("navigation", name="Global navigation").get_by_role(
        "link", name=nav_label, exact=True).click()
    page.wait_for_url(re.compile(re.escape(path) + r"$"))
