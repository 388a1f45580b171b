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
# Called with a virtual key (or the master key): the routes check the key themselves.
LLM_PATHS = frozenset({"/chat/completions", "/v1/chat/completions", "/v1/models", "/models"})
# LiteLLM's proxy runs FastAPI's CORSMiddleware with allow_origins=["*"],
# allow_credentials=True, allow_methods=["*"], allow_headers=["*"]: a browser page on any
# origin (the LiteMaaS chat playground) may call it; the Origin is echoed back.
CORS_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
CORS_MAX_AGE = "600"


def create_sim_app(**knobs: Any) -> Flask:
    """Knobs: models, seed, latency_ms, error_rate, down, garbage, premium, master_key (each
    also read from the environment: SIM_MODELS, SIM_SEED, …, LITELLM_MASTER_KEY)."""
    app = Flask("litellm_sim")
    app.json.sort_keys = False
    app.json.compact = True
    app.json.ensure_ascii = False
    app.extensions["litellm_sim"] = SimState(SimConfig.from_env(**knobs))
    app.before_request(_before_request)
    app.after_request(_cors_headers)
    app.register_error_handler(SimError, answer_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    register_routes(app)
    return app


def _before_request() -> Response | None:
    if _is_preflight():
        return _preflight()
    state = sim_state()
    if request.path.startswith("/_sim/"):
        require_master_key(state)
        return
    state.record_call(request.method, request.path, request.args.to_dict(),
                      request.get_json(silent=True))
    _simulate_faults(state)
    if request.path not in PUBLIC_PATHS and request.path not in LLM_PATHS:
        authorize_admin_route(state, request.path)


def _is_preflight() -> bool:
    return (request.method == "OPTIONS" and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers)


def _preflight() -> Response:
    """CORS preflight, answered before authentication as Starlette's middleware does."""
    response = Response("OK", 200, mimetype="text/plain")
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    requested = request.headers.get("Access-Control-Request-Headers")
    if requested:
        response.headers["Access-Control-Allow-Headers"] = requested
    return response


def _cors_headers(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers.add("Vary", "Origin")
    return response


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
