from celery import Celery

from worker.celery_app import QUEUES, TASK_ROUTES


def _queue_for(task_name: str) -> str:
    app = Celery(set_as_current=False)
    app.conf.task_routes = TASK_ROUTES
    app.conf.task_default_queue = "default"
    route = app.amqp.router.route({}, task_name)
    return route["queue"].name


def test_every_task_family_goes_to_its_queue():
    assert _queue_for("worker.tasks.sync.sync_models") == "sync"
    assert _queue_for("worker.tasks.provisioning.provision_key") == "provisioning"
    assert _queue_for("worker.tasks.usage.usage_rollup") == "usage"
    assert _queue_for("worker.tasks.maintenance.worker_ping") == "default"
    assert _queue_for("something.else") == "default"


def test_queues_are_the_four_of_the_design():
    assert set(QUEUES) == {"sync", "provisioning", "usage", "default"}
