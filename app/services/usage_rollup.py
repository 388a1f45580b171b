"""Usage rollup: LiteLLM ``/user/daily/activity`` → ``usage_daily`` (DESIGN §9).

For each of our users known to LiteLLM, the activity of the window is read page by page and
folded into rows of the grain (day, user, key hash, model). Complete days are buffered (across
users) and written in batches of about ``FLUSH_ROWS`` grains, one transaction each: the rows
already there for those users and days are read, vanished ones are deleted, changed ones are
updated (values *replaced*, never added), and the rest — known to be new — go in by ``COPY``
(usage_daily is a fact table without foreign keys, migration 0009). So a rerun writes nothing,
and a run that crashed half-way then ran again never counts twice.

LiteLLM pages cut through its rows, so one date can continue on the next page: a page's days are
held back until a page arrives without them (or the last page), then written complete.

``usage_daily_totals`` (per day, model and provider; what admin views read) is recomputed once
per run for the run's days, in the run's final transaction. The days are first recorded as stale
(``settings`` row ``usage.totals.stale``), so the totals of a run that crashed are recomputed by
the next run whatever its window.

Scheduled runs recompute today and yesterday, plus any day after the frozen watermark (the
``settings`` row ``usage.rollup.frozen_through``) if runs were missed; older days stay frozen.
A run with a range (admin backfill) recomputes exactly that range and leaves the watermark alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from flask import current_app
from sqlalchemy import select, text

from app.db_copy import copy_in, copy_value
from app.errors import Conflict, ValidationError
from app.extensions import db
from app.litellm import litellm_client
from app.litellm.errors import LiteLLMError, LiteLLMInvalidResponse
from app.models import ApiKey, Job, Model, Setting, User
from app.services import audit, budgets, jobs, usage_partitions

log = logging.getLogger(__name__)

ROLLUP_KIND = "usage_rollup"
WATERMARK_SETTING = "usage.rollup.frozen_through"
STALE_TOTALS_SETTING = "usage.totals.stale"
PAGE_SIZE = 1000  # LiteLLM's maximum page_size
FIRST_RUN_DAYS = 30  # a first scheduled run (no watermark yet) looks this far back
MAX_RANGE_DAYS = 366
SPEND_QUANTUM = Decimal("0.00000001")  # usage_daily.spend is numeric(20, 8)


Progress = Callable[[int, str], None]


def utc_today() -> date:
    return datetime.now(UTC).date()


# --- the window ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: date
    end: date
    backfill: bool

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def validate_range(start: date, end: date, max_days: int = MAX_RANGE_DAYS) -> None:
    """Refuse reversed or too long ranges (400 in the error envelope)."""
    if start > end:
        raise ValidationError("startDate must not be after endDate",
                              {"startDate": start.isoformat(), "endDate": end.isoformat()},
                              code="INVALID_DATE_RANGE")
    days = (end - start).days + 1
    if days > max_days:
        raise ValidationError(f"The date range spans {days} days; at most {max_days} are allowed",
                              {"requestedDays": days, "maxAllowedDays": max_days},
                              code="DATE_RANGE_TOO_LARGE")


def resolve_window(params: dict[str, Any], today: date) -> Window:
    """The days a run recomputes: the requested range, or the scheduled window."""
    if params.get("startDate"):
        start, end = date.fromisoformat(params["startDate"]), date.fromisoformat(params["endDate"])
        return Window(start, min(end, today), backfill=True)
    yesterday = today - timedelta(days=1)
    frozen = frozen_through()
    if frozen is None:
        start = today - timedelta(days=FIRST_RUN_DAYS - 1)
    else:
        start = max(frozen + timedelta(days=1), today - timedelta(days=MAX_RANGE_DAYS - 1))
    return Window(min(start, yesterday), today, backfill=False)


def frozen_through() -> date | None:
    setting = db.session.get(Setting, WATERMARK_SETTING)
    return date.fromisoformat(setting.value["day"]) if setting else None


def _advance_watermark(today: date) -> date:
    """Days before yesterday are final once a scheduled run has recomputed them."""
    day = max(frozen_through() or date.min, today - timedelta(days=2))
    setting = db.session.get(Setting, WATERMARK_SETTING) or Setting(key=WATERMARK_SETTING)
    setting.value = {"day": day.isoformat()}
    db.session.add(setting)
    return day


def mark_totals_stale(start: date, end: date) -> None:
    """Record (before any page is written) that these days' totals must be recomputed."""
    setting = db.session.get(Setting, STALE_TOTALS_SETTING)
    if setting is not None:
        start = min(start, date.fromisoformat(setting.value["start"]))
        end = max(end, date.fromisoformat(setting.value["end"]))
    setting = setting or Setting(key=STALE_TOTALS_SETTING)
    setting.value = {"start": start.isoformat(), "end": end.isoformat()}
    db.session.add(setting)


def refresh_stale_totals() -> tuple[date, date] | None:
    """Recompute usage_daily_totals of the stale days from usage_daily (caller commits)."""
    setting = db.session.get(Setting, STALE_TOTALS_SETTING)
    if setting is None:
        return None
    start, end = (date.fromisoformat(setting.value[name]) for name in ("start", "end"))
    db.session.execute(_DELETE_TOTALS, {"start": start, "end": end})
    db.session.execute(_INSERT_TOTALS, {"start": start, "end": end})
    db.session.delete(setting)
    return start, end


# --- requests -----------------------------------------------------------------------------


def request_rollup(start: date | None, end: date | None, requested_by) -> tuple[Job, bool]:
    """Admin: enqueue a rollup (a backfill of exactly [start, end] when given) → (job, created).

    Rollups are single-flight: an active rollup with the same range is returned; one with a
    different range is a 409 naming it.
    """
    params: dict[str, Any] = {}
    if start or end:
        today = utc_today()
        end = min(end or today, today)
        start = start or end
        validate_range(start, end)
        params = {"startDate": start.isoformat(), "endDate": end.isoformat()}
    job, created = jobs.create(ROLLUP_KIND, params, requested_by=requested_by)
    if not created:
        if _range_of(job.params) != _range_of(params):
            raise Conflict("Another usage rollup is queued or running; retry when it finishes",
                           {"jobId": str(job.id), "params": job.params})
        return job, False
    audit.record("JOB_ENQUEUED", "job", job.id, details={"kind": ROLLUP_KIND, **params})
    db.session.commit()  # the job is published after this commit
    return job, True


def _range_of(params: dict[str, Any]) -> tuple[str | None, str | None]:
    return params.get("startDate"), params.get("endDate")


# --- the run ------------------------------------------------------------------------------


@dataclass
class RollupStats:
    users: int = 0
    pages: int = 0
    rows: int = 0
    days_written: int = 0

    def add(self, ingest: ActivityIngest) -> None:
        self.users += 1
        self.pages += ingest.pages
        self.rows += ingest.rows
        self.days_written += ingest.days_written


def run_rollup(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Pull the window's activity for every LiteLLM user, then refresh spend and budgets."""
    today = utc_today()
    window = resolve_window(params, today)
    client = litellm_client()
    users = db.session.execute(
        select(User.id, User.litellm_user_id)
        .where(User.litellm_user_id.is_not(None)).order_by(User.id)
    ).all()
    catalogue = dict(db.session.execute(select(Model.id, Model.provider)).all())
    mark_totals_stale(window.start, window.end)
    db.session.commit()
    stats, live_key_spend = RollupStats(), {}
    progress(1, f"{len(users)} users, {window.start} to {window.end}")
    writer = UsageWriter(catalogue, background=True)
    try:
        for index, (user_id, litellm_user_id) in enumerate(users):
            ingest = ActivityIngest(user_id, window, catalogue, writer)
            pages = client.iter_user_daily_activity(window.start, window.end, PAGE_SIZE,
                                                    user_id=litellm_user_id)
            for payload in pages:
                ingest.add_page(payload)
                progress(_percent(index, len(users)),
                         f"user {index + 1}/{len(users)}: page {ingest.pages}")
            ingest.finish()
            stats.add(ingest)
            live_key_spend.update(_live_key_spend(client, user_id, litellm_user_id))
    except BaseException:
        writer.batch = {}  # days not handed over yet stay as they were; the written ones stand
        try:
            writer.close()
        except Exception:
            log.exception("usage rollup: a write failed too")
        raise
    writer.close()
    progress(99, "refreshing totals, spend and budgets")
    refresh_stale_totals()
    spend = budgets.refresh_spend(today, live_key_spend)
    alerts = budgets.record_crossings(today)
    watermark = frozen_through() if window.backfill else _advance_watermark(today)
    db.session.commit()
    return {
        "startDate": window.start.isoformat(), "endDate": window.end.isoformat(),
        "backfill": window.backfill, "users": stats.users, "pages": stats.pages,
        "rows": stats.rows, "daysWritten": stats.days_written,
        "frozenThrough": watermark.isoformat() if watermark else None,
        "spendUpdated": spend, "budgetAlerts": alerts,
    }


def _percent(done: int, total: int) -> int:
    return 2 + int(96 * done / total) if total else 98


def _live_key_spend(client, user_id: uuid.UUID, litellm_user_id: str) -> dict[str, Decimal]:
    """LiteLLM's spend counter of the user's live keys (its budget is enforced against it)."""
    has_live_keys = db.session.scalar(
        select(ApiKey.id).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).limit(1)
    )
    db.session.commit()
    if has_live_keys is None:
        return {}
    spend, page = {}, 1
    try:
        while True:
            answer = client.key_list(page=page, size=100, user_id=litellm_user_id)
            for key in answer.get("keys") or []:
                if isinstance(key, dict) and key.get("token") and key.get("spend") is not None:
                    spend[key["token"]] = _decimal(key["spend"])
            if page >= int(answer.get("total_pages") or 1):
                return spend
            page += 1
    except LiteLLMError as exc:
        if exc.retryable:
            raise
        log.warning("key spend not read from LiteLLM (%s); using the rollup's sums",
                    type(exc).__name__)
        return {}


# --- folding activity pages into rows -----------------------------------------------------


METRICS = ("requests", "successful_requests", "failed_requests", "prompt_tokens",
           "completion_tokens", "total_tokens", "spend")
# One user's activity of one day: (key token, model id) → METRICS values in order: six counts,
# then the spend in SPEND_UNITS (an int: exact, and no Decimal per row).
DayGrains = dict[tuple[str, str], tuple[int, ...]]

SPEND_SCALE = 8  # usage_daily.spend is numeric(20, 8)
SPEND_UNITS = 10 ** SPEND_SCALE  # per currency unit
# Below this many units, a float's product by SPEND_UNITS is within 0.001 of the exact product
# of its printed decimal (|error| ≤ 1.5 ulp ≤ 2**-10 under 2**42), so rounding the product
# gives the printed value's rounding unless it lies within 0.01 of a tie.
_FLOAT_EXACT_BELOW = 2.0 ** 42

# LiteLLM's metric names, in METRICS' order.
_LITELLM_METRICS = ("api_requests", "successful_requests", "failed_requests", "prompt_tokens",
                    "completion_tokens", "total_tokens", "spend")
_read_metrics = itemgetter(*_LITELLM_METRICS)


def to_money(value: Any) -> Decimal:
    """LiteLLM's float spend as the exact decimal it prints, to usage_daily's 8 places."""
    return _decimal(value).quantize(SPEND_QUANTUM)


def spend_units(value: Any) -> int:
    """LiteLLM's spend in SPEND_UNITS: ``to_money(value)`` as an int, without a Decimal for
    the usual float (rounded half to even, as the printed value would be)."""
    if value.__class__ is float:
        scaled = value * SPEND_UNITS
        if -_FLOAT_EXACT_BELOW < scaled < _FLOAT_EXACT_BELOW:
            units = round(scaled)
            if abs(abs(scaled - units) - 0.5) > 0.01:
                return units
    elif value.__class__ is int:
        return value * SPEND_UNITS
    return int(to_money(value).scaleb(SPEND_SCALE))


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise LiteLLMInvalidResponse(f"LiteLLM spend {value!r} is not a number")
    return number


def parse_results(results: Iterable[Any]) -> tuple[dict[date, DayGrains], dict[str, str | None]]:
    """One page's ``results`` → {day: {(token, model): metrics}} and each key's LiteLLM team.

    Per model, the key breakdown is read from ``breakdown.model_groups`` (keyed by the public
    model name, which is our model id) or, on LiteLLM versions without it, ``breakdown.models``.
    """
    days: dict[date, DayGrains] = {}
    key_teams: dict[str, str | None] = {}
    try:
        for result in results:
            grains = days.setdefault(date.fromisoformat(result["date"]), {})
            breakdown = result.get("breakdown") or {}
            groups = breakdown.get("model_groups") or breakdown.get("models") or {}
            for model_id, bucket in groups.items():
                for token, entry in (bucket.get("api_key_breakdown") or {}).items():
                    values = metric_values(entry["metrics"])
                    grain = (token, model_id)
                    if grain in grains:
                        values = _plus(grains[grain], values)
                    grains[grain] = values
                    if token not in key_teams:
                        key_teams[token] = (entry.get("metadata") or {}).get("team_id")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise LiteLLMInvalidResponse(
            f"daily activity: unexpected result shape ({type(exc).__name__}: {exc})") from None
    return days, key_teams


def metric_values(metrics: dict[str, Any]) -> tuple[int, ...]:
    """One LiteLLM metrics object → METRICS values (a missing or null count is 0, a missing
    total is prompt + completion)."""
    try:
        values = _read_metrics(metrics)
    except KeyError:
        return _metric_values_of_any(metrics)
    requests, successful, failed, prompt, completion, total, spend = values
    if (requests.__class__ is int and successful.__class__ is int and failed.__class__ is int
            and prompt.__class__ is int and completion.__class__ is int
            and total.__class__ is int):
        return (requests, successful, failed, prompt, completion, total,
                spend_units(spend or 0))
    return _metric_values_of_any(metrics)


def _metric_values_of_any(metrics: dict[str, Any]) -> tuple[int, ...]:
    prompt = int(metrics.get("prompt_tokens") or 0)
    completion = int(metrics.get("completion_tokens") or 0)
    total = metrics.get("total_tokens")
    return (int(metrics.get("api_requests") or 0), int(metrics.get("successful_requests") or 0),
            int(metrics.get("failed_requests") or 0), prompt, completion,
            prompt + completion if total is None else int(total),
            spend_units(metrics.get("spend") or 0))


def _plus(a: tuple, b: tuple) -> tuple:
    return tuple(x + y for x, y in zip(a, b, strict=True))


@dataclass
class ActivityIngest:
    """Folds one user's activity pages into complete days, handed to a ``UsageWriter``.

    Without a writer of its own (tests, one-off use) it writes through a private one, flushed by
    ``finish``. ``run_rollup`` shares one writer across users, so many small users go in one
    transaction.
    """

    user_id: uuid.UUID
    window: Window
    catalogue: dict[str, str | None]
    writer: UsageWriter | None = None
    pending: dict[date, DayGrains] = field(default_factory=dict)
    key_teams: dict[str, str | None] = field(default_factory=dict)
    seen: set[date] = field(default_factory=set)
    pages: int = 0
    rows: int = 0
    days_written: int = 0
    own_writer: bool = False

    def __post_init__(self) -> None:
        if self.writer is None:
            self.writer, self.own_writer = UsageWriter(self.catalogue), True

    def add_page(self, payload: dict[str, Any]) -> None:
        days, key_teams = parse_results(payload.get("results") or [])
        start, end = self.window.start, self.window.end
        days = {day: grains for day, grains in days.items() if start <= day <= end}
        self.key_teams.update(key_teams)
        complete = {day: self.pending.pop(day) for day in list(self.pending) if day not in days}
        for day, grains in self.pending.items():  # a day continued from the previous page
            merged = days[day]
            for grain, values in grains.items():
                merged[grain] = values if grain not in merged else _plus(merged[grain], values)
        self.pending = days
        self.seen.update(days)
        self.pages += 1
        if complete:
            self._write(complete)

    def finish(self) -> None:
        """Hand over the held-back days, and the window's days LiteLLM reported nothing for
        (their rows go); a private writer is flushed."""
        final = self.pending
        final.update({day: {} for day in self.window.days() if day not in self.seen})
        self.pending = {}
        if final:
            self._write(final)
        if self.own_writer:
            self.writer.close()

    def _write(self, days: dict[date, DayGrains]) -> None:
        self.rows += sum(len(grains) for grains in days.values())
        self.days_written += len(days)
        self.writer.add(self.user_id, days, self.key_teams)


# --- the write transaction ----------------------------------------------------------------

FLUSH_ROWS = 20_000  # grains (and days) buffered before a write transaction
WRITER_THREADS = 2  # background write transactions at once


class UsageWriter:
    """Buffers complete (user, day) sets of grains and writes them in batches, one transaction
    per batch (``write_batch``). A (user, day) is always written whole, so a crash leaves each
    day of each user entirely old or entirely new, and a rerun fixes the rest.

    ``background=True`` writes on ``WRITER_THREADS`` threads of their own (each with its own
    app context, session and connection), so PostgreSQL's work on batches overlaps the parsing
    of the next, and PostgreSQL's share (most of a new row's cost) is spread over as many
    backends: at most that many batches are written while one waits. A user split across two
    batches is written by one transaction after the other (the users' advisory locks).
    ``close`` waits for the writes and raises the first write error; call it before anything
    reads what was written.
    """

    def __init__(self, catalogue: dict[str, str | None], flush_rows: int | None = None,
                 background: bool = False) -> None:
        self.catalogue = catalogue
        self.flush_rows = FLUSH_ROWS if flush_rows is None else flush_rows
        self.batch: dict[str, dict[date, DayGrains]] = {}
        self.key_teams: dict[str, str | None] = {}
        self.buffered = 0
        self.months: set[date] = set()  # months whose partition is known to exist
        self.error: BaseException | None = None
        self._queue: queue.Queue | None = None
        self._threads: list[threading.Thread] = []
        if background:
            self._queue = queue.Queue(maxsize=1)
            app = current_app._get_current_object()
            self._threads = [threading.Thread(target=self._run, args=(app,),
                                              name=f"usage-writer-{n}", daemon=True)
                             for n in range(WRITER_THREADS)]
            for thread in self._threads:
                thread.start()

    def add(self, user_id: uuid.UUID | str, days: dict[date, DayGrains],
            key_teams: dict[str, str | None]) -> None:
        self.batch.setdefault(str(user_id), {}).update(days)
        self.key_teams.update(key_teams)
        self.buffered += len(days) + sum(len(grains) for grains in days.values())
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered days to the write (done before returning unless in background)."""
        if self.error is not None:
            raise self.error
        if not self.batch:
            return
        item = (self.batch, self.key_teams)
        self.batch, self.key_teams, self.buffered = {}, {}, 0
        if self._queue is None:
            self._write(*item)
        else:
            self._queue.put(item)

    def wait(self) -> None:
        """Write what is buffered and wait until it is written (the thread stays)."""
        self.flush()
        if self._queue is not None:
            self._queue.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Write what is buffered, wait for the background writes, raise the first error."""
        try:
            self.flush()
        finally:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []
        if self.error is not None:
            raise self.error

    def _write(self, batch: dict[str, dict[date, DayGrains]],
               key_teams: dict[str, str | None]) -> None:
        months = {day.replace(day=1) for days in batch.values() for day in days}
        if not months <= self.months:
            usage_partitions.ensure_months(min(months), max(months))
            self.months |= months
        write_batch(batch, key_teams, self.catalogue)

    def _run(self, app) -> None:
        with app.app_context():
            try:
                while (item := self._queue.get()) is not None:
                    if self.error is None:
                        try:
                            self._write(*item)
                        except BaseException as exc:  # handed to the caller by flush/close
                            db.session.rollback()
                            self.error = exc
                    self._queue.task_done()
            finally:
                db.session.remove()


def write_days(user_id: uuid.UUID, days: dict[date, DayGrains], key_teams: dict[str, str | None],
               catalogue: dict[str, str | None]) -> None:
    """Make the user's rows of ``days`` exactly ``days``' grains, in one transaction."""
    writer = UsageWriter(catalogue)
    writer.add(user_id, days, key_teams)
    writer.close()


def write_batch(batch: dict[str, dict[date, DayGrains]], key_teams: dict[str, str | None],
                catalogue: dict[str, str | None]) -> dict[str, int]:
    """Make each user's rows of each listed day exactly the given grains, in one transaction.

    The rows already there are read first: unchanged ones are left alone, changed ones are
    updated, vanished ones deleted, and the rest — known to be new — go in by ``COPY``. A rerun
    writes nothing. Every user, team and key a row will reference is locked ``FOR KEY SHARE``
    before anything is written (what a foreign key check does), and a reference that is gone
    is written as NULL: a concurrent delete waits for this commit, then its trigger nulls the
    rows (migration 0009), so no row can reference a deleted row.
    """
    session = db.session
    users = sorted(batch)
    session.execute(_LOCK_USERS, {"locks": _array(f"usage_daily:{user}" for user in users)})
    live_users = set(session.execute(_LIVE_USERS, {"ids": _array(users)}).scalars())
    gone = [user for user in users if user not in live_users]
    if gone:
        log.warning("usage rollup: %d users deleted meanwhile; their activity is skipped",
                    len(gone))
        users = [user for user in users if user in live_users]
        if not users:
            session.commit()
            return {"new": 0, "changed": 0, "deleted": 0}
    tokens = {token for user in users for grains in batch[user].values() for token, _ in grains}
    models = {model for user in users for grains in batch[user].values() for _, model in grains}
    keys = _keys_by_token(tokens)
    teams = _teams_by_litellm_id({key_teams.get(t) for t in tokens if t not in keys})
    # Each token's (key id, team id): its key's, else its LiteLLM team's.
    refs = {token: keys.get(token) or (None, teams.get(key_teams.get(token) or ""))
            for token in tokens}
    first = min(day for user in users for day in batch[user])
    last = max(day for user in users for day in batch[user])
    existing = _existing_rows(batch, users, first, last)
    # Every team and key a row may reference, locked before anything is written.
    old_rows = [old for grains in existing.values() for old in grains.values()]
    live_teams = _locked(_LOCK_TEAMS, {team for _, team in refs.values()}
                         | {old[2] for old in old_rows})
    live_keys = _locked(_LOCK_KEYS, {key for key, _ in refs.values()}
                        | {old[3] for old in old_rows})
    # A new row's fields, escaped once per token and model: (team, key, token), (model, provider).
    token_fields = {
        token: "\t".join((copy_value(team if team in live_teams else None),
                          copy_value(key if key in live_keys else None), copy_value(token)))
        for token, (key, team) in refs.items()}
    model_fields = {model: f"{copy_value(model)}\t{copy_value(catalogue.get(model))}"
                    for model in models}
    lines, changed, deleted = [], [], []
    for user in users:
        user_days = batch[user]
        for day in sorted(user_days):
            grains = user_days[day]
            old_grains = existing.get((user, day))
            prefix = f"{user}\t{day.isoformat()}\t"
            for grain in sorted(grains):
                values = grains[grain]
                old = old_grains.pop(grain, None) if old_grains else None
                if old is None:
                    lines.append(_NEW_ROW % (prefix, token_fields[grain[0]],
                                             model_fields[grain[1]], *values))
                    continue
                old_id, old_provider, old_team, old_key, old_values = old
                key_id, team_id = refs[grain[0]]
                team_id, key_id = team_id or old_team, key_id or old_key
                provider = catalogue.get(grain[1]) or old_provider
                team_id = team_id if team_id in live_teams else None
                key_id = key_id if key_id in live_keys else None
                if (values, team_id, key_id, provider) != (old_values, old_team, old_key,
                                                           old_provider):
                    changed.append((old_id, day, team_id, key_id, provider,
                                    *values[:-1], spend_text(values[-1])))
            if old_grains:
                deleted.extend(old[0] for old in old_grains.values())
    if deleted:
        session.execute(_DELETE_ROWS, {"ids": _plain_array(deleted), "first": first,
                                       "last": last})
    if changed:
        session.execute(_UPDATE, _columns(("id", "day", "team_id", "api_key_id", "provider",
                                           *METRICS), changed))
    if lines:
        copy_in(session.connection(), _COPY_SQL, iter(("".join(lines).encode(),)))
    session.commit()
    return {"new": len(lines), "changed": len(changed), "deleted": len(deleted)}


def _existing_rows(batch: dict[str, dict[date, DayGrains]], users: list[str], first: date,
                   last: date) -> dict[tuple[str, date], dict[tuple[str, str], tuple]]:
    """The rows already there for the batch's users and days: {(user, day): {(token, model):
    (id, provider, team id, key id, METRICS values)}}."""
    existing: dict[tuple[str, date], dict[tuple[str, str], tuple]] = {}
    rows = db.session.execute(_EXISTING, {"users": _array(users), "first": first, "last": last})
    for row in rows:
        user, day = row[1], row[2]
        if day in batch[user]:
            existing.setdefault((user, day), {})[(row[3], row[4])] = (
                row[0], row[5], row[6], row[7], (*row[8:14], _units_of_text(row[14])))
    return existing


def _units_of_text(spend: str) -> int:
    """usage_daily.spend as PostgreSQL prints it (always SPEND_SCALE decimals) → SPEND_UNITS."""
    return int(spend.replace(".", ""))


def spend_text(units: int) -> str:
    """SPEND_UNITS as numeric input: PostgreSQL reads ``1234e-8`` as 0.00001234."""
    return f"{units}e-{SPEND_SCALE}"


def _locked(statement, ids: set[str | None]) -> set[str]:
    """The ids (of teams or keys) that still exist, locked FOR KEY SHARE until the commit."""
    ids.discard(None)
    if not ids:
        return set()
    return set(db.session.execute(statement, {"ids": _plain_array(sorted(ids))}).scalars())


_COPY_SQL = (f"COPY usage_daily (user_id, day, team_id, api_key_id, api_key_hash, model_id, "
             f"provider, {', '.join(METRICS)}) FROM STDIN")
# A new row as a COPY line (text format): (user, day) prefix, token fields, model fields, the
# six counts and the spend (as spend_text writes it). Rows go in the grain index's order, with
# no per-row statement and no conflict handling: the users' advisory locks make them new, and
# the grain's unique index would refuse a duplicate (the transaction fails, the job retries).
_NEW_ROW = "%s%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%de-" + str(SPEND_SCALE) + "\n"


def _keys_by_token(tokens: set[str]) -> dict[str, tuple[str, str | None]]:
    if not tokens:
        return {}
    rows = db.session.execute(_KEYS_BY_TOKEN, {"tokens": _array(tokens)})
    return {token: (key_id, team_id) for token, key_id, team_id in rows}


def _teams_by_litellm_id(litellm_ids: set[str | None]) -> dict[str, str]:
    litellm_ids = {team for team in litellm_ids if team}
    if not litellm_ids:
        return {}
    rows = db.session.execute(_TEAMS_BY_LITELLM_ID, {"ids": _array(litellm_ids)})
    return {litellm_id: team_id for litellm_id, team_id in rows}


# Rows travel as PostgreSQL array literals (one text parameter per column): much cheaper for
# the server to parse than one bound value per element.
def _array(values: Iterable[Any]) -> str:
    return "{" + ",".join("NULL" if v is None else _quoted(str(v)) for v in values) + "}"


def _plain_array(values: Iterable[Any]) -> str:
    """Numbers, dates and uuids: nothing to quote (NULL still allowed)."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _columns(names: tuple[str, ...], rows: list) -> dict[str, str]:
    columns = zip(*rows, strict=True)
    return {name: (_array if name in _TEXT_COLUMNS else _plain_array)(column)
            for name, column in zip(names, columns, strict=True)}


_TEXT_COLUMNS = frozenset({"api_key_hash", "model_id", "provider"})
_METRIC_TYPES = ("bigint",) * 6 + ("numeric",)


def _unnest(names: tuple[str, ...], types: tuple[str, ...]) -> str:
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])"
                       for name, kind in zip(names, types, strict=True))
    return f"unnest({arrays}) AS n({', '.join(names)})"


_LOCK_USERS = text("""
    SELECT count(pg_advisory_xact_lock(hashtextextended(lock, 0)))
    FROM (SELECT unnest(CAST(:locks AS text[])) AS lock ORDER BY 1) AS l
""")

_LIVE_USERS = text(
    "SELECT id::text FROM users WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR KEY SHARE")

_LOCK_TEAMS = text(
    "SELECT id::text FROM teams WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR KEY SHARE")

_LOCK_KEYS = text(
    "SELECT id::text FROM api_keys WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id "
    "FOR KEY SHARE")

_EXISTING = text(f"""
    SELECT id, user_id::text, day, api_key_hash, model_id, provider, team_id::text,
           api_key_id::text, {", ".join(METRICS[:-1])}, spend::text
    FROM usage_daily
    WHERE user_id = ANY(CAST(:users AS uuid[])) AND day BETWEEN :first AND :last
""")

_KEYS_BY_TOKEN = text(
    "SELECT key_hash, id::text, team_id::text FROM api_keys "
    "WHERE key_hash = ANY(CAST(:tokens AS text[]))")

_TEAMS_BY_LITELLM_ID = text(
    "SELECT litellm_team_id, id::text FROM teams "
    "WHERE litellm_team_id = ANY(CAST(:ids AS text[]))")

_DELETE_ROWS = text("DELETE FROM usage_daily WHERE id = ANY(CAST(:ids AS bigint[])) "
                    "AND day BETWEEN :first AND :last")

_UPDATE = text(f"""
    UPDATE usage_daily AS u SET
        team_id = n.team_id, api_key_id = n.api_key_id, provider = n.provider,
        {", ".join(f"{m} = n.{m}" for m in METRICS)}, updated_at = now()
    FROM {_unnest(("id", "day", "team_id", "api_key_id", "provider", *METRICS),
                  ("bigint", "date", "uuid", "uuid", "text", *_METRIC_TYPES))}
    WHERE u.id = n.id AND u.day = n.day
""")

_DELETE_TOTALS = text("DELETE FROM usage_daily_totals WHERE day BETWEEN :start AND :end")

_INSERT_TOTALS = text(f"""
    INSERT INTO usage_daily_totals (day, model_id, provider, {", ".join(METRICS)})
    SELECT day, model_id, provider, {", ".join(f"sum({m})" for m in METRICS)}
    FROM usage_daily WHERE day BETWEEN :start AND :end
    GROUP BY day, model_id, provider
""")
