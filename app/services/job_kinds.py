"""The one table of job kinds: kind → Celery task, queue and retry policy (DESIGN §5).

A new kind is one row here plus one ``@job_task`` function whose Celery name (module path and
function name) is the row's ``task``: the decorator refuses a task without a row, the Celery
routes and task modules are read from this table, and ``tests/unit/test_job_registry.py``
checks that every kind has a task and a route and every task a kind. Nothing is registered as
a side effect of importing a service.
"""

from __future__ import annotations

from dataclasses import dataclass

QUEUES = ("sync", "provisioning", "usage", "default")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transient failure is retried, with exponential back-off (seconds)."""

    max_retries: int = 5
    backoff_base: float = 2
    backoff_cap: float = 60

    def countdown(self, retries: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2**retries))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class JobKind:
    """How a kind of job runs: its Celery task and queue, its retry policy, whether it is
    single-flight (one queued/running job per flight key, the kind itself by default), and
    whether a request may reuse a still-queued job with the same params (``coalesce``: only for
    tasks that act on the current state of the resource their params name)."""

    task: str
    queue: str
    single_flight: bool = False
    coalesce: bool = False
    retry: RetryPolicy = DEFAULT_RETRY


_KEYS = "worker.tasks.provisioning.keys"
_ACCOUNTS = "worker.tasks.provisioning.accounts"

KINDS: dict[str, JobKind] = {
    "worker_ping": JobKind("worker.tasks.maintenance.worker_ping", "default"),
    "sync_models": JobKind("worker.tasks.sync.sync_models", "sync", single_flight=True),
    "provision_user": JobKind(f"{_ACCOUNTS}.provision_user", "provisioning"),
    "provision_team": JobKind(f"{_ACCOUNTS}.provision_team", "provisioning"),
    "delete_team": JobKind(f"{_ACCOUNTS}.delete_team", "provisioning"),
    "bulk_update_user_limits": JobKind(f"{_ACCOUNTS}.bulk_update_user_limits", "provisioning",
                                       single_flight=True),
    "provision_key": JobKind(f"{_KEYS}.provision_key", "provisioning", single_flight=True),
    "update_key": JobKind(f"{_KEYS}.update_key", "provisioning", coalesce=True),
    "revoke_key": JobKind(f"{_KEYS}.revoke_key", "provisioning", single_flight=True),
    "remove_models_from_keys": JobKind(f"{_KEYS}.remove_models_from_keys", "provisioning",
                                       coalesce=True),
    "reconcile": JobKind(f"{_KEYS}.reconcile", "provisioning", single_flight=True),
    "usage_rollup": JobKind("worker.tasks.usage.usage_rollup", "usage", single_flight=True),
    "usage_export": JobKind("worker.tasks.usage.usage_export", "usage", coalesce=True),
}

# Beat's own tasks: not jobs (no row), but routed from here too.
PERIODIC_TASKS: dict[str, str] = {
    "worker.tasks.maintenance.republish_stale_jobs": "default",
    "worker.tasks.maintenance.enqueue_scheduled": "default",
    "worker.tasks.usage.purge_expired_exports": "usage",
}


def kind_of_task(task: str) -> str:
    """The kind whose task this is; KeyError names the missing row."""
    for name, kind in KINDS.items():
        if kind.task == task:
            return name
    raise KeyError(f"task {task} has no row in app/services/job_kinds.KINDS")


def task_routes() -> dict[str, dict[str, str]]:
    """Celery ``task_routes``: every kind's task and every periodic task to its queue."""
    routes = {kind.task: {"queue": kind.queue} for kind in KINDS.values()}
    routes.update({task: {"queue": queue} for task, queue in PERIODIC_TASKS.items()})
    return routes


def task_modules() -> tuple[str, ...]:
    """The modules that define the tasks (the worker imports them at start)."""
    tasks = [kind.task for kind in KINDS.values()] + list(PERIODIC_TASKS)
    return tuple(dict.fromkeys(task.rsplit(".", 1)[0] for task in tasks))
