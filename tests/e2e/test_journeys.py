"""The journeys of issue 13, through the real upstream UI, in mock and in OIDC sign-in."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.ui import open_user_menu, sign_in, sign_out


def test_boot_shows_the_login_page(page, site):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Log in to LiteMaaS")).to_be_visible()
    expect(page.get_by_role("button", name="Log in with SSO")).to_be_enabled()
    # The configuration answered: no "Unable to load application configuration" alert, and
    # the mock sign-in is offered exactly when the deployment enables it.
    mock_button = page.get_by_role("button", name="Login as Admin (Test)")
    if site.mode == "mock":
        expect(mock_button).to_be_visible()
    else:
        expect(page.get_by_text("Development Mode")).to_have_count(0)
        expect(mock_button).to_have_count(0)
    expect(page.get_by_text("Unable to load application configuration")).to_have_count(0)


def test_sign_in_and_sign_out(page, site):
    person = sign_in(page, site)
    open_user_menu(page)
    menu = page.get_by_role("menu")
    expect(menu).to_contain_text(person.display_name)
    expect(menu).to_contain_text(person.email)
    page.keyboard.press("Escape")
    sign_out(page)
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Log in with SSO")).to_be_visible()
