"""Models created, edited and deleted in LiteLLM from LiteMaaS (upstream's admin Models page).

LiteLLM must run with ``STORE_MODEL_IN_DB=True`` (``store_model_in_db: true``): it keeps such
models in its database (``/model/new``, ``PATCH /model/{id}/update``, ``/model/delete``);
without it LiteLLM answers 500 and so do we (502 ``LITELLM_STORE_MODEL_IN_DB_REQUIRED``).

- The LiteLLM call is made on the request (an admin action whose answer the page waits for,
  like key creation), then the catalogue row is written at once from what LiteLLM stored,
  through the sync's own normaliser and upsert, so ``GET /models`` shows the change as soon as
  the answer arrives (the read cache's token moves with the write). The next sync agrees.
- The provider API key goes to LiteLLM and is kept here only Fernet-encrypted
  (``models.encrypted_api_key``), for a later connection test; no route returns it, and it is
  never in the audit trail, a log or an error message.
- ``restrictedAccess`` and ``description`` are LiteMaaS' own fields: a flip of the flag runs
  the restriction cascade (``subscriptions.restriction_changed``).
- Deleting removes the model from LiteLLM and marks the row ``unavailable`` (subscriptions and
  history are kept, as for a model LiteLLM stops listing); a ``remove_models_from_keys`` job
  takes it out of every key.
- ``test``: LiteLLM's ``/health/test_connection`` calls the deployment once for real.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from app.auth.identity import Identity
from app.errors import AppError, Conflict, ServiceUnavailable, ValidationError
from app.extensions import db
from app.litellm import LiteLLMError, litellm_client
from app.litellm.errors import LiteLLMUnavailable, redact
from app.models import Job, Model
from app.services import audit, jobs, model_sync
from app.services import key_secrets as secrets
from app.services import models as catalogue
from app.services.model_normalize import MalformedEntry, RejectedEntry, normalize_entry

log = logging.getLogger(__name__)

TEST_TIMEOUT = (5.0, 30.0)
PARAM_FIELDS = ("api_base", "input_cost_per_token", "output_cost_per_token", "tpm", "rpm")
INFO_FIELDS = ("max_tokens", "supports_vision", "supports_function_calling",
               "supports_parallel_function_calling", "supports_tool_choice",
               "supports_embeddings", "supports_tokenize", "supports_convert")
STORE_HINT = "Set `'STORE_MODEL_IN_DB='True'`"


class LiteLLMRefused(AppError):
    status, code = 502, "LITELLM_ERROR"


# -- LiteLLM calls --------------------------------------------------------------------------------


def _client():
    return litellm_client()


def _call(action: str, secret: str | None, fn, *args, **kwargs) -> Any:
    """One LiteLLM call; its failures become our errors, with the provider key redacted."""
    try:
        return fn(*args, **kwargs)
    except LiteLLMError as exc:
        if STORE_HINT in exc.message:  # LiteLLM answers it as a 500
            raise LiteLLMRefused(
                "LiteLLM keeps no models in its database: start it with STORE_MODEL_IN_DB=True",
                {"litellmStatus": exc.status}, code="LITELLM_STORE_MODEL_IN_DB_REQUIRED") from None
        _raise_for(exc, action, secret)


def _raise_for(exc: LiteLLMError, action: str, secret: str | None):
    message = redact(exc.message, (secret,))
    if isinstance(exc, LiteLLMUnavailable):
        raise ServiceUnavailable(f"LiteLLM is unavailable; the model was not {action}",
                                 {"reason": message[:500]}, headers={"Retry-After": "10"}
                                 ) from None
    raise LiteLLMRefused(f"LiteLLM refused: the model was not {action}",
                         {"litellmStatus": exc.status, "reason": message[:500]}) from None


def _provider(body: dict[str, Any]) -> str:
    return "docling" if body.get("supports_convert") else "openai"


def _litellm_params(body: dict[str, Any], backend: str | None, provider: str) -> dict[str, Any]:
    params: dict[str, Any] = {name: body[name] for name in PARAM_FIELDS if name in body}
    if backend:
        params["model"] = f"{provider}/{backend}"
        params["custom_llm_provider"] = provider
    return params


def _model_info(body: dict[str, Any]) -> dict[str, Any]:
    info = {name: body[name] for name in INFO_FIELDS if name in body}
    if body.get("description"):
        info["description"] = body["description"]
    if body.get("supports_embeddings"):
        info["mode"] = "embedding"
    return info


# -- the catalogue row ----------------------------------------------------------------------------


def _write_row(entry: dict[str, Any]) -> None:
    """Upsert the catalogue row from a LiteLLM-shaped entry (the sync's normaliser and upsert,
    under the sync's lock, so a running sync and this write take turns)."""
    try:
        normalized = normalize_entry(entry)
    except MalformedEntry as exc:
        raise ValidationError(f"LiteLLM would list this model wrongly: {exc}") from None
    db.session.execute(select(func.pg_advisory_xact_lock(model_sync.MODEL_SYNC_LOCK_ID)))
    unstorable: list[RejectedEntry] = []
    model_sync._upsert([normalized], True, unstorable)
    if unstorable:
        raise ValidationError(f"Model cannot be stored: {unstorable[0].error}")
    db.session.expire_all()


def _public_params(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != "api_key"}


def _audit_body(body: dict[str, Any]) -> dict[str, Any]:
    details = {key: value for key, value in body.items() if key != "api_key"}
    if "api_key" in body:
        details["apiKeyChanged"] = True
    return details


# -- create, update, delete ------------------------------------------------------------------------


def create(body: dict[str, Any], identity: Identity) -> Model:
    name = body["model_name"]
    existing = db.session.get(Model, name)
    if existing is not None and existing.availability == "available":
        raise Conflict(f"A model named {name} exists already", {"modelId": name},
                       code="MODEL_EXISTS")
    api_key = body.get("api_key")
    provider = _provider(body)
    params = _litellm_params(body, body["backend_model_name"], provider)
    info = _model_info(body)
    sent = {**params, **({"api_key": api_key} if api_key else {})}
    stored = _call("created", api_key, _client().model_new, name, sent,
                   {"db_model": True, **info})
    model_id = stored.get("model_id") or (stored.get("model_info") or {}).get("id")
    if not isinstance(model_id, str) or not model_id:
        raise LiteLLMRefused("LiteLLM did not say which id it gave the model",
                             code="LITELLM_INVALID_RESPONSE")
    _write_row({"model_name": name, "litellm_params": params,
                "model_info": {**info, "id": model_id, "db_model": True}})
    model = catalogue.get(name)
    model.description = body.get("description") or model.description
    if api_key:
        model.encrypted_api_key = secrets.encrypt_secret(api_key)
    restricted = bool(body.get("restricted_access", False))
    if model.restricted != restricted:  # a model revived under its old name
        model.restricted = restricted
        _cascade(model, identity)
    audit.record("MODEL_CREATED", "model", name, details={
        **_audit_body(body), "litellmModelId": model_id})
    db.session.commit()  # a cascade job (if any) is published after this commit
    return model


def _cascade(model: Model, identity: Identity) -> Job | None:
    from app.services import subscriptions

    return subscriptions.restriction_changed(model, identity)


def _require_managed(model: Model) -> str:
    info = (model.litellm_info or {}).get("model_info") or {}
    if not model.litellm_model_id:
        raise Conflict(f"LiteLLM gave model {model.id} no id; it cannot be changed from here",
                       {"modelId": model.id}, code="MODEL_NOT_MANAGED")
    if info.get("db_model") is False:
        raise Conflict(f"Model {model.id} comes from LiteLLM's config file; change it there "
                       "(only models kept in LiteLLM's database can be changed from here)",
                       {"modelId": model.id}, code="MODEL_NOT_MANAGED")
    return model.litellm_model_id


LITELLM_FIELDS = ("backend_model_name", *PARAM_FIELDS, *INFO_FIELDS)


def _current(model: Model) -> dict[str, Any]:
    """What the catalogue holds for each field the form sends (the UI sends them all)."""
    shown = catalogue.view(model, None, True)
    info = (model.litellm_info or {}).get("model_info") or {}
    current = {name: shown.get(name) for name in (
        "api_base", "input_cost_per_token", "output_cost_per_token", "tpm", "rpm",
        "max_tokens", "supports_vision", "supports_function_calling",
        "supports_parallel_function_calling", "supports_tool_choice")}
    current["backend_model_name"] = model.backend_model
    current["supports_embeddings"] = bool(info.get("supports_embeddings")) or (
        "embeddings" in (model.features or []))
    current["supports_tokenize"] = bool(info.get("supports_tokenize"))
    current["supports_convert"] = bool(info.get("supports_convert"))
    return current


def _same(wanted: Any, held: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(held, bool):
        return bool(wanted) == bool(held)
    if wanted is None or held is None:
        return wanted is held
    if isinstance(wanted, int | float) and not isinstance(held, str):
        return abs(float(wanted) - float(held)) <= 1e-15 * max(1.0, abs(float(wanted)))
    return wanted == held


def update(model_id: str, body: dict[str, Any],
           identity: Identity) -> tuple[Model, Job | None, list[str]]:
    """Change what differs from the catalogue (the UI's form sends every field): LiteLLM's
    part through ``PATCH /model/{id}/update``, LiteMaaS' own (description, restriction) here.
    A model of LiteLLM's config file keeps its LiteLLM part: when the request also changes
    LiteMaaS' own fields those are applied and the others are reported back as ignored (the
    UI's edit form of such a model still restricts it); otherwise 409 ``MODEL_NOT_MANAGED``.
    Returns (model, cascade job or None, ignored fields)."""
    model = catalogue.get(model_id)
    if body.get("model_name") not in (None, model_id):
        raise ValidationError("A model cannot be renamed; create a new one",
                              {"model_name": ["renaming is not supported"]})
    api_key = body.get("api_key")
    current = _current(model)
    changed = {name: body[name] for name in LITELLM_FIELDS
               if name in body and not _same(body[name], current.get(name))}
    own = {name: body[name] for name in ("description", "restricted_access") if name in body}
    ignored: list[str] = []
    if changed or api_key:
        if _managed(model):
            _change_in_litellm(model, changed, api_key)
            model = catalogue.get(model_id)
        elif own:
            ignored = sorted([*changed, *(["api_key"] if api_key else [])])
        else:
            _require_managed(model)  # raises MODEL_NOT_MANAGED
    job = None
    if own:
        model, job = catalogue.update_with_job(model_id, own, identity)
    return model, job, ignored


def _managed(model: Model) -> bool:
    try:
        _require_managed(model)
    except Conflict:
        return False
    return True


def _change_in_litellm(model: Model, changed: dict[str, Any], api_key: str | None) -> None:
    litellm_id = _require_managed(model)
    stored = model.litellm_info or {}
    provider = _provider(changed) if "supports_convert" in changed else (
        (stored.get("litellm_params") or {}).get("custom_llm_provider") or "openai")
    params = _litellm_params(changed, changed.get("backend_model_name"), provider)
    info = _model_info(changed)
    sent = {**params, **({"api_key": api_key} if api_key else {})}
    _call("changed", api_key, _client().model_patch, litellm_id, sent, info)
    _write_row({"model_name": model.id,
                "litellm_params": {**(stored.get("litellm_params") or {}), **params},
                "model_info": {**(stored.get("model_info") or {}), **info}})
    model = catalogue.get(model.id)
    if api_key:
        model.encrypted_api_key = secrets.encrypt_secret(api_key)
    audit.record("MODEL_UPDATED", "model", model.id, details={
        "litellm": _audit_body({**params, **info, **({"api_key": 1} if api_key else {})})})
    db.session.commit()


def delete(model_id: str, identity: Identity) -> tuple[Model, Job | None]:
    model = catalogue.get(model_id)
    if model.availability != "available":
        raise Conflict(f"Model {model_id} is already deleted (unavailable)",
                       {"modelId": model_id}, code="MODEL_UNAVAILABLE")
    litellm_id = _require_managed(model)
    try:
        _client().model_delete(litellm_id)
    except LiteLLMUnavailable as exc:
        raise ServiceUnavailable("LiteLLM is unavailable; the model was not deleted",
                                 {"reason": exc.message}, headers={"Retry-After": "10"}) from None
    except LiteLLMError as exc:
        if "not found" not in exc.message.lower():  # already gone from LiteLLM: finish here
            raise LiteLLMRefused("LiteLLM refused: the model was not deleted",
                                 {"litellmStatus": exc.status, "reason": exc.message[:500]}
                                 ) from None
        log.info("model %s was gone from LiteLLM already", model_id)
    db.session.execute(select(func.pg_advisory_xact_lock(model_sync.MODEL_SYNC_LOCK_ID)))
    model_sync._mark_unavailable([model_id], datetime.now(UTC))
    job_id = model_sync._create_cleanup_job([model_id])
    model.encrypted_api_key = None
    audit.record("MODEL_DELETED", "model", model_id,
                 details={"litellmModelId": litellm_id, "cleanupJobId": str(job_id or "")})
    db.session.commit()  # the clean-up job is published after this commit
    job = jobs.get(job_id) if job_id else None
    db.session.expire_all()
    return catalogue.get(model_id), job


# -- connection test ---------------------------------------------------------------------------


_AUTH = re.compile(r"AuthenticationError|PermissionDeniedError|Invalid API key|401", re.I)
_NOT_FOUND = re.compile(r"NotFoundError|Invalid model name|model_not_found|does not exist|"
                        r"not found", re.I)
_TIMEOUT = re.compile(r"Timeout|timed out", re.I)


def test_connection(body: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """A real call to the deployment through LiteLLM (``/health/test_connection``)."""
    api_key = body.get("api_key")
    if not api_key and body.get("model_id"):
        model = db.session.get(Model, body["model_id"])
        api_key = secrets.decrypt_secret(model.encrypted_api_key) if model else None
    if not api_key:
        return {"success": False, "result": "missing_stored_key",
                "message": ("No stored API key for this model: type the API key"
                            if body.get("model_id") else "An API key is required")}
    backend = body["backend_model_name"]
    params = {"model": f"{_provider(body)}/{backend}", "api_base": body["api_base"],
              "api_key": api_key}
    answer = _call("tested", api_key, _client().test_connection, params, "chat", TEST_TIMEOUT)
    outcome = _test_outcome(answer, backend, api_key)
    audit.record_now("MODEL_CONNECTION_TESTED", "model", body.get("model_id") or backend,
                     details={"apiBase": body["api_base"], "backendModelName": backend,
                              "result": outcome["result"]})
    return outcome


def _test_outcome(answer: dict[str, Any], backend: str, api_key: str) -> dict[str, Any]:
    if answer.get("status") == "success":
        return {"success": True, "result": "model_found",
                "message": f"Model '{backend}' answered through LiteLLM."}
    error = str(((answer.get("result") or {}).get("error")) or "unknown error")
    first_line = redact(error.splitlines()[0] if error else "", (api_key,))[:300]
    if _AUTH.search(error):
        kind, text = "auth_error", "Authentication failed. Check the API key."
    elif _TIMEOUT.search(first_line):
        kind, text = "timeout", "The endpoint did not answer in time."
    elif _NOT_FOUND.search(first_line):
        kind, text = "model_not_found", f"Model '{backend}' was not found at this endpoint."
    else:
        kind, text = "connection_error", "Cannot reach the endpoint."
    return {"success": False, "result": kind, "message": f"{text} ({first_line})"}
