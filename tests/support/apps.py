"""Extra app instances next to the session app (other settings, or a second "worker")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import Flask


@contextlib.contextmanager
def extra_app(settings, **overrides) -> Iterator[Flask]:
    """An app on the same database and Redis namespace with some settings changed."""
    from app import create_app
    from app.extensions import db

    app = create_app(settings.with_overrides(**overrides))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
