"""usage_daily's monthly partitions (migration 0009): created before a rollup writes a month,
dropped whole by the retention job (``USAGE_RETENTION_MONTHS``; 0 keeps every month).

Partitions live in the ``usage_parts`` schema as ``usage_daily_YYYY_MM``, plus
``usage_daily_default`` for any day without its month (rows written by hand, a clock far off):
creating a month moves that month's rows out of the default partition first, so no row is ever
refused and none is lost.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)

SCHEMA = "usage_parts"
PREFIX = "usage_daily_"
DEFAULT = f"{SCHEMA}.usage_daily_default"
_MONTH_NAME = re.compile(r"^usage_daily_(\d{4})_(\d{2})$")
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('usage_daily:partitions', 0))")


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def months(first: date, last: date) -> list[date]:
    month, found = month_start(first), []
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def existing_months() -> dict[date, str]:
    """Month → partition name (schema-qualified) of every monthly partition there is."""
    rows = db.session.execute(text("""
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = 'public.usage_daily'::regclass AND n.nspname = :schema
    """), {"schema": SCHEMA}).scalars()
    found = {}
    for name in rows:
        match = _MONTH_NAME.match(name)
        if match:
            found[date(int(match[1]), int(match[2]), 1)] = f"{SCHEMA}.{name}"
    return found


def ensure_months(first: date, last: date) -> list[date]:
    """Create the partitions of the months from ``first`` to ``last`` that are missing; commits.

    Returns the months created. Cheap when they all exist (one catalogue query).
    """
    wanted = months(first, last)
    have = existing_months()
    if all(month in have for month in wanted):
        return []
    db.session.execute(_LOCK)
    have = existing_months()  # another process may have made them while we waited
    created = []
    for month in wanted:
        if month in have:
            continue
        _create_month(month)
        created.append(month)
    db.session.commit()
    if created:
        log.info("usage_daily: created partitions for %s", ", ".join(f"{m:%Y-%m}" for m in created))
    return created


def _create_month(month: date) -> None:
    """A new month's partition, holding the rows of that month the default partition had."""
    name = f"{SCHEMA}.{PREFIX}{month:%Y_%m}"
    bounds = {"start": month, "end": next_month(month)}
    session = db.session
    session.execute(text(f"CREATE TABLE {name} (LIKE usage_daily INCLUDING DEFAULTS)"))
    session.execute(text(f"""
        WITH moved AS (DELETE FROM {DEFAULT} WHERE day >= :start AND day < :end RETURNING *)
        INSERT INTO {name} SELECT * FROM moved
    """), bounds)
    session.execute(text(
        f"ALTER TABLE usage_daily ATTACH PARTITION {name} "
        f"FOR VALUES FROM ('{bounds['start'].isoformat()}') TO ('{bounds['end'].isoformat()}')"))


def drop_expired(retention_months: int, today: date) -> list[str]:
    """Drop the months older than the newest ``retention_months`` (the current one counts);
    their rows in the default partition and in usage_daily_totals go too. Commits."""
    if retention_months <= 0:
        return []
    keep_from = month_start(today)
    for _ in range(retention_months - 1):
        keep_from = date(keep_from.year - (keep_from.month == 1), (keep_from.month - 2) % 12 + 1,
                         1)
    session = db.session
    session.execute(_LOCK)
    dropped = []
    for month, name in sorted(existing_months().items()):
        if month < keep_from:
            session.execute(text(f"ALTER TABLE usage_daily DETACH PARTITION {name}"))
            session.execute(text(f"DROP TABLE {name}"))
            dropped.append(f"{month:%Y-%m}")
    session.execute(text(f"DELETE FROM {DEFAULT} WHERE day < :keep"), {"keep": keep_from})
    session.execute(text("DELETE FROM usage_daily_totals WHERE day < :keep"), {"keep": keep_from})
    session.commit()
    if dropped:
        log.info("usage_daily: dropped months %s (USAGE_RETENTION_MONTHS=%d)",
                 ", ".join(dropped), retention_months)
    return dropped
