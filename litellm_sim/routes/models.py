"""Model list and health probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

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
    state = sim_state()
    with state.lock:
        return jsonify(state.catalog.v1_models())


@blueprint.get("/health/liveliness")
@blueprint.get("/health/liveness")
def liveliness() -> Response:
    return jsonify(load_fixture("health_liveliness.json"))


@blueprint.get("/health/readiness")
def readiness() -> Response:
    # The simulator keeps keys, users and teams, as LiteLLM does with a database.
    return jsonify({**load_fixture("health_readiness.json"), "db": "connected"})
