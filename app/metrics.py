"""Prometheus metrics (prometheus-client): HTTP requests, jobs, queues, sync and LiteLLM calls.

Web processes count requests in-process; under gunicorn the counters are shared through
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by config/gunicorn.py).
Job, queue and sync figures are read from PostgreSQL and Redis at scrape time, so every web
replica reports the same truth whichever process ran the work.
"""

from __future__ import annotations

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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

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


class DatabaseAndQueueCollector:
    """Job counts and durations, last sync figures and queue depths, read at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        with self.app.app_context():
            yield from self._jobs()
            yield from self._sync()
            yield from self._queues()

    def _jobs(self):
        from app.extensions import db

        counts = GaugeMetricFamily("litemaas_jobs", "Jobs by kind and status",
                                   labels=["kind", "status"])
        seconds = GaugeMetricFamily("litemaas_job_duration_seconds_sum",
                                    "Total run time of finished jobs", labels=["kind", "status"])
        rows = db.session.execute(text(
            "SELECT kind, status, count(*), "
            "coalesce(sum(extract(epoch FROM finished_at - started_at)), 0) "
            "FROM jobs GROUP BY kind, status"
        )).all()
        db.session.remove()
        for kind, status, count, total in rows:
            counts.add_metric([kind, status], count)
            seconds.add_metric([kind, status], float(total))
        yield counts
        yield seconds

    def _sync(self):
        from app.extensions import db

        row = db.session.execute(text(
            "SELECT added, updated, unchanged, marked_unavailable, revived, rejected, total_ms, "
            "success, extract(epoch FROM finished_at) FROM sync_runs "
            "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        )).first()
        db.session.remove()
        figures = GaugeMetricFamily("litemaas_last_sync", "Figures of the last model sync",
                                    labels=["figure"])
        if row is not None:
            names = ("added", "updated", "unchanged", "marked_unavailable", "revived",
                     "rejected", "total_ms", "success", "finished_at_seconds")
            for name, value in zip(names, row, strict=True):
                figures.add_metric([name], float(value or 0))
        yield figures

    def _queues(self):
        from worker.celery_app import QUEUES

        depth = GaugeMetricFamily("litemaas_queue_length", "Messages waiting per Celery queue",
                                  labels=["queue"])
        client = self.app.extensions["redis"]
        prefix = self.app.config["REDIS_KEY_PREFIX"]
        try:
            for queue in QUEUES:
                depth.add_metric([queue], client.llen(prefix + queue))
        except Exception:  # Redis down: report no queue figures rather than fail the scrape
            return
        yield depth


def exposition(app: Flask) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (HTTP_REQUESTS, HTTP_LATENCY, LITELLM_CALLS, LITELLM_LATENCY):
            registry.register(collector)
    registry.register(DatabaseAndQueueCollector(app))
    return generate_latest(registry)


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
