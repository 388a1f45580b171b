"""Also (issue 14): SQL parameters never reach error messages or logs (``hide_parameters``,
and database errors logged without PostgreSQL's message, which quotes the values)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from app.errors import loggable_error
from app.extensions import db
from tests.support.apps import extra_app

MARKER = "private-value-7f3a91"


def test_sql_error_messages_carry_no_parameters(app):
    with app.app_context():
        with pytest.raises(DataError) as caught:
            # division by zero: PostgreSQL's own message does not quote the query
            db.session.execute(text("SELECT CAST(:value AS text), 1 / 0"), {"value": MARKER})
        db.session.rollback()
    assert MARKER not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_a_500_from_sql_logs_no_values(app, settings, caplog):
    with extra_app(settings) as other:
        @other.get("/api/v1/_test_sql_error")
        def _sql_error():
            db.session.execute(text("SELECT CAST(:value AS integer)"), {"value": MARKER})

        with caplog.at_level(logging.DEBUG):
            response = other.test_client().get("/api/v1/_test_sql_error")
    assert response.status_code == 500
    assert MARKER not in caplog.text
    assert "InvalidTextRepresentation (sqlstate 22P02)" in caplog.text
    assert MARKER not in response.get_data(as_text=True)


def test_job_errors_carry_no_values(app):
    with app.app_context():
        with pytest.raises(DataError) as caught:
            db.session.execute(text("SELECT CAST(:value AS integer)"), {"value": MARKER})
        db.session.rollback()
    assert MARKER in str(caught.value)  # what PostgreSQL says quotes the value...
    assert MARKER not in loggable_error(caught.value)  # ...what we keep does not
    assert "SELECT CAST(%(value)s AS integer)" in loggable_error(caught.value)
