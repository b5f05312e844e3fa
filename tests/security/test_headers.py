"""D13: staff pages send a Content-Security-Policy and `Cache-Control: private`; the one-click
unsubscribe POST checks its RFC 8058 body and still works the way Gmail sends it."""

import pytest
from django.test import Client
from django.test.client import MULTIPART_CONTENT, encode_multipart

from accounts.models import Contact
from accounts.roles import CS_STAFF
from tests.factories import InvitationFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.django_db

STAFF_PAGES = [
    "/reports/",
    "/reports/accounts/",
    "/followups/",
    "/distribution/",
    "/admin/",
    "/admin/surveys/survey/",
    "/api/docs/",
    "/api/redoc/",
]


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_send_a_policy_and_stay_out_of_shared_caches(client, path):
    SurveyFactory()
    client.force_login(StaffFactory(role=CS_STAFF))
    reply = client.get(path)
    assert reply.status_code == 200, path
    directives = dict(
        part.strip().split(" ", 1) for part in reply["Content-Security-Policy"].split(";")
    )
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline script, nothing from elsewhere
    assert directives["frame-ancestors"] == "'none'"
    assert "private" in reply["Cache-Control"]


def test_the_api_docs_have_no_inline_script(client):
    client.force_login(StaffFactory(role=CS_STAFF))
    body = client.get("/api/docs/").content.decode()
    assert "<script>" not in body


def test_respondent_pages_keep_their_own_stricter_policy(client):
    invitation = InvitationFactory()
    reply = client.get(f"/s/{invitation.token}/")
    assert reply["Content-Security-Policy"].startswith("default-src 'none'")


def test_one_click_unsubscribe_needs_the_rfc_8058_body():
    invitation = InvitationFactory()
    client = Client(enforce_csrf_checks=True)
    path = f"/s/{invitation.token}/unsubscribe/one-click/"
    for body in ({}, {"List-Unsubscribe": "yes"}, {"unsubscribe": "One-Click"}):
        assert client.post(path, body).status_code == 400
    assert Contact.objects.get().unsubscribed_at is None


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_works_as_gmail_sends_it(encoding):
    invitation = InvitationFactory()
    client = Client(enforce_csrf_checks=True)
    path = f"/s/{invitation.token}/unsubscribe/one-click/"
    if encoding == "urlencoded":
        reply = client.post(
            path,
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        boundary = "gmail-boundary"
        reply = client.post(
            path,
            encode_multipart(boundary, {"List-Unsubscribe": "One-Click"}),
            content_type=MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", boundary),
        )
    assert reply.status_code == 200
    assert Contact.objects.get().unsubscribed_at is not None
