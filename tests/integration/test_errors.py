"""Every error answers in the envelope with the right status; no trace ever leaks."""

from app import create_app


def _assert_envelope(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_unknown_route_is_404_envelope(client):
    _assert_envelope(client.get("/api/v1/nope"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete("/api/v1/health")
    _assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


def test_bad_json_is_400(client):
    response = client.post("/api/v1/auth/login", data="{not json",
                           content_type="application/json")
    _assert_envelope(response, 400)


def test_invalid_field_is_400_with_per_field_details(client):
    error = _assert_envelope(client.post("/api/v1/auth/login", json={"username": ""}), 400,
                             "VALIDATION_ERROR")
    assert "username" in error["details"]["fields"]["json"]


def test_unknown_field_is_refused(client):
    error = _assert_envelope(
        client.post("/api/v1/auth/login", json={"username": "user", "isAdmin": True}), 400,
        "VALIDATION_ERROR")
    assert "isAdmin" in error["details"]["fields"]["json"]


def test_invalid_uuid_in_path_is_404_not_500(client, login):
    _assert_envelope(client.get("/api/v1/jobs/not-a-uuid", headers=login("admin")), 404)


def test_oversized_body_is_413(client):
    response = client.post("/api/v1/auth/login", data="x" * (2 * 1024 * 1024),
                           content_type="application/json")
    _assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_uncaught_error_is_500_with_request_id_and_no_trace(settings):
    app = create_app(settings)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals sk-shouldnotleak")

    response = app.test_client().get("/boom", headers={"X-Request-ID": "req-123"})
    error = _assert_envelope(response, 500, "INTERNAL_ERROR")
    assert error["details"]["requestId"] == "req-123"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/api/v1/health", headers={"X-Request-ID": "abc-1"}).headers[
        "X-Request-ID"] == "abc-1"
    generated = client.get("/api/v1/health").headers["X-Request-ID"]
    assert len(generated) == 32
    # a hostile request id is replaced, not echoed
    assert client.get("/api/v1/health", headers={"X-Request-ID": "a b<script>"}).headers[
        "X-Request-ID"] != "a b<script>"


def test_one_json_log_line_per_request(client, capsys):
    import json

    client.get("/api/v1/health", headers={"X-Request-ID": "log-check-1"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{") and "log-check-1" in line]
    access = [line for line in lines if line.get("logger") == "litemaas.access"]
    assert len(access) == 1
    assert access[0]["path"] == "/api/v1/health" and access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0
