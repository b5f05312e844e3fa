from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Contact
from surveys.models import Response
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db


def url(invitation, suffix=""):
    return f"/s/{invitation.token}/{suffix}"


def test_get_shows_the_score_preselected_and_records_only_a_click(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation) + "?score=7")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="7" checked' in html
    assert "How likely are you to recommend ACME" in html
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    # A fetch is not a person's visit (scanners fetch every link): only counted as a fetch.
    assert invitation.clicked_at is None
    assert invitation.link_fetches["get"] == 1
    assert invitation.answered_at is None


def test_head_records_nothing(client):
    invitation = InvitationFactory()
    assert client.head(url(invitation) + "?score=0").status_code == 200
    assert Response.objects.count() == 0


def test_post_records_the_answer_and_shows_thanks(client):
    invitation = InvitationFactory()
    posted = client.post(
        url(invitation), {"score": "0", "comment": "<script>x</script>"}, follow=True
    )
    assert posted.redirect_chain == [(url(invitation, "thanks/"), 302)]
    response = Response.objects.get()
    assert (response.score, response.comment) == (0, "<script>x</script>")
    html = posted.content.decode()
    assert "Thank you" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html


def test_reanswering_updates_the_one_response(client):
    invitation = InvitationFactory()
    client.post(url(invitation), {"score": "4"})
    client.post(url(invitation), {"score": "9", "comment": "better"})
    assert list(Response.objects.values_list("score", "comment")) == [(9, "better")]


@pytest.mark.parametrize("score", ["11", "-1", "abc", ""])
def test_out_of_range_score_is_a_400_with_the_form_and_a_message(client, score):
    invitation = InvitationFactory()
    page = client.post(url(invitation), {"score": score, "comment": "keep me"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "Choose a score" in html
    assert "keep me" in html  # the comment typed is not lost
    assert Response.objects.count() == 0


def test_too_long_comment_is_rejected_with_a_message(client):
    invitation = InvitationFactory()
    page = client.post(url(invitation), {"score": "9", "comment": "x" * 5001})
    assert page.status_code == 400
    assert "5,000" in page.content.decode()
    assert Response.objects.count() == 0


@pytest.mark.parametrize("token", ["nope", "a" * 43, "../../etc/passwd"])
def test_unknown_or_tampered_token_is_a_404_that_reveals_nothing(client, token):
    InvitationFactory(contact__email="secret@example.com")
    page = client.get(f"/s/{token}/")
    assert page.status_code == 404
    assert "This link is not valid" in page.content.decode()
    assert "secret@example.com" not in page.content.decode()


def test_tampered_token_post_writes_nothing(client):
    invitation = InvitationFactory()
    assert client.post(f"/s/{invitation.token[:-1]}x/", {"score": "9"}).status_code == 404
    assert Response.objects.count() == 0


def test_expired_invitation_is_410_and_not_recorded(client):
    invitation = InvitationFactory(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(url(invitation)).status_code == 410
    page = client.post(url(invitation), {"score": "9"})
    assert page.status_code == 410
    assert "This survey has closed" in page.content.decode()
    assert Response.objects.count() == 0


def test_unsubscribe_needs_a_post_and_is_reversible(client):
    invitation = InvitationFactory()
    assert client.get(url(invitation, "unsubscribe/")).status_code == 200
    assert Contact.objects.get().unsubscribed_at is None
    client.post(url(invitation, "unsubscribe/"), {"action": "unsubscribe"})
    assert Contact.objects.get().unsubscribed_at is not None
    client.post(url(invitation, "unsubscribe/"), {"action": "resubscribe"})
    assert Contact.objects.get().unsubscribed_at is None


def test_one_click_unsubscribe_is_done_by_post_only_and_csrf_exempt(client):
    from django.test import Client

    invitation = InvitationFactory()
    # A GET shows the confirm page and unsubscribes nobody.
    assert client.get(url(invitation, "unsubscribe/one-click/")).status_code == 200
    assert Contact.objects.get().unsubscribed_at is None
    strict = Client(enforce_csrf_checks=True)
    done = strict.post(url(invitation, "unsubscribe/one-click/"), {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert Contact.objects.get().unsubscribed_at is not None
