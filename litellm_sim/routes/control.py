"""``/_sim/*``: knobs and inspection for tests and demos (master key required, no faults)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from litellm_sim.errors import detail_error
from litellm_sim.spend import generate_activity
from litellm_sim.web import json_body, sim_state, string_list

blueprint = Blueprint("sim_control", __name__, url_prefix="/_sim")


@blueprint.post("/config")
def configure() -> Response:
    try:
        config = sim_state().configure(**json_body())
    except (TypeError, ValueError) as exc:
        raise detail_error(400, str(exc)) from None
    return jsonify({"config": config.public()})


@blueprint.get("/config")
def show_config() -> Response:
    return jsonify({"config": sim_state().config.public()})


@blueprint.post("/mutate")
def mutate() -> Response:
    percent = json_body().get("percent")
    if not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise detail_error(400, "percent must be a number between 0 and 100")
    state = sim_state()
    with state.lock:
        return jsonify({"mutated": state.catalog.mutate(percent)})


@blueprint.post("/remove")
def remove() -> Response:
    names = string_list(json_body(), "names")
    state = sim_state()
    with state.lock:
        return jsonify({"removed": state.catalog.remove(names)})


@blueprint.post("/restore")
def restore() -> Response:
    names = string_list(json_body(), "names")
    state = sim_state()
    with state.lock:
        return jsonify({"restored": state.catalog.restore(names)})


@blueprint.get("/calls")
def calls() -> Response:
    state = sim_state()
    with state.lock:
        return jsonify({"calls": list(state.calls)})


@blueprint.post("/reset")
def reset() -> Response:
    state = sim_state()
    state.reset()
    return jsonify({"config": state.config.public()})


@blueprint.get("/state")
def show_state() -> Response:
    state = sim_state()
    return jsonify({**state.counts(), "config": state.config.public()})


@blueprint.post("/activity")
def activity() -> Response:
    body = json_body()
    try:
        days = int(body.get("days", 7))
        per_day = int(body.get("requests_per_key_per_day", 20))
        seed = int(body.get("seed", sim_state().config.seed))
    except (TypeError, ValueError):
        raise detail_error(400, "days, requests_per_key_per_day and seed are integers") from None
    if days < 1 or per_day < 0:
        raise detail_error(400, "days must be >= 1 and requests_per_key_per_day >= 0")
    state = sim_state()
    with state.lock:
        return jsonify(generate_activity(state, days, per_day, seed))
