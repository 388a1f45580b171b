"""LiteLLM error bodies → typed errors (app/litellm/errors.py)."""

from __future__ import annotations

import pytest

from app.litellm.errors import (
    LiteLLMAuthError,
    LiteLLMBadRequest,
    LiteLLMConflict,
    LiteLLMEnterpriseRequired,
    LiteLLMError,
    LiteLLMInvalidResponse,
    LiteLLMNotFound,
    LiteLLMRateLimited,
    LiteLLMUnavailable,
    error_for_status,
    parse_error_body,
    redact,
)

RAW_KEY = "sk-AbC123_def-456ghiJKL789mnoPQR"


def test_proxy_exception_body_gives_message_type_and_param():
    body = {"error": {"message": "Authentication Error, No api key passed in.",
                      "type": "auth_error", "param": "None", "code": "401"}}

    error = error_for_status(401, body, context="GET /model/info")

    assert isinstance(error, LiteLLMAuthError)
    assert error.status == 401
    assert error.error_type == "auth_error"
    assert error.param is None
    assert error.message == "GET /model/info -> 401: Authentication Error, No api key passed in."


def test_python_repr_inside_error_message_is_unwrapped():
    body = {"error": {"message": "{'error': 'No keys found'}", "type": "internal_server_error",
                      "param": None, "code": "404"}}

    assert parse_error_body(body).message == "No keys found"
    assert isinstance(error_for_status(404, body, context="POST /key/delete"), LiteLLMNotFound)


def test_team_info_repr_with_message_field_is_unwrapped():
    body = {"error": {"message": "{'message': 'Team not found, passed team id: t1.'}",
                      "type": "auth_error", "param": "None", "code": "404"}}

    assert parse_error_body(body).message == "Team not found, passed team id: t1."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Not Found"}, "Not Found"),
        ({"detail": {"error": "User not found, passed user_id=u1"}},
         "User not found, passed user_id=u1"),
        ({"detail": {"message": "Malformed request."}}, "Malformed request."),
        ({"error": "plain string error"}, "plain string error"),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (None, "no error message"),
    ],
)
def test_detail_string_dict_and_text_bodies_give_a_message(body, message):
    assert parse_error_body(body).message == message


def test_fastapi_422_list_is_joined_into_one_message():
    body = {"detail": [
        {"type": "missing", "loc": ["body", "keys"], "msg": "Field required"},
        {"type": "less_than_equal", "loc": ["query", "size"],
         "msg": "Input should be less than or equal to 100"},
    ]}

    error = error_for_status(422, body, context="GET /key/list")

    assert isinstance(error, LiteLLMBadRequest)
    assert "body.keys: Field required" in error.message
    assert "query.size: Input should be less than or equal to 100" in error.message


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, LiteLLMBadRequest, False),
        (401, LiteLLMAuthError, False),
        (403, LiteLLMAuthError, False),
        (404, LiteLLMNotFound, False),
        (408, LiteLLMUnavailable, True),
        (409, LiteLLMConflict, False),
        (418, LiteLLMError, False),
        (422, LiteLLMBadRequest, False),
        (429, LiteLLMRateLimited, True),
        (500, LiteLLMUnavailable, True),
        (502, LiteLLMUnavailable, True),
        (503, LiteLLMUnavailable, True),
        (504, LiteLLMUnavailable, True),
    ],
)
def test_status_maps_to_error_class_and_retryability(status, kind, retryable):
    error = error_for_status(status, {"detail": "x"}, context="GET /x")

    assert type(error) is kind
    assert error.retryable is retryable


def test_conflict_is_a_bad_request():
    assert issubclass(LiteLLMConflict, LiteLLMBadRequest)


def test_invalid_response_is_not_retryable():
    assert LiteLLMInvalidResponse("not JSON").retryable is False


def test_rate_limited_carries_retry_after():
    error = error_for_status(429, {"detail": "slow down"}, context="POST /key/generate",
                             retry_after=7.5)

    assert isinstance(error, LiteLLMRateLimited)
    assert error.retry_after == 7.5


def test_enterprise_only_field_is_permanent_even_on_500():
    body = {"error": {"message": "Only premium users can add tags to keys. You must be a "
                                 "LiteLLM Enterprise user to use this feature.",
                      "type": "internal_server_error", "param": None, "code": "500"}}

    error = error_for_status(500, body, context="POST /key/generate")

    assert isinstance(error, LiteLLMEnterpriseRequired)
    assert error.retryable is False


def test_messages_never_carry_sk_keys_or_the_given_secrets():
    body = {"error": {"message": f"Invalid key {RAW_KEY} for master not-an-sk-secret",
                      "type": "auth_error", "param": "None", "code": "401"}}

    error = error_for_status(401, body, context="GET /key/info", secrets=["not-an-sk-secret"])

    assert RAW_KEY not in str(error)
    assert "not-an-sk-secret" not in str(error)
    assert "sk-\u2026" in error.message


def test_abbreviated_key_names_are_kept():
    assert redact("Received API Key = sk-...abcd") == "Received API Key = sk-...abcd"


def test_errors_built_directly_are_redacted_too():
    assert RAW_KEY not in str(LiteLLMError(f"boom {RAW_KEY}"))
