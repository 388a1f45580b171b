"""Per-task context (request id, job id) carried from the web request into worker logs and
audit rows; the worker sets it (worker/runner.py), the app reads it (app/logs.py, audit)."""

from __future__ import annotations

from contextvars import ContextVar


class _TaskContext:
    _var: ContextVar[dict | None] = ContextVar("litemaas_task_context", default=None)

    def get(self, name: str, default=None):
        return (self._var.get() or {}).get(name, default)

    def set(self, **values) -> object:
        return self._var.set({**(self._var.get() or {}), **values})

    def reset(self, token) -> None:
        self._var.reset(token)


task_context = _TaskContext()
