"""Prometheus metrics (prometheus-client): HTTP requests, jobs, queues, sync, usage rollups and
LiteLLM calls.

Web processes count requests in-process; under gunicorn the counters are shared through
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by config/gunicorn.py).
Job, queue, sync and rollup figures are read from PostgreSQL and Redis at scrape time, so every
web replica reports the same truth whichever process ran the work. Served at ``GET /metrics``
(admins and readonly admins) and, with METRICS_PORT, on a separate bind without auth.
"""

from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "litemaas_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "litemaas_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LITELLM_CALLS = Counter(
    "litemaas_litellm_calls_total", "Calls to LiteLLM", ["method", "path", "outcome"]
)
LITELLM_LATENCY = Histogram(
    "litemaas_litellm_call_duration_seconds", "LiteLLM call latency", ["method", "path"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe_litellm_call(method: str, path: str, seconds: float, outcome: str) -> None:
    LITELLM_CALLS.labels(method, path, outcome).inc()
    LITELLM_LATENCY.labels(method, path).observe(seconds)


JOB_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
ROLLUP_FIGURES = ("users", "pages", "rows", "daysWritten", "spendUpdated", "budgetAlerts")


class DatabaseAndQueueCollector:
    """Jobs by kind and outcome with their run times, the last sync and usage rollup, and queue
    depths, read at scrape time. A part whose store is down is skipped and reported by
    ``litemaas_metrics_source_up`` instead of failing the whole scrape."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily("litemaas_metrics_source_up",
                               "1 if the figures of this source could be read at this scrape",
                               labels=["source"])
        with self.app.app_context():
            for source, part in (("jobs", self._jobs), ("sync", self._sync),
                                 ("usage_rollup", self._rollup), ("queues", self._queues)):
                try:
                    families = list(part())
                except Exception:
                    log.warning("metrics: %s figures unavailable", source, exc_info=True)
                    families = []
                    up.add_metric([source], 0)
                else:
                    up.add_metric([source], 1)
                finally:
                    _release_session()
                yield from families
        yield up

    def _jobs(self):
        from app.extensions import db

        bucket_columns = ", ".join(
            f"count(*) FILTER (WHERE seconds <= {bound})" for bound in JOB_DURATION_BUCKETS)
        rows = db.session.execute(text(
            f"SELECT kind, status, count(*), count(seconds), coalesce(sum(seconds), 0), "
            f"{bucket_columns} FROM (SELECT kind, status, "
            "extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM jobs) AS j "
            "GROUP BY kind, status"
        )).all()
        counts = GaugeMetricFamily("litemaas_jobs", "Jobs by kind and status",
                                   labels=["kind", "status"])
        durations = HistogramMetricFamily(
            "litemaas_job_duration_seconds",
            "Run time (started to finished) of finished jobs, by kind and outcome",
            labels=["kind", "status"])
        for kind, status, count, timed, total, *cumulative in rows:
            counts.add_metric([kind, status], count)
            if timed:
                buckets = [(str(bound), n) for bound, n in zip(JOB_DURATION_BUCKETS, cumulative,
                                                                strict=True)]
                durations.add_metric([kind, status], [*buckets, ("+Inf", timed)], float(total))
        yield counts
        yield durations

    def _sync(self):
        from app.extensions import db

        row = db.session.execute(text(
            "SELECT added, updated, unchanged, marked_unavailable, revived, rejected, total_ms, "
            "success, extract(epoch FROM finished_at) FROM sync_runs "
            "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        )).first()
        figures = GaugeMetricFamily("litemaas_last_sync", "Figures of the last model sync",
                                    labels=["figure"])
        if row is not None:
            names = ("added", "updated", "unchanged", "marked_unavailable", "revived",
                     "rejected", "total_ms", "success", "finished_at_seconds")
            for name, value in zip(names, row, strict=True):
                figures.add_metric([name], float(value or 0))
        yield figures

    def _rollup(self):
        from app.extensions import db

        row = db.session.execute(text(
            "SELECT result, extract(epoch FROM finished_at - started_at)::float8, "
            "extract(epoch FROM finished_at)::float8 FROM jobs "
            "WHERE kind = 'usage_rollup' AND status = 'succeeded' "
            "ORDER BY finished_at DESC LIMIT 1"
        )).first()
        figures = GaugeMetricFamily("litemaas_last_usage_rollup",
                                    "Figures of the last successful usage rollup",
                                    labels=["figure"])
        if row is not None:
            result, seconds, finished = row
            for name in ROLLUP_FIGURES:
                value = (result or {}).get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    figures.add_metric([name], float(value))
            figures.add_metric(["duration_seconds"], float(seconds or 0))
            figures.add_metric(["finished_at_seconds"], float(finished or 0))
        yield figures

    def _queues(self):
        from app.services.job_kinds import QUEUES

        depth = GaugeMetricFamily("litemaas_queue_length", "Messages waiting per Celery queue",
                                  labels=["queue"])
        client = self.app.extensions["redis"]
        prefix = self.app.config["REDIS_KEY_PREFIX"]
        for queue in QUEUES:
            depth.add_metric([queue], client.llen(prefix + queue))
        yield depth


def _release_session() -> None:
    from app.extensions import db

    try:
        db.session.remove()
    except Exception:  # the database is down: nothing to give back
        log.debug("metrics: session release failed", exc_info=True)


def registry_for(app: Flask) -> CollectorRegistry:
    """Every figure: this server's request and LiteLLM metrics (all its workers' under
    gunicorn) and the database and queue figures (also used by the METRICS_PORT bind)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (HTTP_REQUESTS, HTTP_LATENCY, LITELLM_CALLS, LITELLM_LATENCY):
            registry.register(collector)
    registry.register(DatabaseAndQueueCollector(app))
    return registry


def exposition(app: Flask) -> bytes:
    return generate_latest(registry_for(app))


def metrics_response() -> Response:
    return Response(exposition(current_app._get_current_object()),
                    mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count_request(response):
        started = g.get("metrics_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response
