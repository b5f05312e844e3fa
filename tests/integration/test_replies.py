"""Replying to a respondent on the real stack: the page → Redis → worker → SMTP, threaded under
the invitation the respondent received; an unsubscribed contact gets nothing."""

import time

import pytest
import requests

from accounts.roles import CS_STAFF
from followups.models import Reply
from surveys import services as survey_services
from surveys.distribution.planning import create_invitation
from surveys.models import Invitation
from tests.factories import AccountFactory, ContactFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.integration


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_threaded_reply_reaches_the_respondent_and_never_an_unsubscribed_one(
    live_server, workers, smtp, client
):
    # Replies the respondent sends back go to the team's inbox, set in the worker's environment.
    workers.start(1, REPLY_TO_EMAIL="cs-inbox@acme.example")
    staff = StaffFactory(username="maria", role=CS_STAFF, email="maria@acme.example")
    account = AccountFactory(name="Globex", owner=staff)
    survey = SurveyFactory(slug="rel", company_name="ACME", sender_name="ACME Care")
    ana = ContactFactory(account=account, email="ana@globex.example", name="Ana", language="es")
    bo = ContactFactory(account=account, email="bo@globex.example", name="Bo")
    for contact in (ana, bo):
        create_invitation(survey=survey, contact=contact)
    received = smtp.wait_for(2)
    invitation_ids = {m["To"]: m["Message-ID"] for m in received}
    smtp.clear()

    answers = {}
    for contact in (ana, bo):
        invitation = Invitation.objects.get(contact=contact)
        answers[contact.email] = survey_services.record_answer(
            invitation=invitation, score=3, comment="Demasiado lento"
        )

    # Bo unsubscribes with the one-click link of his email, as a mailbox provider would.
    bo_invitation = Invitation.objects.get(contact=bo)
    unsubscribed = requests.post(
        f"{live_server.url}/s/{bo_invitation.token}/unsubscribe/one-click/",
        data={"List-Unsubscribe": "One-Click"},
        timeout=10,
    )
    assert unsubscribed.status_code == 200

    client.force_login(staff)
    page = client.get(f"/followups/{answers['ana@globex.example'].public_id}/")
    assert 'id="reply-form"' in page.content.decode()
    sent = client.post(
        f"/followups/{answers['ana@globex.example'].public_id}/reply/",
        {"subject": "Re: lo sentimos", "body": "Hola Ana,\n\nYa lo resolvimos."},
    )
    assert sent.status_code == 302
    refused = client.post(
        f"/followups/{answers['bo@globex.example'].public_id}/reply/",
        {"subject": "Re: sorry", "body": "Hi Bo"},
    )
    assert refused.status_code == 400
    assert "unsubscribed" in refused.content.decode()

    [message] = smtp.wait_for(1)
    assert message["To"] == "ana@globex.example"
    assert message["From"] == "ACME Care <feedback@example.com>"
    assert message["Reply-To"] == "cs-inbox@acme.example"
    assert message["In-Reply-To"] == invitation_ids["ana@globex.example"]
    assert message["References"] == invitation_ids["ana@globex.example"]
    assert message["Content-Language"] == "es"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Ya lo resolvimos." in text
    assert "> Demasiado lento" in text
    reply = _wait(lambda: Reply.objects.filter(status=Reply.Status.SENT).first())
    assert message["Message-ID"].startswith(f"<reply-{reply.public_id}@")
    assert Reply.objects.count() == 1
    # Nothing else arrives: Bo got no reply.
    time.sleep(2)
    assert [m["To"] for m in smtp.messages] == ["ana@globex.example"]
