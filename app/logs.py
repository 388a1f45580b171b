"""Structured JSON logs and request ids (one line per request, DESIGN §10)."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter

from app.task_context import task_context

REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
access_log = logging.getLogger("litemaas.access")


class ContextFilter(logging.Filter):
    """Stamp every record with the request id (web) or job id (worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import has_request_context

        if has_request_context():
            record.request_id = g.get("request_id")
        else:
            record.request_id = task_context.get("request_id")
            record.job_id = task_context.get("job_id")
        return True


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (so captured output sees the lines)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_litemaas", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = StdoutHandler()
    handler._litemaas = True
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
    ))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        identity = g.get("identity")
        duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "user": identity.label if identity else None,
                "remote_addr": request.remote_addr,
            },
        )
        return response
