"""Usage exports: a job writes CSV or JSON under EXPORT_DIR, its result links to the download,
which streams the file to its requester or an admin; the CSV is what a spreadsheet opens."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import date
from decimal import Decimal

import pytest

from app.services.exports import COLUMNS
from tests.integration.usage_world import (
    Q,
    World,
    days_ago,
    run_rollup,
    today,
    totals_of,
)
from tests.support.jobs import wait_for_job


@pytest.fixture
def world(app, sim, client, login, celery_worker, tmp_path, monkeypatch) -> World:
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    world = World(app, sim)
    world.catalogue()
    world.team("platform")
    world.user("alice")
    world.user("bob")
    world.key("alice-main", "alice", team="platform")
    world.key("=HYPERLINK(\"http://evil\")", "bob")
    world.traffic(days=6, seed=51)
    assert run_rollup(client, login("admin"))["status"] == "succeeded"
    return world


def export(client, headers, **body) -> dict:
    # the asynchronous answer (a job) as a client asks for it; the web UI's wait for the file
    # is tested in test_admin_analytics.py
    response = client.post("/api/v1/admin/usage/export", json=body,
                           headers={**headers, "Prefer": "respond-async"})
    assert response.status_code == 202, response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{response.get_json()['jobId']}"
    job = wait_for_job(client, headers, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    return job


def test_csv_export_opens_as_a_spreadsheet_with_exact_figures(client, login, world, tmp_path):
    admin = login("admin")
    start = days_ago(4)

    job = export(client, admin, format="csv", startDate=start.isoformat())
    response = client.get(job["result"]["download"], headers=admin)

    assert job["result"]["download"] == f"/api/v1/jobs/{job['id']}/download"
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=usage-export-{start.isoformat()}-to-{today().isoformat()}.csv")
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8"))))
    header, rows = table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert header == list(COLUMNS)
    assert len(rows) == job["result"]["rows"] == len(
        [r for r in world.raw_rows() if r["date"] >= start.isoformat()])
    for row in rows:
        assert date.fromisoformat(row["date"]) >= start
        assert re.fullmatch(r"\d+\.\d{8}", row["spend"]), row["spend"]
    expected = world.expected(start)
    assert sum(Decimal(row["spend"]) for row in rows) == expected["spend"]
    assert sum(int(row["total_tokens"]) for row in rows) == expected["total_tokens"]
    assert sum(int(row["requests"]) for row in rows) == expected["requests"]
    assert (tmp_path / "exports" / f"{job['id']}.csv").is_file()
    assert not list((tmp_path / "exports").glob("*.part"))


def test_csv_rows_are_the_litellm_rows_one_for_one(client, login, world):
    admin = login("admin")

    job = export(client, admin, format="csv", startDate=days_ago(5).isoformat())
    table = csv.DictReader(io.StringIO(client.get(job["result"]["download"],
                                                  headers=admin).data.decode()))

    keys = {k.token: k for k in world.keys.values()}
    got = {(r["date"], r["user_id"], r["api_key_id"], r["model_id"]):
           (int(r["requests"]), int(r["prompt_tokens"]), Decimal(r["spend"])) for r in table}
    want = {}
    for raw in world.raw_rows():
        totals = totals_of([raw])
        want[(raw["date"], raw["user_id"], str(keys[raw["api_key"]].id), raw["model_group"])] = (
            totals["requests"], totals["prompt_tokens"], totals["spend"])
    assert got == want


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_quoted(client, login, world):
    admin = login("admin")

    job = export(client, admin, format="csv", userId=str(world.users["bob"]))
    rows = list(csv.DictReader(io.StringIO(
        client.get(job["result"]["download"], headers=admin).data.decode())))

    assert rows and {row["api_key_name"] for row in rows} == {"'=HYPERLINK(\"http://evil\")"}
    assert {row["username"] for row in rows} == {"bob"}


def test_json_export_keeps_spend_exact(client, login, world):
    admin = login("admin")

    job = export(client, admin, format="json", userId=str(world.users["alice"]),
                 modelId="gpt-4o")
    response = client.get(job["result"]["download"], headers=admin)
    body = json.loads(response.data, parse_float=Decimal)

    assert response.mimetype == "application/json"
    assert body["filters"] == {"userId": str(world.users["alice"]), "modelId": "gpt-4o"}
    expected = world.expected(where=lambda r: r["user_id"] == str(world.users["alice"])
                              and r["model_group"] == "gpt-4o")
    assert sum((row["spend"] for row in body["rows"]), Decimal(0)).quantize(Q) == (
        expected["spend"])
    assert sum(row["completion_tokens"] for row in body["rows"]) == (
        expected["completion_tokens"])
    assert all(set(row) == set(COLUMNS) for row in body["rows"])


def test_readonly_admin_may_export_and_a_user_may_not(client, login, world):
    adminro = login("adminro")

    job = export(client, adminro, format="csv")

    assert client.get(job["result"]["download"], headers=adminro).status_code == 200
    response = client.post("/api/v1/admin/usage/export", json={"format": "csv"},
                           headers=login("user"))
    assert response.status_code == 403


def test_relative_export_dir_is_taken_from_the_working_directory(app, client, login, world,
                                                                monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(app.config, "EXPORT_DIR", "relative-exports")
    admin = login("admin")

    job = export(client, admin, format="csv")
    response = client.get(job["result"]["download"], headers=admin)

    assert response.status_code == 200
    assert response.data.startswith(b"date,user_id,")
    assert (tmp_path / "relative-exports" / f"{job['id']}.csv").is_file()


def test_download_is_for_the_requester_or_admins_only(client, login, world):
    job = export(client, login("admin"), format="csv")
    link = job["result"]["download"]

    assert client.get(link, headers=login("user")).status_code == 404
    assert client.get(link, headers=login("adminro")).status_code == 200
    assert client.get(link).status_code == 401


def test_download_is_404_until_the_export_has_succeeded(app, client, login):
    from app.extensions import db
    from app.models import Job

    admin = login("admin")
    with app.app_context():
        running = Job(id=uuid.uuid4(), kind="usage_export", status="running",
                      params={"format": "csv"})
        ping = Job(id=uuid.uuid4(), kind="worker_ping", status="succeeded", result={})
        db.session.add_all([running, ping])
        db.session.commit()
        ids = [running.id, ping.id]

    for job_id in [*ids, uuid.uuid4()]:
        response = client.get(f"/api/v1/jobs/{job_id}/download", headers=admin)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("body", [
    {"format": "xlsx"},  # (no format at all is CSV, as upstream)
    {"format": "csv", "startDate": "2024-01-01", "endDate": "2025-12-31"},
    {"format": "csv", "userId": "someone"},
])
def test_bad_export_requests_are_400(client, login, body):
    response = client.post("/api/v1/admin/usage/export", json=body, headers=login("admin"))

    assert response.status_code == 400
