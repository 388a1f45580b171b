"""Celery tasks, one module per queue (the module name routes the task)."""
