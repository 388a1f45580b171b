"""``create_sim_app()``: a Flask app that answers like a LiteLLM 1.106 proxy with a database."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from litellm_sim.auth import authorize_admin_route, require_master_key
from litellm_sim.config import SimConfig
from litellm_sim.errors import SimError, proxy_error, unhandled_error
from litellm_sim.routes import register_routes
from litellm_sim.state import SimState
from litellm_sim.web import answer_error, sim_state

PUBLIC_PATHS = frozenset({"/health/liveliness", "/health/liveness", "/health/readiness"})
LLM_PATHS = frozenset({"/chat/completions", "/v1/chat/completions"})


def create_sim_app(**knobs: Any) -> Flask:
    """Knobs: models, seed, latency_ms, error_rate, down, garbage, premium, master_key (each
    also read from the environment: SIM_MODELS, SIM_SEED, …, LITELLM_MASTER_KEY)."""
    app = Flask("litellm_sim")
    app.json.sort_keys = False
    app.json.compact = True
    app.json.ensure_ascii = False
    app.extensions["litellm_sim"] = SimState(SimConfig.from_env(**knobs))
    app.before_request(_before_request)
    app.register_error_handler(SimError, answer_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    register_routes(app)
    return app


def _before_request() -> None:
    state = sim_state()
    if request.path.startswith("/_sim/"):
        require_master_key(state)
        return
    state.record_call(request.method, request.path, request.args.to_dict(),
                      request.get_json(silent=True))
    _simulate_faults(state)
    if request.path not in PUBLIC_PATHS and request.path not in LLM_PATHS:
        authorize_admin_route(state, request.path)


def _simulate_faults(state: SimState) -> None:
    with state.lock:
        config = state.config
        fail = config.error_rate > 0 and state.fault_rng.random() < config.error_rate
    if config.latency_ms:
        time.sleep(config.latency_ms / 1000)
    if config.down:
        raise proxy_error("Service Unavailable: LiteLLM simulator is down", "service_unavailable",
                          None, 503)
    if fail:
        raise unhandled_error()


def _http_error(error: HTTPException) -> Response:
    """Unknown route or method: FastAPI's ``{"detail": "Not Found"}``."""
    return answer_error(SimError(error.code or 500, {"detail": error.name}))


def _unexpected_error(error: Exception) -> Response:
    current_app.logger.exception("litellm_sim: unhandled %s", type(error).__name__)
    return answer_error(unhandled_error())
