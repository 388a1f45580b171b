"""Security headers, CORS only for configured origins, JSON-only request bodies."""

from app import create_app


def test_security_headers_on_api_responses(client):
    headers = client.get("/api/v1/health").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_non_json_body_is_415(client):
    response = client.post("/api/v1/auth/login", data="username=admin",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_cors_is_off_without_configured_origins(client):
    response = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allows_only_configured_origins(settings):
    app = create_app(settings.with_overrides(CORS_ORIGINS=("https://ui.example",)))
    client = app.test_client()
    allowed = client.get("/api/v1/health", headers={"Origin": "https://ui.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    other = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
