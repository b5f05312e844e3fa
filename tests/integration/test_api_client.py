"""D12: a Python client generated from the served schema (openapi-python-client, no hand edits)
drives the README's integrator journey on the real stack, with typed results and typed errors."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import CS_STAFF, MARKETING
from surveys.models import Invitation
from tests.factories import StaffFactory

pytestmark = pytest.mark.integration
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
VENV_BIN = Path(sys.executable).parent


def _generate(live_server, tmp_path: Path):
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200
    path = tmp_path / "schema.json"
    path.write_bytes(schema.content)
    result = subprocess.run(
        [
            str(VENV_BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(path),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "npsclient"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module("npsclient")
    finally:
        sys.path.remove(str(tmp_path))


def _answer(live_server, invitation_id: str, score: int, comment: str) -> None:
    """A person's answer: a browser, a minute after the email arrived (an answer within seconds
    of delivery, or from a script's user agent, is quarantined as a suspected scanner)."""
    invitations = Invitation.objects.filter(public_id=invitation_id)
    invitations.update(sent_at=timezone.now() - dt.timedelta(minutes=1))
    reply = requests.post(
        f"{live_server.url}/s/{invitations.get().token}/",
        data={"score": str(score), "comment": comment, "via": "submit"},
        headers={"User-Agent": BROWSER_USER_AGENT},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302, reply.text


def test_a_generated_client_drives_the_integrator_journey(live_server, worker, smtp, tmp_path):
    npsclient = _generate(live_server, tmp_path)
    from npsclient.api.contacts import contacts_data_retrieve, contacts_erase_create
    from npsclient.api.exports import exports_create, exports_file_retrieve, exports_retrieve
    from npsclient.api.invitations import invitations_create, invitations_retrieve
    from npsclient.api.metrics import metrics_summary_retrieve, metrics_trend_retrieve
    from npsclient.api.responses import (
        responses_followup_partial_update,
        responses_followup_retrieve,
        responses_list,
    )
    from npsclient.api.surveys import surveys_create
    from npsclient.models import (
        AccountInputRequest,
        ContactData,
        ContactErased,
        ContactInputRequest,
        Error,
        ExportJob,
        ExportRequestRequest,
        FieldErrors,
        FollowUp,
        FollowUpStatusEnum,
        InvitationCreateRequest,
        KindEnum,
        PaginatedResponseList,
        PatchedFollowUpUpdateRequest,
        Summary,
        Survey,
        SurveyRequest,
        Trend,
    )
    from npsclient.models import (
        Invitation as InvitationModel,
    )

    def client_for(role: str):
        user = StaffFactory(username=f"integrator-{role}".replace(" ", "-"), role=role)
        key = Token.objects.create(user=user).key
        return npsclient.AuthenticatedClient(base_url=live_server.url, token=key, prefix="Token")

    api = client_for(CS_STAFF)  # what the README gives an integrator's user

    # Create a survey: `active` not sent, and it comes out active.
    survey = surveys_create.sync(
        client=api, body=SurveyRequest(name="Support", kind=KindEnum.NPS, company_name="ACME")
    )
    assert isinstance(survey, Survey)
    assert survey.active is True and survey.slug == "support"

    # Trigger invitations with account data; replaying an event id returns the same one.
    ids = []
    for number, (email, score) in enumerate(
        [("ana@example.com", 10), ("bia@example.com", 9), ("caio@example.com", 3)], 1
    ):
        created = invitations_create.sync_detailed(
            client=api,
            body=InvitationCreateRequest(
                survey=survey.slug,
                contact=ContactInputRequest(email=email, name=email.split("@")[0].title()),
                account=AccountInputRequest(
                    external_id="acme-1", name="ACME Ltd", plan="Pro", mrr="250.00"
                ),
                event_id=f"ticket-{number}",
            ),
        )
        assert created.status_code == 201
        assert isinstance(created.parsed, InvitationModel)
        ids.append((str(created.parsed.id), score, email))
    replay = invitations_create.sync_detailed(
        client=api,
        body=InvitationCreateRequest(
            survey=survey.slug,
            contact=ContactInputRequest(email="ana@example.com"),
            event_id="ticket-1",
        ),
    )
    assert replay.status_code == 200
    assert str(replay.parsed.id) == ids[0][0]
    smtp.wait_for(3, timeout=60)

    # Typed errors.
    unknown_survey = invitations_create.sync(
        client=api,
        body=InvitationCreateRequest(
            survey="nope", contact=ContactInputRequest(email="x@example.com")
        ),
    )
    assert isinstance(unknown_survey, FieldErrors)
    assert "survey" in unknown_survey.additional_properties
    missing = invitations_retrieve.sync(
        client=api, public_id="00000000-0000-0000-0000-000000000000"
    )
    assert isinstance(missing, Error)
    anonymous = npsclient.AuthenticatedClient(
        base_url=live_server.url, token="0" * 40, prefix="Token"
    )
    refused = metrics_summary_retrieve.sync(client=anonymous, survey=survey.slug)
    assert isinstance(refused, Error)

    # Respondents answer (10, 9 and 3: NPS = 2/3 - 1/3 = 33.3).
    for invitation_id, score, _email in ids:
        _answer(live_server, invitation_id, score, f"score {score}")

    summary = metrics_summary_retrieve.sync(client=api, survey=survey.slug)
    assert isinstance(summary, Summary)
    assert summary.responses == 3
    assert (summary.nps.promoters, summary.nps.passives, summary.nps.detractors) == (2, 0, 1)
    assert summary.nps.score == 33.3
    assert len(summary.nps.ci95) == 2
    trend = metrics_trend_retrieve.sync(client=api, survey=survey.slug)
    assert isinstance(trend, Trend)
    assert sum(point.responses for point in trend.points) == 3

    # Page through the responses (cursor pagination, two per page).
    seen, cursor = [], None
    while True:
        page = responses_list.sync(
            client=api, survey=survey.slug, page_size=2, **({"cursor": cursor} if cursor else {})
        )
        assert isinstance(page, PaginatedResponseList)
        seen.extend(page.results)
        if not page.next_:
            break
        cursor = parse_qs(urlsplit(page.next_).query)["cursor"][0]
    assert sorted(r.score for r in seen) == [3, 9, 10]
    assert {r.account.external_id for r in seen} == {"acme-1"}
    assert {r.contact.email for r in seen} == {e for _i, _s, e in ids}

    # Run an export (Marketing's right) and download it once a worker has written it.
    marketing = client_for(MARKETING)
    job = exports_create.sync(client=marketing, body=ExportRequestRequest(survey=survey.slug))
    assert isinstance(job, ExportJob)
    deadline = time.monotonic() + 60
    while job.status.value != "done" and time.monotonic() < deadline:
        time.sleep(0.5)
        job = exports_retrieve.sync(client=marketing, public_id=str(job.id))
        assert isinstance(job, ExportJob)
    assert job.status.value == "done"
    csv_text = exports_file_retrieve.sync(client=marketing, public_id=str(job.id))
    assert isinstance(csv_text, str)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("response_id,survey,") and len(lines) == 4

    # Read and update the detractor's follow-up.
    detractor = next(r for r in seen if r.score == 3)
    followup = responses_followup_retrieve.sync(client=api, public_id=str(detractor.id))
    assert isinstance(followup, FollowUp)
    updated = responses_followup_partial_update.sync(
        client=api,
        public_id=str(detractor.id),
        body=PatchedFollowUpUpdateRequest(status=FollowUpStatusEnum.IN_PROGRESS, tags=["pricing"]),
    )
    assert isinstance(updated, FollowUp)
    assert updated.status == FollowUpStatusEnum.IN_PROGRESS and updated.tags == ["pricing"]

    # A contact's data, then erase it.
    data = contacts_data_retrieve.sync(client=api, email="caio@example.com")
    assert isinstance(data, ContactData)
    assert data.contact.email == "caio@example.com" and len(data.responses) == 1
    erased = contacts_erase_create.sync(client=api, email="caio@example.com")
    assert isinstance(erased, ContactErased)
    assert erased.erased is True and erased.responses_anonymised == 1
    gone = contacts_data_retrieve.sync(client=api, email="caio@example.com")
    assert isinstance(gone, Error)
