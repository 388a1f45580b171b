"""``/user/daily/activity``: the spend LiteLLM recorded per day, user, key and model."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, jsonify, request

from litellm_sim.activity import daily_activity
from litellm_sim.auth import caller
from litellm_sim.errors import detail_error, unhandled_error
from litellm_sim.web import query_int, sim_state

blueprint = Blueprint("activity", __name__)


@blueprint.get("/user/daily/activity")
def user_daily_activity() -> Response:
    start, end = request.args.get("start_date"), request.args.get("end_date")
    if not start or not end:
        raise detail_error(400, {"error": "Please provide start_date and end_date"})
    page, page_size = query_int("page", 1), query_int("page_size", 50, maximum=1000)
    start_day, end_day = _day(start), _day(end)
    filters = {name: request.args[name] for name in ("user_id", "api_key", "model")
               if request.args.get(name)}
    if caller() is not None:  # a user's key sees that user's activity only
        filters["user_id"] = caller()["user_id"] or ""
    state = sim_state()
    if page == state.config.activity_fail_page:
        raise unhandled_error()
    with state.lock:
        return jsonify(daily_activity(state, start_day, end_day, page, page_size, filters))


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise detail_error(400, {"error": f"Invalid date {value!r}: use YYYY-MM-DD"}) from None
