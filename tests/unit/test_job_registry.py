"""The one job registry (app/services/job_kinds.py) against the Celery app the worker runs:
every kind has a task and a route, every task a kind (or is one of beat's periodic tasks)."""

import importlib

import pytest
from celery import Celery

from app.services.job_kinds import KINDS, PERIODIC_TASKS, QUEUES, kind_of_task
from config.settings import Settings
from worker.celery_app import TASK_MODULES, TASK_ROUTES
from worker.schedule import beat_schedule


def _celery() -> Celery:
    app = Celery(set_as_current=False)
    app.conf.task_routes = TASK_ROUTES
    app.conf.task_default_queue = "nowhere"  # a task without a route would land here
    for module in TASK_MODULES:
        importlib.import_module(module)
    app.finalize(auto=True)  # shared tasks (job_task, shared_task) bind to this app
    return app


def _queue_for(app: Celery, task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def _our_tasks(app: Celery) -> set[str]:
    return {name for name in app.tasks if name.startswith("worker.")}


def test_every_kind_has_a_task_and_a_route_to_its_queue():
    app = _celery()
    for name, kind in KINDS.items():
        assert kind.task in app.tasks, f"kind {name}: no task {kind.task}"
        assert kind.queue in QUEUES, name
        assert _queue_for(app, kind.task) == kind.queue, name


def test_every_task_has_a_kind_or_is_a_periodic_task_with_a_route():
    app = _celery()
    tasks = _our_tasks(app)
    assert tasks, "no task modules were imported"
    for task in tasks:
        if task in PERIODIC_TASKS:
            assert _queue_for(app, task) == PERIODIC_TASKS[task]
        else:
            assert KINDS[kind_of_task(task)].task == task
    assert set(PERIODIC_TASKS) <= tasks  # no periodic entry names a task that does not exist


def test_beat_schedules_only_existing_tasks_and_kinds():
    settings = Settings(MODEL_SYNC_INTERVAL=60, USAGE_ROLLUP_INTERVAL=60, RECONCILE_INTERVAL=60,
                        EXPORT_RETENTION_HOURS=1, USAGE_RETENTION_MONTHS=12)
    app = _celery()
    schedule = beat_schedule(settings)
    assert schedule["usage-retention"]["task"] == "worker.tasks.usage.drop_expired_usage_months"
    assert "usage-retention" not in beat_schedule(Settings())  # 0, the default: keep all
    for entry in schedule.values():
        assert entry["task"] in app.tasks
        for kind in entry.get("args", ()):
            assert kind in KINDS


def test_a_task_without_a_kind_is_refused_at_import():
    from worker.runner import job_task

    def not_a_kind(run):  # pragma: no cover - never runs
        return None

    with pytest.raises(KeyError, match="no row"):
        job_task(not_a_kind)


def test_queues_are_the_four_of_the_design():
    assert set(QUEUES) == {"sync", "provisioning", "usage", "default"}
