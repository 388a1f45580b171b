"""The admin settings page of the upstream UI (Settings and Tools): banners, branding and
backups, driven in Chromium as admins and users would (issue 16).

These journeys need several people (an admin, a plain user, a readonly admin), so they run on
the OIDC site, where the test provider signs in whoever it is told to; the mock sign-in offers
the built-in admin only. The operator's admin API key is used only to set up what is not the
journey's subject and to check the page against the backend.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import sign_in, sign_out, toast
from tests.support.fake_oidc import FakeUser

pytestmark = pytest.mark.parametrize("site", ["oidc"], indirect=True)

ADMIN = FakeUser(sub="e2e-admin-0001", username="ada", email="ada@example.com",
                 name="Ada Admin", groups=["litemaas-admins"])
READONLY = FakeUser(sub="e2e-readonly-0001", username="rory", email="rory@example.com",
                    name="Rory Readonly", groups=["litemaas-readonly"])
USER = FakeUser(sub="e2e-user-0002", username="uma", email="uma@example.com",
                name="Uma User", groups=["developers"])


@pytest.fixture(autouse=True)
def leave_settings_as_found(site):
    """The site is shared with the other journeys: banners and branding made here go after."""
    yield
    for banner in site.stack.admin("GET", "/api/v1/banners/admin").json():
        site.stack.admin("DELETE", f"/api/v1/banners/admin/{banner['id']}")
    site.stack.admin("PATCH", "/api/v1/branding", json={
        "loginLogoEnabled": False, "loginTitleEnabled": False, "loginTitle": None,
        "loginSubtitleEnabled": False, "loginSubtitle": None, "headerBrandEnabled": False})
    for kind in ("login-logo", "header-brand-light", "header-brand-dark"):
        site.stack.admin("DELETE", f"/api/v1/branding/images/{kind}")


@pytest.fixture
def people(site):
    """Lets a journey sign in as several people; the provider's default person comes back."""
    default = site.oidc.user

    def sign_in_as(page, person: FakeUser) -> None:
        site.oidc.user = person
        sign_in(page, site)

    yield sign_in_as
    site.oidc.user = default


def png_file(folder: Path, name: str, rgb: tuple[int, int, int]) -> Path:
    """A real 16x8 PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * 16 for _ in range(8))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    path = folder / name
    path.write_bytes(data)
    return path


def open_settings(page, tab: str) -> None:
    page.goto("/admin/tools")
    expect(page.get_by_role("heading", name="Settings and Tools")).to_be_visible()
    page.get_by_role("tab", name=tab, exact=True).click()


def switch_on(page, switch_id: str) -> None:
    """A PatternFly switch, clicked by its label as a person clicks it."""
    box = page.locator(f"#{switch_id}")
    if not box.is_checked():
        page.locator(f"label[for='{switch_id}']").click()
    expect(box).to_be_checked()


def wait_image_loaded(page, selector: str) -> None:
    """The browser fetched and decoded the image (a broken one never gets a width)."""
    page.wait_for_function(
        "sel => { const img = document.querySelector(sel);"
        " return img !== null && img.complete && img.naturalWidth > 0; }", arg=selector)


# -- banners ---------------------------------------------------------------------------------

def test_admin_creates_a_banner_a_user_sees_and_dismisses(page, site, people):
    people(page, ADMIN)
    open_settings(page, "Banners")
    page.get_by_role("button", name="Create New Banner").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#banner-name").fill("Maintenance window")
    dialog.locator("#banner-content-en").fill("Planned maintenance on Saturday at 10:00 UTC")
    dialog.locator("label[for='banner-dismissible']").click()
    expect(dialog.locator("#banner-dismissible")).to_be_checked()
    dialog.get_by_role("button", name="Create Banner").click()
    expect(toast(page, "Banner created")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Maintenance window")
    expect(row).to_be_visible()
    row.get_by_label("Toggle visibility for Maintenance window").locator("..").click()
    page.get_by_role("button", name="Apply Changes").click()
    expect(toast(page, "Changes applied")).to_be_visible()
    banners = site.stack.admin("GET", "/api/v1/banners/admin").json()
    shown = [b for b in banners if b["name"] == "Maintenance window"]
    assert shown and shown[0]["isActive"] and shown[0]["isDismissible"], banners
    sign_out(page, site)

    people(page, USER)
    banner = page.get_by_test_id("banner-announcement")
    expect(banner).to_contain_text("Planned maintenance on Saturday at 10:00 UTC")
    banner.get_by_role("button", name="Dismiss announcement").click()
    expect(toast(page, "Banner dismissed")).to_be_visible()
    expect(banner).to_have_count(0)
    page.reload()  # the dismissal is the server's, not the page's
    expect(page.get_by_role("heading", name="Welcome to LiteMaaS")).to_be_visible()
    expect(page.get_by_test_id("banner-announcement")).to_have_count(0)


# -- branding --------------------------------------------------------------------------------

def test_admin_changes_branding_seen_on_the_login_page_and_header(page, site, people,
                                                                  tmp_path):
    people(page, ADMIN)
    open_settings(page, "Branding")
    uploads = page.locator("input[type='file']")
    expect(uploads).to_have_count(3)
    for index, (kind, colour) in enumerate((("login-logo", (200, 0, 0)),
                                            ("header-brand-light", (0, 120, 0)),
                                            ("header-brand-dark", (0, 0, 160)))):
        uploads.nth(index).set_input_files(str(png_file(tmp_path, f"{kind}.png", colour)))
        # the tab shows the stored image once the upload succeeded
        preview = f"img[src*='/api/v1/branding/images/{kind}']"
        expect(page.locator(preview).first).to_be_visible()
        wait_image_loaded(page, preview)
    expect(toast(page, "Image uploaded successfully")).to_be_visible()
    switch_on(page, "login-logo-enabled")
    switch_on(page, "login-title-enabled")
    page.locator("#login-title").fill("ACME Model Service")
    switch_on(page, "header-brand-enabled")
    page.get_by_role("button", name="Save Settings").click()
    expect(toast(page, "Branding settings saved successfully")).to_be_visible()
    branding = site.stack.admin("GET", "/api/v1/branding").json()
    assert branding["loginTitle"] == "ACME Model Service" and branding["hasLoginLogo"]
    # the header shows the uploaded brand at once
    header = "header img[src*='/api/v1/branding/images/header-brand']"
    expect(page.locator(header)).to_be_visible()
    wait_image_loaded(page, header)
    sign_out(page, site)

    expect(page.get_by_role("heading", name="ACME Model Service")).to_be_visible()
    logo = "img[src='/api/v1/branding/images/login-logo']"
    expect(page.locator(logo)).to_be_visible()
    wait_image_loaded(page, logo)


# -- backups ---------------------------------------------------------------------------------

def test_admin_runs_a_backup_sees_it_listed_and_downloads_it(page, site, people, tmp_path):
    people(page, ADMIN)
    open_settings(page, "Backup")
    before = {b["id"] for b in site.stack.admin("GET", "/api/v1/admin/backup").json()["data"]}
    litemaas = page.locator(".pf-v6-c-card").filter(has_text="LiteMaaS Database")
    litemaas.get_by_role("button", name="Create Backup").click()
    expect(toast(page, "Backup completed successfully.")).to_be_visible(timeout=90_000)
    after = site.stack.admin("GET", "/api/v1/admin/backup").json()["data"]
    new = [b for b in after if b["id"] not in before]
    assert len(new) == 1 and new[0]["database"] == "litemaas", after
    table = page.get_by_role("grid", name="Backups table").or_(
        page.get_by_role("table", name="Backups table"))
    rows = table.get_by_role("row").filter(has_text="litemaas")
    expect(rows).to_have_count(len(after))
    with page.expect_download() as download:
        rows.first.get_by_role("button", name="Download").click()
    saved = tmp_path / "backup.dump"
    download.value.save_as(saved)
    assert saved.read_bytes()[:5] == b"PGDMP"  # a pg_dump archive


# -- admin-readonly --------------------------------------------------------------------------

def _writes(banner_id: str, backup_id: str) -> list[tuple[str, str, dict | None]]:
    banner, backup = f"/api/v1/banners/admin/{banner_id}", f"/api/v1/admin/backup/{backup_id}"
    return [
        ("POST", "/api/v1/banners/admin", {"name": "x", "content": {"en": "x"}}),
        ("PUT", banner, {"isActive": False, "content": {"en": "x"}}),
        ("PATCH", banner, {"priority": 1}),
        ("DELETE", banner, None),
        ("PATCH", "/api/v1/banners/admin/bulk-visibility", {banner_id: False}),
        ("PATCH", "/api/v1/branding", {"loginTitle": "hijacked"}),
        ("PUT", "/api/v1/branding/images/login-logo",
         {"data": "iVBORw0KGgo=", "mimeType": "image/png"}),
        ("DELETE", "/api/v1/branding/images/login-logo", None),
        ("POST", "/api/v1/admin/backup/create", {"database": "litemaas"}),
        ("DELETE", backup, None),
        ("POST", f"{backup}/test-restore", {"database": "litemaas"}),
        ("POST", f"{backup}/restore", {"database": "litemaas"}),
        ("GET", f"{backup}/download", None),
    ]


CALL_AS_THE_UI = """async (calls) => {
  const token = localStorage.getItem('access_token');
  const statuses = [];
  for (const [method, url, body] of calls) {
    const response = await fetch(url, {method, headers: {
      'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'},
      body: body === null ? undefined : JSON.stringify(body)});
    statuses.push(response.status);
  }
  return statuses;
}"""


def test_admin_readonly_sees_the_tabs_and_every_write_is_refused(page, site, people):
    banner = site.stack.admin("POST", "/api/v1/banners/admin", json={
        "name": "Read me", "content": {"en": "for readonly eyes"}}).json()["banner"]
    job = site.stack.admin("POST", "/api/v1/admin/backup/create",
                           json={"database": "litemaas"}).json()
    backup_id = site.stack.wait_for_job(job["jobId"])["result"]["backupId"]

    people(page, READONLY)
    open_settings(page, "Banners")
    expect(page.get_by_role("row").filter(has_text="Read me")).to_be_visible()
    expect(page.get_by_role("button", name="Create New Banner")).to_be_disabled()
    page.get_by_role("tab", name="Branding", exact=True).click()
    expect(page.get_by_role("button", name="Save Settings")).to_be_visible()
    page.get_by_role("tab", name="Backup", exact=True).click()
    expect(page.get_by_text("LiteMaaS Database")).to_be_visible()
    expect(page.locator(".pf-v6-c-card").filter(has_text="LiteMaaS Database")
           .get_by_role("button", name="Create Backup")).to_be_disabled()
    expect(page.get_by_role("row").filter(has_text="litemaas").first).to_be_visible()

    # The UI greys the controls out; the server is what refuses: every write, sent with the
    # readonly admin's own session from this page, is a 403.
    statuses = page.evaluate(CALL_AS_THE_UI, _writes(banner["id"], backup_id))
    assert statuses == [403] * len(statuses), statuses
    assert site.stack.admin("GET", f"/api/v1/banners/admin/{banner['id']}").ok
    assert site.stack.admin("GET", f"/api/v1/admin/backup/{backup_id}").ok
    assert site.stack.admin("GET", "/api/v1/branding").json()["loginTitle"] != "hijacked"
