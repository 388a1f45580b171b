"""Model synchronisation with LiteLLM (DESIGN §6): one fetch, one diff, few statements.

A run fetches ``/model/info`` once. When the payload's fingerprint equals the last successful
run's and no model row changed since that run, the run is a no-op: nothing but its
``sync_runs`` row is written (a row changed out of band, e.g. by an admin edit, costs one full
diff, which repairs whatever a sync owns). Otherwise every entry
is normalised (``model_normalize``) and compared by content hash against one
``SELECT id, content_hash, availability``; only new, changed and returning models go into
**one** bulk upsert, and models LiteLLM no longer lists are marked ``unavailable`` by **one**
UPDATE (kept, with ``unavailable_since``; their subscriptions untouched). Admin-owned fields
(``description``, ``restricted``) are never written by a sync, except the description LiteLLM
gives a model the first time it is seen.

A failed or refused fetch changes no model. Every attempt writes a ``sync_runs`` row.

``last_seen_at``: a no-op run must write zero model rows, so the column is not bumped on every
run. It is set when a sync writes the row (insert, change, revival); when a model is marked
unavailable it is set to the finish time of the last successful run, the last one that listed
it. An available model has been listed by every successful run since it was written, so its
effective "last seen" is the last successful run (``app.services.models.last_seen``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from flask import current_app
from sqlalchemy import ARRAY, Text, any_, bindparam, func, insert, select, text

from app.db_copy import NEEDS_ESCAPE, array_literal, copy_in, copy_value
from app.extensions import db
from app.litellm import litellm_client
from app.models import LIVE_KEY_STATES, ApiKey, ApiKeyModel, Job, Model, SyncRun
from app.models.catalog import SYNC_TRIGGERS
from app.schemas.base import camelcase
from app.services import audit, jobs
from app.services.model_normalize import (
    NormalizedModel,
    NormalizedPayload,
    RejectedEntry,
    normalize_payload,
    payload_fingerprint,
)

log = logging.getLogger(__name__)

SYNC_KIND = "sync_models"
REMOVE_FROM_KEYS_KIND = "remove_models_from_keys"
MODEL_SYNC_LOCK_ID = 7_415_926_601  # pg advisory lock: one sync writes the catalogue at a time
MAX_RECORDED_ERRORS = 100


Progress = Callable[[int, str], None]


class SyncRefused(Exception):
    """LiteLLM answered, but applying the answer would be unsafe (e.g. an empty model list)."""


@dataclass
class SyncOutcome:
    """What one successful run did; ``as_result()`` is the job's result."""

    run_id: uuid.UUID
    trigger: str
    noop: bool
    payload_hash: str
    total: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_unavailable: int = 0
    revived: int = 0
    rejected: int = 0
    unavailable_ids: list[str] = field(default_factory=list)
    affected_key_ids: list[str] = field(default_factory=list)
    cleanup_job_id: uuid.UUID | None = None
    fetch_ms: int = 0
    normalize_ms: int = 0
    write_ms: int = 0
    db_ms: int = 0
    total_ms: int = 0

    def as_result(self) -> dict[str, Any]:
        """camelCase, JSON-able: the job's ``result``."""
        plain = asdict(self)
        plain["run_id"] = str(self.run_id)
        plain["cleanup_job_id"] = str(self.cleanup_job_id) if self.cleanup_job_id else None
        return {camelcase(key): value for key, value in plain.items()}


@dataclass
class _Diff:
    """Which normalised models must be written, and which stored ones are gone."""

    writes: list[NormalizedModel]
    absent: list[str]
    previously_unavailable: set[str]
    unchanged: int


class ModelSyncService:
    """``sync(trigger)`` runs one synchronisation; ``apply(entries, …)`` is its part after the
    fetch (used directly by the benchmark)."""

    def __init__(self, client=None, allow_empty: bool | None = None) -> None:
        self.client = client or litellm_client()
        self.allow_empty = (current_app.config["MODEL_SYNC_ALLOW_EMPTY"]
                            if allow_empty is None else allow_empty)

    def sync(self, trigger: str = "manual", *, job_id: uuid.UUID | None = None,
             force: bool = False, progress: Progress | None = None) -> SyncOutcome:
        """Fetch ``/model/info`` once and apply it. On any failure nothing is changed, a failed
        ``sync_runs`` row is written and the error is raised again (the job decides on
        retries: LiteLLM being down or answering 5xx is transient)."""
        trigger = trigger if trigger in SYNC_TRIGGERS else "manual"
        started = time.perf_counter()
        fetch_ms = None
        try:
            _progress(progress, 5, "fetching /model/info")
            entries = self.client.model_info()
            fetch_ms = _ms_since(started)
            return self.apply(entries, trigger=trigger, job_id=job_id, force=force,
                              fetch_ms=fetch_ms, started=started, progress=progress)
        except Exception as exc:
            db.session.rollback()
            record_failure(trigger, job_id, exc, fetch_ms, _ms_since(started))
            raise

    def apply(self, entries: list[Any], *, trigger: str = "manual",
              job_id: uuid.UUID | None = None, force: bool = False, fetch_ms: int = 0,
              started: float | None = None, progress: Progress | None = None) -> SyncOutcome:
        """Bring the catalogue in line with ``entries`` (the ``data`` of ``/model/info``).

        The one commit point of a sync. Raises ``SyncRefused`` for an empty list unless
        ``MODEL_SYNC_ALLOW_EMPTY`` (or when nothing would be lost)."""
        started = time.perf_counter() if started is None else started
        after_fetch = time.perf_counter()
        fingerprint = payload_fingerprint(entries)
        last = _last_success()
        if (not force and last is not None and last.payload_hash == fingerprint
                and _untouched_since(last.finished_at)):
            return self._record_noop(last, trigger, job_id, fetch_ms, after_fetch, started)
        _progress(progress, 30, f"normalising {len(entries)} entries")
        payload = normalize_payload(entries)
        normalized_at = time.perf_counter()
        outcome = self._write(payload, fingerprint, trigger, job_id, force,
                              last.finished_at if last else None)
        outcome.fetch_ms = fetch_ms
        outcome.normalize_ms = round((normalized_at - after_fetch) * 1000)
        outcome.write_ms = _ms_since(normalized_at)
        outcome.db_ms = _ms_since(after_fetch)
        outcome.total_ms = _ms_since(started)
        _set_timings(outcome)
        log.info("model sync %s: +%d ~%d =%d -%d ^%d !%d in %d ms (db %d ms)", outcome.run_id,
                 outcome.added, outcome.updated, outcome.unchanged, outcome.marked_unavailable,
                 outcome.revived, outcome.rejected, outcome.total_ms, outcome.db_ms)
        return outcome

    # -- the unit of work ------------------------------------------------------------------------

    def _write(self, payload: NormalizedPayload, fingerprint: str, trigger: str,
               job_id: uuid.UUID | None, force: bool,
               last_success_at: datetime | None) -> SyncOutcome:
        db.session.execute(select(func.pg_advisory_xact_lock(MODEL_SYNC_LOCK_ID)))
        stored = db.session.execute(
            select(Model.id, Model.content_hash, Model.availability)).all()
        listed = {m.id for m in payload.models} | payload.rejected_names
        if not listed and not self.allow_empty and any(a == "available" for _, _, a in stored):
            raise SyncRefused(
                "LiteLLM listed no models; refusing to mark every model unavailable "
                "(set MODEL_SYNC_ALLOW_EMPTY=true if an empty LiteLLM is intended)")
        diff = _diff(payload, stored, listed, force)
        unstorable: list[RejectedEntry] = []
        written = _upsert(diff.writes, force, unstorable)
        rejected = [*payload.rejected, *unstorable]
        marked = _mark_unavailable(diff.absent, last_success_at)
        added = sum(1 for inserted in written.values() if inserted)
        revived = sum(1 for model_id, inserted in written.items()
                      if not inserted and model_id in diff.previously_unavailable)
        run = SyncRun(
            id=uuid.uuid4(), job_id=job_id, trigger=trigger, success=True,
            noop=not written and not marked, payload_hash=fingerprint,
            total=len(payload.models) + len(payload.rejected), added=added,
            updated=len(written) - added - revived, unchanged=diff.unchanged,
            marked_unavailable=len(marked), revived=revived, rejected=len(rejected),
            errors=[r.as_dict() for r in rejected[:MAX_RECORDED_ERRORS]],
            finished_at=func.now(),
        )
        db.session.add(run)
        outcome = SyncOutcome(
            run.id, trigger, run.noop, fingerprint, run.total, run.added, run.updated,
            run.unchanged, run.marked_unavailable, run.revived, run.rejected,
            unavailable_ids=sorted(marked),
        )
        if marked:
            outcome.affected_key_ids = _keys_using(marked)
            outcome.cleanup_job_id = _create_cleanup_job(sorted(marked))
        if not run.noop:
            audit.record("MODELS_SYNCED", "model_sync", run.id, details=_audit_details(outcome))
        db.session.commit()
        return outcome

    def _record_noop(self, last: SyncRun, trigger: str, job_id: uuid.UUID | None,
                     fetch_ms: int, after_fetch: float, started: float) -> SyncOutcome:
        """Same payload as the last successful run: only the run row is written."""
        valid = last.total - last.rejected
        run = SyncRun(
            id=uuid.uuid4(), job_id=job_id, trigger=trigger, success=True, noop=True,
            payload_hash=last.payload_hash, total=last.total, unchanged=valid,
            rejected=last.rejected, errors=last.errors, fetch_ms=fetch_ms,
            db_ms=_ms_since(after_fetch), total_ms=_ms_since(started), finished_at=func.now(),
        )
        outcome = SyncOutcome(run.id, trigger, True, last.payload_hash, total=last.total,
                              unchanged=valid, rejected=last.rejected, fetch_ms=fetch_ms,
                              db_ms=run.db_ms, total_ms=run.total_ms)
        db.session.add(run)
        db.session.commit()
        return outcome


# -- statements -----------------------------------------------------------------------------------


def _diff(payload: NormalizedPayload, stored: list, listed: set[str], force: bool) -> _Diff:
    current = {model_id: (content_hash, availability)
               for model_id, content_hash, availability in stored}
    writes = []
    for model in payload.models:
        known = current.get(model.id)
        if force or known is None or known[0] != model.content_hash or known[1] != "available":
            writes.append(model)
    absent = sorted(model_id for model_id, (_, availability) in current.items()
                    if availability == "available" and model_id not in listed)
    unavailable = {model_id for model_id, (_, a) in current.items() if a == "unavailable"}
    return _Diff(writes, absent, unavailable, len(payload.models) - len(writes))


# Sync-owned columns, in the staging table's order after (id, description).
_SYNCED_COLUMNS = (
    ("provider", "text"), ("litellm_model_id", "text"), ("backend_model", "text"),
    ("mode", "text"), ("context_length", "integer"), ("max_output_tokens", "integer"),
    ("input_cost_per_token", "numeric"), ("output_cost_per_token", "numeric"),
    ("supports_vision", "boolean"), ("supports_function_calling", "boolean"),
    ("supports_parallel_function_calling", "boolean"), ("supports_tool_choice", "boolean"),
    ("supports_response_schema", "boolean"), ("supports_reasoning", "boolean"),
    ("features", "text[]"), ("content_hash", "text"), ("litellm_info", "jsonb"),
)
_SYNCED = ", ".join(name for name, _ in _SYNCED_COLUMNS)
_STAGE_SQL = text(f"""
    CREATE TEMPORARY TABLE model_sync_stage (
        id text, description text, {", ".join(f"{n} {t}" for n, t in _SYNCED_COLUMNS)}
    ) ON COMMIT DROP
""")
_UPSERT_SQL = text(f"""
    INSERT INTO models AS m (id, description, {_SYNCED}, availability, unavailable_since,
                             first_seen_at, last_seen_at, created_at, updated_at)
    SELECT id, description, {_SYNCED}, 'available', NULL, now(), now(), now(), now()
    FROM model_sync_stage
    ON CONFLICT (id) DO UPDATE SET
        {", ".join(f"{name} = excluded.{name}" for name, _ in _SYNCED_COLUMNS)},
        availability = 'available', unavailable_since = NULL,
        last_seen_at = now(), updated_at = now()
    WHERE m.content_hash IS DISTINCT FROM excluded.content_hash
       OR m.availability = 'unavailable' OR CAST(:force AS boolean)
    RETURNING m.id, (m.xmax = 0) AS inserted
""")


def _upsert(models: list[NormalizedModel], force: bool,
            unstorable: list[RejectedEntry]) -> dict[str, bool]:
    """One INSERT … ON CONFLICT for every new, changed or returning model → {id: inserted}.

    The rows reach PostgreSQL through COPY into a temporary table (dropped at commit): for
    10,000 models about twice as fast as one JSON document, far faster than VALUES. Rows are
    encoded while COPY runs, so PostgreSQL parses one chunk while Python encodes the next,
    and no second copy of them is held. Models PostgreSQL could not store go to
    ``unstorable``."""
    if not models:
        return {}
    connection = db.session.connection()
    connection.execute(_STAGE_SQL)
    copy_in(connection, "COPY model_sync_stage FROM STDIN", _copy_lines(models, unstorable))
    result = connection.execute(_UPSERT_SQL, {"force": force})
    return {model_id: inserted for model_id, inserted in result}


# The stored copy of each entry, encoded in C (the standard library's encoder took ~40 % of a
# cold sync's Python time); PostgreSQL parses it into jsonb, so only the value matters.
_encode_json = msgspec.json.Encoder().encode


def _copy_lines(models: list[NormalizedModel],
                unstorable: list[RejectedEntry]) -> Iterator[bytes]:
    """COPY text-format lines (UTF-8) for ``models``; a model PostgreSQL cannot store (a NUL
    character, or a lone surrogate that is not UTF-8) goes to ``unstorable`` instead, rejected
    on its own like a malformed entry rather than failing the whole statement."""
    for model in models:
        try:
            line = _copy_line(model)
            if "\x00" in line or "\\u0000" in line:
                raise ValueError("contains a NUL character")
            encoded = line.encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            reason = "a character is not valid UTF-8" if isinstance(
                exc, UnicodeEncodeError) else str(exc)
            unstorable.append(RejectedEntry(-1, model.id, f"cannot be stored: {reason}"))
            continue
        yield encoded


def _copy_line(model: NormalizedModel) -> str:
    """One staging row in COPY's text format (tab-separated, ``\\N`` for NULL).

    The hot loop of a cold sync (10,000 rows): one f-string for the common case; fields that
    hold a backslash, tab or line break take the escaping path."""
    m, null = model, "\\N"
    texts = f"{m.id}{m.description}{m.provider}{m.litellm_model_id}{m.backend_model}{m.mode}"
    if NEEDS_ESCAPE.search(texts):
        head = "\t".join(map(copy_value, (m.id, m.description, m.provider, m.litellm_model_id,
                                           m.backend_model, m.mode)))
    else:
        head = (f"{m.id}\t{m.description or null}\t{m.provider}\t{m.litellm_model_id or null}\t"
                f"{m.backend_model or null}\t{m.mode or null}")
    # JSON text holds no raw tab or line break: only its backslashes need doubling for COPY.
    info = _encode_json(m.litellm_info()).decode().replace("\\", "\\\\")
    return (
        f"{head}\t{null if m.context_length is None else m.context_length}"
        f"\t{null if m.max_output_tokens is None else m.max_output_tokens}"
        f"\t{null if m.input_cost_per_token is None else repr(m.input_cost_per_token)}"
        f"\t{null if m.output_cost_per_token is None else repr(m.output_cost_per_token)}"
        f"\t{'t' if m.supports_vision else 'f'}\t{'t' if m.supports_function_calling else 'f'}"
        f"\t{'t' if m.supports_parallel_function_calling else 'f'}"
        f"\t{'t' if m.supports_tool_choice else 'f'}"
        f"\t{'t' if m.supports_response_schema else 'f'}"
        f"\t{'t' if m.supports_reasoning else 'f'}"
        f"\t{array_literal(m.features)}\t{m.content_hash}\t{info}\n"
    )


_MARK_UNAVAILABLE_SQL = text("""
    UPDATE models
    SET availability = 'unavailable', unavailable_since = now(), updated_at = now(),
        last_seen_at = COALESCE(CAST(:seen AS timestamptz), last_seen_at)
    WHERE id = ANY(CAST(:ids AS text[])) AND availability = 'available'
    RETURNING id
""")


def _mark_unavailable(model_ids: list[str], last_listed_at: datetime | None) -> list[str]:
    """One UPDATE; rows are kept (subscriptions and history stay valid)."""
    if not model_ids:
        return []
    result = db.session.execute(_MARK_UNAVAILABLE_SQL,
                                {"ids": model_ids, "seen": last_listed_at})
    return [row[0] for row in result]


def _keys_using(model_ids: list[str]) -> list[str]:
    """Live API keys that include any of ``model_ids`` (the key clean-up job's work list)."""
    stmt = (
        select(ApiKeyModel.api_key_id).distinct()
        .join(ApiKey, ApiKey.id == ApiKeyModel.api_key_id)
        .where(ApiKeyModel.model_id == any_(bindparam("ids", model_ids, ARRAY(Text))),
               ApiKey.provisioning_state.in_(LIVE_KEY_STATES))
        .order_by(ApiKeyModel.api_key_id)
    )
    return [str(key_id) for key_id in db.session.scalars(stmt)]


def _create_cleanup_job(model_ids: list[str]) -> uuid.UUID | None:
    """Queue the removal of now-unavailable models from keys (the keys side implements it)."""
    job, _ = jobs.create(REMOVE_FROM_KEYS_KIND, {"modelIds": model_ids})
    return job.id


def _last_success() -> SyncRun | None:
    return db.session.scalar(
        select(SyncRun).where(SyncRun.success.is_(True), SyncRun.finished_at.is_not(None))
        .order_by(SyncRun.finished_at.desc()).limit(1))  # a backward scan of its index


def _untouched_since(when: datetime | None) -> bool:
    """No model row was written after ``when`` (a sync stamps its rows with its own start)."""
    latest = db.session.scalar(select(func.max(Model.updated_at)))
    return latest is None or (when is not None and latest <= when)


def _set_timings(outcome: SyncOutcome) -> None:
    """Timings are known only after the commit: one small UPDATE of the run row."""
    with db.engine.begin() as conn:
        conn.execute(SyncRun.__table__.update().where(SyncRun.id == outcome.run_id).values(
            fetch_ms=outcome.fetch_ms, db_ms=outcome.db_ms, total_ms=outcome.total_ms))


def record_failure(trigger: str, job_id: uuid.UUID | None, exc: BaseException,
                   fetch_ms: int | None, total_ms: int) -> None:
    """A failed attempt's ``sync_runs`` row, in its own transaction (nothing else is kept)."""
    values = {"id": uuid.uuid4(), "job_id": job_id, "trigger": trigger, "success": False,
              "noop": False, "error": failure_message(exc), "fetch_ms": fetch_ms,
              "total_ms": total_ms, "finished_at": func.now()}
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(SyncRun).values(values))
    except Exception:  # the job's own error is the one that matters
        log.exception("could not record the failed model sync")


def failure_message(exc: BaseException) -> str:
    return audit.redact(f"{type(exc).__name__}: {exc}")[:2000]


def _audit_details(outcome: SyncOutcome) -> dict[str, Any]:
    return {
        "trigger": outcome.trigger, "added": outcome.added, "updated": outcome.updated,
        "markedUnavailable": outcome.marked_unavailable, "revived": outcome.revived,
        "rejected": outcome.rejected, "unavailableModelIds": outcome.unavailable_ids[:100],
        "affectedKeyIds": outcome.affected_key_ids[:100],
        "cleanupJobId": str(outcome.cleanup_job_id) if outcome.cleanup_job_id else None,
    }


def _progress(progress: Progress | None, percent: int, message: str) -> None:
    if progress is not None:
        progress(percent, message)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)



def request_sync(requested_by: uuid.UUID | None, force: bool = False):
    """Queue a manual sync; while one is queued or running, that job is returned instead."""
    params: dict[str, Any] = {"trigger": "manual"}
    if force:
        params["force"] = True
    return jobs.enqueue(SYNC_KIND, params, requested_by=requested_by)




def ui_counts(job: Job) -> dict[str, Any]:
    """A finished sync job as the web UI's "Refresh models" reads it."""
    result = job.result or {}
    run = db.session.get(SyncRun, uuid.UUID(result["runId"])) if result.get("runId") else None
    errors = [f"{e.get('model') or e.get('index')}: {e.get('error')}"
              for e in (run.errors if run is not None else [])][:MAX_RECORDED_ERRORS]
    return {
        "success": job.status == "succeeded",
        "total_models": result.get("total", 0), "new_models": result.get("added", 0),
        "updated_models": result.get("updated", 0) + result.get("revived", 0),
        "unavailable_models": result.get("markedUnavailable", 0),
        "unchanged_models": result.get("unchanged", 0), "errors": errors,
        "synced_at": job.finished_at,
    }
