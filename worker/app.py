"""Entry point for `celery -A worker.app ...` (worker, beat, flower)."""

from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
