"""L3: a chunked body (Transfer-Encoding: chunked, no Content-Length) gets the same guards as
any other body: JSON only (415) and no NUL / lone surrogate (400), never a 500 from PostgreSQL."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from app.extensions import db
from app.models import Team


def chunked(client, method: str, path: str, body: bytes, content_type: str, headers=None):
    """What gunicorn hands over for a chunked request: a terminated stream, no length."""
    return client.open(path, method=method, input_stream=io.BytesIO(body),
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked",
                                **(headers or {})},
                       environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""})


def test_chunked_json_with_nul_is_refused_with_400(app, client, login):
    admin = login("admin")
    body = json.dumps({"name": "evil", "description": "a\u0000b"}).encode()
    response = chunked(client, "POST", "/api/v1/teams", body, "application/json", admin)
    assert response.status_code == 400, response.get_data()
    assert response.get_json()["error"]["details"]["location"] == "body"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0


def test_chunked_non_json_body_is_415(client, login):
    admin = login("admin")
    response = chunked(client, "POST", "/api/v1/teams", b"name=evil",
                       "application/x-www-form-urlencoded", admin)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_chunked_valid_json_still_works(app, client, login):
    admin = login("admin")
    response = chunked(client, "POST", "/api/v1/teams", json.dumps({"name": "fine"}).encode(),
                       "application/json", admin)
    assert response.status_code == 201, response.get_data()


def test_oversized_chunked_body_is_413(client, login, app):
    admin = login("admin")
    too_big = json.dumps({"name": "big", "description": "x" * app.config["MAX_CONTENT_LENGTH"]})
    response = chunked(client, "POST", "/api/v1/teams", too_big.encode(), "application/json",
                       admin)
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
