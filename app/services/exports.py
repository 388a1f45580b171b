"""Usage exports: a job streams ``usage_daily`` rows of a range and filters into a CSV or JSON
file under ``EXPORT_DIR``; its requester (or an admin) downloads it through the job.

The CSV opens in a spreadsheet as is: a header row, one row per day, user, key and model,
ISO dates, spend as a plain decimal with a '.' (never an exponent), and text cells that could
be read as a formula prefixed with a quote.

Files hold other people's usage: the directory is owner-only (0700), each file 0600, and a
beat task deletes them ``EXPORT_RETENTION_HOURS`` after they were written (the job then says
the file expired).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.errors import NotFound
from app.extensions import db
from app.models import ApiKey, Job, Team, UsageDaily, User
from app.services import jobs
from app.services.usage_queries import UsageFilter

EXPORT_KIND = "usage_export"
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
COLUMNS = ("date", "user_id", "username", "team_id", "team_name", "api_key_id", "api_key_name",
           "api_key_prefix", "model_id", "provider", "requests", "successful_requests",
           "failed_requests", "prompt_tokens", "completion_tokens", "total_tokens", "spend")
_TEXT_COLUMNS = frozenset({"username", "team_name", "api_key_name", "api_key_prefix",
                           "model_id", "provider"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FETCH_BATCH = 5000
_EXPORT_FILE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                          r"\.(csv|json)(\.part)?")



def request_export(fmt: str, usage: UsageFilter, requested_by) -> Job:
    """Enqueue an export of ``usage`` as ``fmt`` (csv or json)."""
    job, _ = jobs.enqueue(EXPORT_KIND, {"format": fmt, **usage.params()},
                          requested_by=requested_by)
    return job


def export_dir() -> Path:
    """``EXPORT_DIR`` as an absolute path (a relative one starts at the working directory),
    readable by its owner only."""
    path = Path(current_app.config["EXPORT_DIR"]).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def _open_private(path: Path):
    """A new file only its owner can read (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def run_export(job_id: uuid.UUID, params: dict[str, Any],
               progress: Callable[[int, str], None]) -> dict[str, Any]:
    """Write the export file (atomically: a partial file never has the final name)."""
    fmt, usage = params["format"], UsageFilter.from_params(params)
    total = db.session.scalar(select(func.count()).select_from(UsageDaily).where(
        *usage.conditions(UsageDaily.__table__)))
    name = f"{job_id}.{fmt}"
    final = export_dir() / name
    partial = final.with_suffix(f".{fmt}.part")
    with _open_private(partial) as out:
        writer = _CsvWriter(out) if fmt == "csv" else _JsonWriter(out, usage)
        written = 0
        for row in _rows(usage):
            writer.write(row)
            written += 1
            if written % FETCH_BATCH == 0:
                progress(min(99, int(100 * written / max(total, 1))), f"{written}/{total} rows")
        writer.close()
    os.replace(partial, final)
    return {"format": fmt, "rows": written, "bytes": final.stat().st_size, "file": name,
            "filename": download_name(fmt, usage), "download": jobs.link(job_id, "download"),
            **usage.params()}


def stream(fmt: str, usage: UsageFilter) -> Iterator[str]:
    """The same file as an export job writes, produced while it is sent (one's own usage is a
    small file: the web UI downloads it directly, no job)."""
    buffer = io.StringIO()
    writer = _CsvWriter(buffer) if fmt == "csv" else _JsonWriter(buffer, usage)
    for written, row in enumerate(_rows(usage), start=1):
        writer.write(row)
        if written % FETCH_BATCH == 0:
            yield _drain(buffer)
    writer.close()
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def download_name(fmt: str, usage: UsageFilter) -> str:
    return f"usage-export-{usage.start.isoformat()}-to-{usage.end.isoformat()}.{fmt}"


def _rows(usage: UsageFilter) -> Iterator[dict[str, Any]]:
    table = UsageDaily.__table__
    stmt = (
        select(table.c.day.label("date"), table.c.user_id, User.username, table.c.team_id,
               Team.name.label("team_name"), table.c.api_key_id,
               ApiKey.name.label("api_key_name"), ApiKey.key_prefix.label("api_key_prefix"),
               table.c.model_id, table.c.provider, table.c.requests,
               table.c.successful_requests, table.c.failed_requests, table.c.prompt_tokens,
               table.c.completion_tokens, table.c.total_tokens, table.c.spend)
        .select_from(table)
        .outerjoin(User, User.id == table.c.user_id)
        .outerjoin(Team, Team.id == table.c.team_id)
        .outerjoin(ApiKey, ApiKey.id == table.c.api_key_id)
        .where(*usage.conditions(table))
        .order_by(table.c.day, User.username, table.c.model_id, table.c.api_key_hash)
        .execution_options(yield_per=FETCH_BATCH)
    )
    for row in db.session.execute(stmt):
        yield dict(row._mapping)


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if name in _TEXT_COLUMNS and str(value).startswith(_FORMULA_START):
        return "'" + str(value)
    return value.isoformat() if name == "date" else str(value)


class _CsvWriter:
    def __init__(self, out) -> None:
        self.writer = csv.writer(out, lineterminator="\r\n")
        self.writer.writerow(COLUMNS)

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow([_cell(name, row[name]) for name in COLUMNS])

    def close(self) -> None:
        pass


class _JsonWriter:
    """``{"startDate", "endDate", "filters", "rows": [...]}``, one row per line; spend is written
    as the exact decimal number (not through a float)."""

    def __init__(self, out, usage: UsageFilter) -> None:
        self.out, self.first = out, True
        head = {"startDate": usage.start.isoformat(), "endDate": usage.end.isoformat(),
                "filters": {k: v for k, v in usage.params().items()
                            if k not in ("startDate", "endDate")}}
        out.write(json.dumps(head)[:-1] + ', "rows": [\n')

    def write(self, row: dict[str, Any]) -> None:
        fields = {name: _json_value(row[name]) for name in COLUMNS if name != "spend"}
        text = json.dumps(fields)[:-1] + f', "spend": {format(row["spend"], "f")}}}'
        self.out.write(("" if self.first else ",\n") + text)
        self.first = False

    def close(self) -> None:
        self.out.write("\n]}\n")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- download -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    mimetype: str


def download(job_id: uuid.UUID, identity) -> Download:
    """The finished export of a job its caller may see; 404 until the job has succeeded."""
    job = jobs.get_visible(job_id, identity)
    result = job.result or {}
    if result.get("expiredAt"):
        raise NotFound("The export file has expired; request a new export",
                       {"resource": "job", "id": str(job_id), "expiredAt": result["expiredAt"]})
    if job.status != "succeeded" or not result.get("file"):
        raise NotFound("This job has no file to download (yet)",
                       {"resource": "job", "id": str(job_id), "status": job.status})
    path = export_dir() / Path(result["file"]).name
    if not path.is_file():
        raise NotFound("The export file is no longer available",
                       {"resource": "job", "id": str(job_id)})
    fmt = path.suffix.lstrip(".")
    return Download(path, result.get("filename") or path.name,
                    FORMATS.get(fmt, "application/octet-stream"))


# --- retention ----------------------------------------------------------------------------


def purge_expired() -> dict[str, int]:
    """Delete export files older than ``EXPORT_RETENTION_HOURS`` and mark their jobs expired;
    stray files (a crashed export's partial file) of that age go too. Commits."""
    hours = current_app.config["EXPORT_RETENTION_HOURS"]
    if hours <= 0:
        return {"expired": 0, "strayFiles": 0}
    now = datetime.now(UTC)
    cutoff = now - timedelta(hours=hours)
    directory = export_dir()
    expired = db.session.scalars(
        select(Job).where(Job.kind == EXPORT_KIND, Job.status == "succeeded",
                          Job.finished_at < cutoff, Job.result.has_key("file"),
                          ~Job.result.has_key("expiredAt"))
        .with_for_update(skip_locked=True)
    ).all()
    for job in expired:
        name = (job.result or {}).get("file")
        if name:
            (directory / Path(name).name).unlink(missing_ok=True)
        job.result = {**job.result, "file": None, "download": None,
                      "expiredAt": now.isoformat()}
    db.session.commit()
    stray = 0
    for path in directory.iterdir():  # only our own names: EXPORT_DIR may hold other files
        if (_EXPORT_FILE.fullmatch(path.name) and path.is_file()
                and path.stat().st_mtime < cutoff.timestamp()):
            path.unlink(missing_ok=True)
            stray += 1
    return {"expired": len(expired), "strayFiles": stray}
