"""The OpenAPI document is valid and documents every route with auth and errors."""

from openapi_spec_validator import validate


def test_docs_json_is_a_valid_openapi_3_document(client):
    response = client.get("/docs/json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_operation_documents_access_and_errors(client):
    spec = client.get("/docs/json").get_json()
    for path, item in spec["paths"].items():
        # /api/auth: the web UI's sign-in, unversioned as the UI calls it
        assert path.startswith(("/api/v1/", "/api/auth/")) or path == "/metrics", path
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            assert "**Access:**" in operation.get("description", ""), (method, path)
            if operation.get("security") != []:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
                assert "x-required-permission" in operation


def test_swagger_ui_is_served(client):
    response = client.get("/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_each_operation_says_whether_a_users_api_key_may_call_it(client):
    from app.auth.permissions import API_KEY_SCOPE

    spec = client.get("/docs/json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "x-required-permission" not in operation:
                continue
            permission = operation["x-required-permission"]
            description = operation["description"]
            assert "**API keys:**" in description, (method, path)
            assert ("is refused" in description) == (permission not in API_KEY_SCOPE), (
                method, path)
