"""Model list and health probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from litellm_sim.auth import virtual_key
from litellm_sim.catalog import load_fixture
from litellm_sim.web import sim_state

blueprint = Blueprint("models", __name__)


@blueprint.get("/model/info")
@blueprint.get("/v1/model/info")
def model_info() -> Response:
    state = sim_state()
    with state.lock:
        garbage = state.config.garbage
        body = state.catalog.model_info_bytes()
    if garbage == "invalid_json":
        return Response(b'{"data": [{"model_name": "gpt-4o", <!-- truncated', 200,
                        mimetype="application/json")
    if garbage == "wrong_shape":
        return jsonify({"models": "not a list"})
    return Response(body, 200, mimetype="application/json")


@blueprint.get("/v1/models")
@blueprint.get("/models")
def models() -> Response:
    """Every model for the master key; a virtual key sees the models it may call."""
    state = sim_state()
    with state.lock:
        key = virtual_key(state)
        listing = state.catalog.v1_models()
        allowed = key["models"] if key is not None else []
        if allowed and "all-proxy-models" not in allowed:
            listing["data"] = [entry for entry in listing["data"] if entry["id"] in allowed]
        return jsonify(listing)


@blueprint.get("/health/liveliness")
@blueprint.get("/health/liveness")
def liveliness() -> Response:
    return jsonify(load_fixture("health_liveliness.json"))


@blueprint.get("/health/readiness")
def readiness() -> Response:
    # The simulator keeps keys, users and teams, as LiteLLM does with a database.
    return jsonify({**load_fixture("health_readiness.json"), "db": "connected"})
