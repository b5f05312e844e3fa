"""Staff see bot signals and referrals, and exclude or restore responses in the admin."""

import pytest

from accounts.roles import CS_STAFF
from surveys.models import Referral, Response
from tests.factories import ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.role(CS_STAFF)
def test_exclude_and_restore_actions(staff_client):
    suspect = ResponseFactory(suspected_bot=True, bot_signals={"reasons": ["scanner user agent"]})
    person = ResponseFactory()
    changelist = "/admin/surveys/response/"
    done = staff_client.post(
        changelist, {"action": "exclude_responses", "_selected_action": [suspect.pk]}, follow=True
    )
    assert "1 responses excluded." in done.content.decode()
    assert list(Response.objects.filter(excluded=True)) == [suspect]
    person.refresh_from_db()
    assert person.excluded is False

    staff_client.post(changelist, {"action": "restore_responses", "_selected_action": [suspect.pk]})
    assert Response.objects.filter(excluded=True).count() == 0


def test_response_page_shows_bot_signals_and_referrals(staff_client):
    response = ResponseFactory(
        suspected_bot=True,
        bot_signals={"via": "visible", "user_agent": "<script>x</script>", "reasons": ["x"]},
    )
    Referral.objects.create(response=response, name="Bea", email="bea@example.org")
    page = staff_client.get(f"/admin/surveys/response/{response.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<th>via</th><td>visible</td>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "bea@example.org" in html
    listing = staff_client.get("/admin/surveys/response/?suspected_bot__exact=1")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1


def test_referrals_list(staff_client):
    response = ResponseFactory()
    Referral.objects.create(response=response, name="Bea", email="bea@example.org")
    page = staff_client.get("/admin/surveys/referral/")
    assert page.status_code == 200
    assert "bea@example.org" in page.content.decode()


@pytest.mark.role(CS_STAFF)
def test_an_excluded_response_leaves_the_scores_and_a_restored_one_returns(staff_client):
    from metrics import selectors

    promoter = ResponseFactory(score=10)
    detractor = ResponseFactory(invitation__survey=promoter.survey, score=0, suspected_bot=True)
    survey = promoter.survey
    assert selectors.counted_responses(survey=survey).count() == 2
    staff_client.post(
        "/admin/surveys/response/",
        {"action": "exclude_responses", "_selected_action": [detractor.pk]},
    )
    assert list(selectors.counted_responses(survey=survey)) == [promoter]
    staff_client.post(
        "/admin/surveys/response/",
        {"action": "restore_responses", "_selected_action": [detractor.pk]},
    )
    assert selectors.counted_responses(survey=survey).count() == 2


def test_recorded_evidence_is_read_only_in_the_admin(staff_client):
    """Link fetches (bot evidence) and the announcement state are shown, never edited."""
    response = ResponseFactory()
    invitation = response.invitation
    invitation.link_fetches = {"get": 2, "head": 1, "first": "HEAD", "scores": [3, 9]}
    invitation.save(update_fields=["link_fetches"])
    page = staff_client.get(f"/admin/surveys/invitation/{invitation.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="link_fetches"' not in html
    assert "&quot;first&quot;: &quot;HEAD&quot;" in html
    answer = staff_client.get(f"/admin/surveys/response/{response.pk}/change/").content.decode()
    assert 'name="announce_pending"' not in answer
    assert 'name="announced_at' not in answer
    assert "announcement pending" in answer.lower()
