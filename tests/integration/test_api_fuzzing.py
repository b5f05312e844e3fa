"""The API under schemathesis: its coverage and fuzzing phases against the schema the real stack
serves, with a token, a bounded number of examples and a fixed seed. Any server error or any
answer that contradicts the schema (status, content type, body, headers) fails the test."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from accounts.roles import ADMINISTRATORS
from tests.factories import (
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.integration
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


def test_the_api_survives_schemathesis(live_server, transactional_db, tmp_path):
    # Something to find: a survey with answers, an account, a contact and an invitation.
    survey = SurveyFactory(slug="rel")
    contact = ContactFactory(email="ana@example.com", account__external_id="acme-1")
    for score in (10, 9, 3):
        ResponseFactory(invitation__survey=survey, invitation__contact=contact, score=score)
    InvitationFactory(survey=survey, contact=contact, event_id="ticket-1")
    user = StaffFactory(username="fuzzer", role=ADMINISTRATORS)
    key = Token.objects.create(user=user).key

    started = time.monotonic()
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{live_server.url}/api/schema/?format=json",
            "--url",
            live_server.url,
            "--header",
            f"Authorization: Token {key}",
            "--phases",
            "coverage,fuzzing",
            "--checks",
            CHECKS,
            "--max-examples",
            "12",
            "--seed",
            "20261130",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--max-time",
            "150",
            # Made-up credentials would trip the wrong-token throttle for the whole run.
            "--generation-with-security-parameters",
            "false",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,  # schemathesis keeps its example cache in the working directory
    )
    elapsed = time.monotonic() - started
    print(result.stdout[-6000:])
    print(f"schemathesis took {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert elapsed < 180
