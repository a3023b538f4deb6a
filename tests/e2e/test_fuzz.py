"""Schemathesis against the app's own /openapi.json: generated requests for every operation,
in process (ASGI transport) on the hash bot, with keys configured and an API key sent.

Checks: no 5xx (``not_a_server_error``) and every response matches the documented schema
(``response_schema_conformance``: errors included, so each documented status has its shape).
Bounded: at most ``MAX_EXAMPLES`` generated cases an operation, no deadline.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error, response_schema_conformance

from bot.apps.api.app import create_app
from bot.runtime.auth import admin_only

API_KEY = "fuzz-api-key-0123456789"
ADMIN_KEY = "fuzz-admin-key-0123456789"
MAX_EXAMPLES = 25


@pytest.fixture
def fuzz_schema(hash_bot, tmp_path):
    """A fresh app per test: schemathesis ends the app's lifespan after each test (which closes
    the feedback store), and a lifespan is started once per app."""
    s = hash_bot.settings.model_copy(update={
        "data_dir": tmp_path,
        "api_keys": [SecretStr(API_KEY)], "admin_keys": [SecretStr(ADMIN_KEY)], "widget_keys": [SecretStr("fuzz-widget-key-0123456789")],
        "cors_origins": ["https://portal.example"],
        "rate_limit_per_minute": 0, "ip_rate_limit_per_minute": 0,  # explore the API, not the limiter
    })
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(hash_bot, s))


# Every operation of the schema (a test below checks the list is complete). Driven through
# Hypothesis directly: schemathesis' own pytest plugin does not run under this pytest.
OPERATIONS = [
    "GET /healthz", "GET /readyz", "POST /v1/ask", "POST /v1/classify", "POST /v1/feedback", "GET /v1/feedback/export",
    "GET /v1/providers", "POST /v1/admin/reload", "POST /v1/classify/jobs", "GET /v1/classify/jobs/{job_id}", "GET /metrics",
]
CHECKS = [not_a_server_error, response_schema_conformance]


def test_the_operation_list_is_complete(fuzz_schema):
    assert sorted(r.ok().label for r in fuzz_schema.get_all_operations()) == sorted(OPERATIONS)


CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [(op, GenerationMode.NEGATIVE) for op in OPERATIONS if op.startswith("POST")]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{op}-{m.value}" for op, m in CASES])
def test_no_server_errors_and_responses_match_the_schema(fuzz_schema, label, mode):
    """Negative cases (bodies that break the schema) only where there is a body to break."""
    op = fuzz_schema.find_operation_by_label(label)
    key = ADMIN_KEY if admin_only(op.path) else API_KEY

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

    run()
