"""Bug 4: a survey's kind or scale could change after it had answers (`PATCH
/api/v1/surveys/demo-csat {"kind": "nps"}` made NPS 69 out of CSAT answers). Bug 7: a retried
`(survey, event_id)` that clashes with another contact's invitation added a suppressed row on
every retry."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import ADMINISTRATORS
from surveys.models import Invitation, Kind, Survey
from tests.factories import CsatSurveyFactory, ResponseFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return StaffFactory(username="boss", role=ADMINISTRATORS)


@pytest.fixture
def api(staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client


@pytest.fixture
def answered_csat():
    survey = CsatSurveyFactory(slug="demo-csat", name="Support")
    for score in (5, 4, 4, 2):
        ResponseFactory(invitation__survey=survey, score=score)
    return survey


MESSAGE = (
    "This survey has answers, so its kind and scale can no longer change (they were given on "
    "the CSAT (satisfaction) scale 1-5). Create a new survey instead."
)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "nps"}, "kind"),
        ({"kind": "nps", "scale_min": 0, "scale_max": 10}, "kind"),
        ({"scale_max": 10}, "scale_max"),
    ],
)
def test_the_api_refuses_to_change_an_answered_surveys_kind_or_scale(
    api, answered_csat, payload, field
):
    response = api.patch("/api/v1/surveys/demo-csat", payload, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [MESSAGE]}
    survey = Survey.objects.get(pk=answered_csat.pk)
    assert (survey.kind, survey.scale_min, survey.scale_max) == (Kind.CSAT, 1, 5)


def test_other_fields_of_an_answered_survey_still_change(api, answered_csat):
    response = api.patch(
        "/api/v1/surveys/demo-csat", {"name": "Support desk", "kind": "csat"}, format="json"
    )
    assert response.status_code == 200
    assert Survey.objects.get(pk=answered_csat.pk).name == "Support desk"


def test_a_survey_without_answers_may_change_kind(api):
    CsatSurveyFactory(slug="draft")
    response = api.patch("/api/v1/surveys/draft", {"kind": "nps"}, format="json")
    assert response.status_code == 200
    assert (response.json()["kind"], response.json()["scale_max"]) == ("nps", 10)


def test_the_admin_form_refuses_it_too(client, staff, answered_csat):
    client.force_login(staff)
    url = reverse("admin:surveys_survey_change", args=[answered_csat.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, (list, dict))
    }
    data.update(
        {
            "question_translations": "{}",
            "text_translations": "{}",
            "kind": "nps",
            "scale_min": 0,
            "scale_max": 10,
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["kind"] == [MESSAGE]
    assert Survey.objects.get(pk=answered_csat.pk).kind == Kind.CSAT


# --- Duplicate events (bug 7) -----------------------------------------------------------------


def payload(email: str) -> dict:
    return {"survey": "rel", "contact": {"email": email}, "event_id": "ticket-7"}


def test_a_retried_clashing_event_is_idempotent(api, mailoutbox):
    SurveyFactory(slug="rel")
    first = api.post("/api/v1/invitations", payload("ana@example.com"), format="json")
    clash = api.post("/api/v1/invitations", payload("bea@example.com"), format="json")
    retries = [
        api.post("/api/v1/invitations", payload("bea@example.com"), format="json") for _ in range(3)
    ]
    assert (first.status_code, clash.status_code) == (201, 201)
    assert clash.json()["status"] == "suppressed"
    assert clash.json()["suppression_reason"] == "duplicate_event"
    assert [r.status_code for r in retries] == [200, 200, 200]
    assert {r.json()["id"] for r in retries} == {clash.json()["id"]}
    assert Invitation.objects.count() == 2  # Ana's, and one duplicate row for Bea
    # A third person with the same event id is a duplicate of their own.
    other = api.post("/api/v1/invitations", payload("caio@example.com"), format="json")
    assert other.status_code == 201 and other.json()["id"] != clash.json()["id"]
    assert Invitation.objects.count() == 3
