"""Prometheus scrape endpoint (admins; production scrapers can use METRICS_PORT instead)."""

from __future__ import annotations

from app.api.base import Blueprint
from app.metrics import metrics_response

blp = Blueprint("metrics", __name__, url_prefix="/metrics", description="Prometheus metrics")


@blp.route("")
@blp.auth("metrics:read")
@blp.response(200, content_type="text/plain", description="Prometheus text format")
def metrics():
    """Requests by route and status, latency histograms, jobs, queue lengths, sync figures."""
    return metrics_response()
