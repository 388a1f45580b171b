"""Schemathesis over every operation of ``/docs/json``, in-process against the WSGI app, with a
valid token for each role: no answer is a 5xx, and every answer matches what the document says
(status code, content type, headers and body schema).

The fast profile (default) draws ``FUZZ_EXAMPLES`` examples per operation (each sent as every
role); ``make fuzz`` runs the same test with many more. Rate limiting is off in the fuzzed app
so a long run is not answered 429 (the limiter has its own tests). Every failing operation is
reported, not only the first.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeProvider

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
ROLES = ("admin", "adminro", "user")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_app(app, settings):
    """Rate limiting off; a real (fake) OIDC provider, so sign-in has a dependency that is up."""
    provider = FakeProvider().start()
    try:
        # UI_JOB_WAIT_SECONDS: no worker here, so the UI's export and refresh answer 202 at once
        with extra_app(settings, RATE_LIMIT_ENABLED=False, OAUTH_PROVIDER="oidc",
                       UI_JOB_WAIT_SECONDS=0.05,
                       OAUTH_CLIENT_ID=provider.client_id,
                       OAUTH_CLIENT_SECRET=provider.client_secret,
                       OAUTH_ISSUER_URL=provider.url) as fuzzed:
            yield fuzzed
    finally:
        provider.stop()


def _tokens(fuzz_app) -> dict[str, dict[str, str]]:
    headers = {}
    for role in ROLES:
        response = fuzz_app.test_client().post("/api/v1/auth/login", json={"username": role})
        assert response.status_code == 200
        headers[role] = {"Authorization": f"Bearer {response.get_json()['accessToken']}"}
    return headers


def _fuzz(operation, role_headers) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    def run(case):
        for headers in role_headers.values():
            case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_answers_as_documented_for_every_role(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/docs/json", fuzz_app)
    role_headers = _tokens(fuzz_app)
    operations, failures = 0, []
    for result in schema.get_all_operations():
        operations += 1
        if not hasattr(result, "ok"):  # the document describes this operation invalidly
            failures.append(f"unloadable operation: {result.err()}")
            continue
        operation = result.ok()
        try:
            _fuzz(operation, role_headers)
        except BaseException as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 40
    assert not failures, "\n\n".join(failures)
