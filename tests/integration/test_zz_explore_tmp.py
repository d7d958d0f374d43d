"""Property-based tests of the API against its own /openapi.json: no 500s, and every answer as documented."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis.checks import negative_data_rejection, not_a_server_error, positive_data_acceptance  # noqa: E402

from tests.emulators import ado_scenarios  # noqa: E402
from tests.integration.conftest import TOKEN  # noqa: E402
from tests.integration.server_support import ServerThread, devops_env, settings_for  # noqa: E402

API_KEY = "schemathesis-api-key-1f3b"
MAX_EXAMPLES = 200  # per operation: the whole module stays well under two minutes


@pytest.fixture
def api_schema(tmp_path, emulator):
    """Return the schema loaded from a running server that reads the emulator's organisation."""
    ado_scenarios.multi_stage_two_failed_jobs(emulator)
    with ServerThread(settings_for(tmp_path, devops_env(emulator, TOKEN, AZURA_API_KEY=API_KEY))) as running:
        yield schemathesis.openapi.from_url(f"{running.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# derandomize: the same examples on every run, so CI is repeatable; raise MAX_EXAMPLES locally to explore.
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=False, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_api_answers_as_its_openapi_document_says(case):
    response = case.call(headers={"Authorization": f"Bearer {API_KEY}"})
    # 502/504 are Azure DevOps' answers passed on (a random build id does not exist there), documented in the
    # schema; every other check still applies to them, and a 500 of our own is never excused.
    excluded = [not_a_server_error] if response.status_code in (502, 504) else []
    if isinstance(case.body, dict) and "build_url" in case.body:
        # The schema cannot say "a URL of the organisation this server reads"; others are refused with a 400.
        excluded.append(positive_data_acceptance)
    if response.status_code == 400 and "looks binary" in response.text:
        # The engine refuses text whose share of control characters says "binary"; no schema can say that.
        excluded.append(positive_data_acceptance)
    if case.media_type == "text/plain":
        # Any text is a log: a body schemathesis means as the integer -5 arrives as the text "-5".
        excluded.append(negative_data_rejection)
    case.validate_response(response, excluded_checks=excluded)
    assert response.status_code != 500
