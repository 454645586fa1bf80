"""Fuzzing: schemathesis generates requests from /openapi.json; none may get a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from bark_clone.server.app import create_app

pytestmark = pytest.mark.slow  # a browser, a live uvicorn and a fuzzer: the full CI run covers them


def test_no_request_gets_a_server_error(config, hub, arctic):
    app = create_app(config, hub)
    created = TestClient(app).post("/speakers", data={"name": "me"},
                                   files={"audio": ("me.wav", arctic.read_bytes(), "audio/wav")})
    assert created.status_code == 201  # a real speaker, so /speak and /preview get exercised too
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{operation.method.upper()} {operation.path}" for operation in operations} >= {
        "POST /speakers", "GET /speakers", "GET /speakers/{name}", "GET /speakers/{name}.npz",
        "DELETE /speakers/{name}", "GET /speakers/{name}/preview.wav", "GET /speak/{name}"}
    statuses = []
    for operation in operations:
        # every operation as generated, then the GETs again on the real speaker so their other inputs get fuzzed
        for existing in (False, True) if operation.method.upper() == "GET" and "{name}" in operation.path else (False,):
            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case):
                if existing:
                    case.path_parameters["name"] = "me"
                response = case.call_and_validate(checks=[not_a_server_error])
                statuses.append(response.status_code)

            fuzz()
    assert statuses and max(statuses) < 500
    assert {200, 400, 404} <= set(statuses)  # the fuzzer reached successes and several kinds of refusal
