"""A survey's external logo: fetched once into storage through the outbound guard, then served
by this site; the answer page never points at the external URL."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from followups import branding
from surveys import emails
from surveys.models import Survey
from tests.factories import InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def logo_server():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook's name
            hits.append(self.path)
            body = PNG if self.path == "/logo.png" else b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


def test_external_logo_is_fetched_once_and_served_from_this_site(client, logo_server):
    base, hits = logo_server
    survey = SurveyFactory(slug="zeta", logo_url=f"{base}/logo.png", company_name="Zeta")
    invitation = InvitationFactory(survey=survey)
    page = client.get(f"/s/{invitation.token}/").content.decode()
    assert base not in page  # not stored yet: no logo rather than a hotlink
    assert 'class="company">Zeta' in page

    assert branding.fetch_survey_logo(survey_id=survey.pk) is True
    assert branding.fetch_survey_logo(survey_id=survey.pk) is False  # stored: not again
    assert hits == ["/logo.png"]

    page = client.get(f"/s/{invitation.token}/").content.decode()
    assert '<img class="logo" src="/s/logo/zeta/" alt="Zeta">' in page
    assert base not in page
    logo = client.get("/s/logo/zeta/")
    assert logo.status_code == 200
    assert logo["Content-Type"] == "image/png"
    assert b"".join(logo.streaming_content) == PNG


def test_logo_on_an_internal_address_is_refused(settings, logo_server):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    base, hits = logo_server
    survey = SurveyFactory(logo_url=f"{base}/logo.png")
    assert branding.fetch_survey_logo(survey_id=survey.pk) is False
    assert hits == []
    assert not Survey.objects.get(pk=survey.pk).logo_file


def test_a_page_that_is_not_an_image_is_not_stored(client, logo_server):
    base, hits = logo_server
    survey = SurveyFactory(slug="bad", logo_url=f"{base}/page.html")
    assert branding.fetch_survey_logo(survey_id=survey.pk) is False
    assert hits == ["/page.html"]
    assert client.get("/s/logo/bad/").status_code == 404


def test_changing_the_url_stops_serving_the_old_copy(client, logo_server):
    base, _hits = logo_server
    survey = SurveyFactory(slug="moved", logo_url=f"{base}/logo.png")
    branding.fetch_survey_logo(survey_id=survey.pk)
    Survey.objects.filter(pk=survey.pk).update(logo_url="https://elsewhere.example/new.png")
    assert client.get("/s/logo/moved/").status_code == 404


def test_invitation_and_reminder_emails_show_the_stored_copy_at_its_absolute_url(
    settings, logo_server
):
    settings.SITE_URL = "https://cs.example.org"
    base, _hits = logo_server
    survey = SurveyFactory(slug="eta", logo_url=f"{base}/logo.png", company_name="Eta")
    assert branding.fetch_survey_logo(survey_id=survey.pk) is True
    invitation = InvitationFactory(survey=Survey.objects.get(pk=survey.pk))
    invitation.send_count = 1
    renderer = emails.BatchRenderer()
    messages = [
        emails.invitation_message(invitation),
        emails.invitation_message(invitation, reminder=True),
        renderer.message(invitation),
        renderer.message(invitation, reminder=True),
    ]
    for message in messages:
        html = message.alternatives[0][0]
        assert '<img src="https://cs.example.org/s/logo/eta/" alt="Eta"' in html
        assert base not in html
        assert base not in message.body
