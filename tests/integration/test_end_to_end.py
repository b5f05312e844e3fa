"""The whole loop on the real stack: API → worker → SMTP → answer page → metrics API."""

import datetime as dt
import re

import pytest
import requests
from rest_framework.authtoken.models import Token

from surveys.models import Invitation, Response
from tests.factories import StaffFactory

pytestmark = pytest.mark.integration
BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


def _api(live_server):
    user = StaffFactory(username="integrator")
    token = Token.objects.create(user=user)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token.key}"
    base = f"{live_server.url}/api/v1"
    return session, base


def _links(message) -> dict[int, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    pattern = re.compile(r"^(\d+)(?: \([^)]*\))?: (\S+)$")
    matches = (pattern.match(line.strip()) for line in text.splitlines())
    return {int(m.group(1)): m.group(2) for m in matches if m}


def test_trigger_email_answer_and_report(live_server, worker, smtp):
    api, base = _api(live_server)
    created = api.post(
        f"{base}/surveys",
        json={"name": "Relational", "slug": "rel", "kind": "nps", "company_name": "ACME"},
    )
    assert created.status_code == 201, created.text

    response = api.post(
        f"{base}/invitations",
        json={
            "survey": "rel",
            "contact": {"email": "Ana@Example.com", "name": "Ana", "language": "en"},
            "account": {
                "external_id": "acme-1",
                "name": "ACME Ltd",
                "plan": "Pro",
                "mrr": "250.00",
            },
            "event_id": "ticket-42",
            "properties": {"agent": "bob"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued"

    [message] = smtp.wait_for(1, timeout=60)
    assert message["To"] == "Ana@Example.com"
    assert "recommend ACME" in message["Subject"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert re.fullmatch(
        re.escape(f"<{live_server.url}/s/") + r"[\w-]{43}/unsubscribe/one-click/>", unsubscribe
    )
    links = _links(message)
    assert sorted(links) == list(range(11))
    assert message.get_body(preferencelist=("html",)) is not None

    # The same event again: 200, the same invitation, no second email.
    again = api.post(
        f"{base}/invitations",
        json={"survey": "rel", "contact": {"email": "ana@example.com"}, "event_id": "ticket-42"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]

    invitation = Invitation.objects.get(public_id=body["id"])
    for _ in range(50):
        invitation.refresh_from_db()
        if invitation.status == Invitation.Status.SENT:
            break
        import time

        time.sleep(0.1)
    assert invitation.status == Invitation.Status.SENT
    assert invitation.send_count == 1

    # Opening the link (as a scanner would) records no answer.
    browser_session = requests.Session()
    page = browser_session.get(links[9])
    assert page.status_code == 200
    assert 'value="9" checked' in page.text
    head = browser_session.head(links[3])
    assert head.status_code == 200
    assert Response.objects.count() == 0

    # A person answers a minute after delivery, from a browser (an answer within seconds of
    # delivery, or from a scanner's user agent, is quarantined as a suspected bot's).
    Invitation.objects.filter(pk=invitation.pk).update(
        sent_at=invitation.sent_at - dt.timedelta(minutes=1)
    )
    posted = browser_session.post(
        links[9].split("?")[0],
        data={"score": "9", "comment": "Fast support"},
        headers={"Referer": links[9], "User-Agent": BROWSER_UA},
    )
    assert posted.status_code == 200
    assert "Thank you" in posted.text
    assert Response.objects.get().comment == "Fast support"

    summary = api.get(f"{base}/metrics/summary", params={"survey": "rel"}).json()
    assert summary["responses"] == 1
    assert summary["nps"]["score"] == 100.0
    assert summary["nps"]["promoters"] == 1

    assert len(smtp.messages) == 1


def test_healthz_reports_database_and_broker(live_server):
    health = requests.get(f"{live_server.url}/healthz").json()
    assert health == {"database": "ok", "broker": "ok", "status": "ok"}


def test_answer_in_headless_chromium(live_server, worker, smtp, page):
    api, base = _api(live_server)
    assert (
        api.post(
            f"{base}/surveys", json={"name": "CSAT", "slug": "csat", "kind": "csat"}
        ).status_code
        == 201
    )
    created = api.post(
        f"{base}/invitations",
        json={"survey": "csat", "contact": {"email": "b@example.com", "language": "pt-br"}},
    )
    assert created.status_code == 201
    [message] = smtp.wait_for(1)
    links = _links(message)
    assert sorted(links) == [1, 2, 3, 4, 5], message.as_string()

    page.goto(links[2])
    assert page.locator("input[name=score][value='2']").is_checked()
    assert Response.objects.count() == 0
    page.locator("label:has(input[name=score][value='4'])").click()
    assert page.locator("input[name=score][value='4']").is_checked()
    page.locator("textarea[name=comment]").fill("Resolveu <b>rápido</b>")
    page.get_by_role("button").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "Obrigado" in page.content()
    response = Response.objects.get()
    assert (response.score, response.comment, response.category) == (4, "Resolveu <b>rápido</b>", 1)
    # The comment is shown escaped, never as markup.
    assert page.locator("blockquote b").count() == 0
