import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account, Contact
from accounts.roles import CS_STAFF
from surveys.models import Invitation, Survey
from tests.factories import ContactFactory, InvitationFactory, ResponseFactory, SurveyFactory

# Surveys and invitations are written by integrators, whose users are CS staff (README).
pytestmark = [pytest.mark.django_db, pytest.mark.role(CS_STAFF)]


def test_api_requires_a_token():
    client = APIClient()
    assert client.get("/api/v1/surveys").status_code == 401
    assert client.post("/api/v1/invitations", {}, format="json").status_code == 401


def test_create_survey_with_default_question_and_scale(api_client):
    created = api_client.post(
        "/api/v1/surveys",
        {"name": "Support", "kind": "csat", "company_name": "our support"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["slug"], body["scale_min"], body["scale_max"]) == ("support", 1, 5)
    assert body["effective_question"] == "How satisfied were you with our support?"
    listed = api_client.get("/api/v1/surveys/").json()
    assert [s["slug"] for s in listed["results"]] == ["support"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "kind": "stars"}, "kind"),
        ({"kind": "nps"}, "name"),
        ({"name": "x", "kind": "nps", "scale_min": 1, "scale_max": 5}, "scale_max"),
        ({"name": "x", "kind": "csat", "scale_max": 4}, "scale_max"),
        ({"name": "x", "kind": "nps", "slug": "bad slug!"}, "slug"),
    ],
)
def test_invalid_surveys_get_per_field_errors(api_client, payload, field):
    response = api_client.post("/api/v1/surveys", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Survey.objects.count() == 0


def test_duplicate_slug_is_rejected(api_client):
    SurveyFactory(slug="nps")
    response = api_client.post("/api/v1/surveys", {"name": "x", "slug": "nps"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()


def invitation_payload(**overrides):
    payload = {
        "survey": "rel",
        "contact": {"email": "Ana@Example.com", "name": "Ana", "language": "pt-BR"},
        "account": {
            "external_id": "acme",
            "name": "ACME",
            "plan": "Pro",
            "mrr": "99.90",
            "currency": "brl",
        },
        "event_id": "ticket-1",
        "properties": {"agent": "bob", "channel": "chat"},
    }
    payload.update(overrides)
    return payload


def test_create_invitation_upserts_account_and_contact_and_sends(
    api_client, mailoutbox, django_capture_on_commit_callbacks
):
    SurveyFactory(slug="rel")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/invitations", invitation_payload(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["survey"] == "rel"
    assert body["status"] == "queued"
    assert body["properties"] == {"agent": "bob", "channel": "chat"}
    invitation = Invitation.objects.get(public_id=body["id"])
    assert invitation.status == Invitation.Status.SENT
    account = Account.objects.get()
    assert (account.external_id, account.plan, str(account.mrr), account.currency) == (
        "acme",
        "Pro",
        "99.90",
        "BRL",
    )
    contact = Contact.objects.get()
    assert (contact.email, contact.language, contact.account_id) == (
        "Ana@Example.com",
        "pt-br",
        account.pk,
    )
    assert len(mailoutbox) == 1


def test_the_same_event_returns_200_with_the_same_invitation(
    api_client, mailoutbox, django_capture_on_commit_callbacks
):
    SurveyFactory(slug="rel")
    with django_capture_on_commit_callbacks(execute=True):
        first = api_client.post("/api/v1/invitations", invitation_payload(), format="json")
        again = api_client.post(
            "/api/v1/invitations",
            invitation_payload(contact={"email": "ana@example.com"}),
            format="json",
        )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Invitation.objects.count() == 1
    assert Contact.objects.count() == 1  # case-insensitive email
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"survey": "missing"}, ["survey"]),
        ({"contact": {"email": "not-an-email"}}, ["contact", "email"]),
        ({"contact": {"name": "no email"}}, ["contact", "email"]),
        ({"contact": {"email": "a@example.com", "language": "fr"}}, ["contact", "language"]),
        ({"account": {"name": "no id"}}, ["account", "external_id"]),
        ({"account": {"external_id": "x", "mrr": "-5"}}, ["account", "mrr"]),
        ({"account": {"external_id": "x", "mrr": "lots"}}, ["account", "mrr"]),
        ({"account": {"external_id": "x", "currency": "XYZ"}}, ["account", "currency"]),
        ({"properties": ["not", "an", "object"]}, ["properties"]),
    ],
)
def test_invalid_invitations_get_per_field_errors_and_nothing_is_written(
    api_client, mailoutbox, overrides, path
):
    SurveyFactory(slug="rel")
    response = api_client.post(
        "/api/v1/invitations", invitation_payload(**overrides), format="json"
    )
    assert response.status_code == 400
    errors = response.json()
    for key in path:
        errors = errors[key]
    assert errors and isinstance(errors[0], str)
    assert (Invitation.objects.count(), Contact.objects.count(), Account.objects.count()) == (
        0,
        0,
        0,
    )
    assert mailoutbox == []


def test_invitation_for_unsubscribed_contact_is_suppressed_with_reason(api_client, mailoutbox):
    SurveyFactory(slug="rel")
    ContactFactory(email="ana@example.com", unsubscribed_at=timezone.now())
    response = api_client.post("/api/v1/invitations", invitation_payload(), format="json")
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["suppression_reason"]) == (
        "suppressed",
        "unsubscribed",
    )
    assert mailoutbox == []


def test_metrics_summary_for_nps(api_client):
    survey = SurveyFactory(slug="rel")
    for score in [10, 9, 9, 8, 7, 6, 0]:
        ResponseFactory(invitation__survey=survey, score=score)
    ResponseFactory(invitation__survey=survey, score=0, excluded=True)
    body = api_client.get("/api/v1/metrics/summary", {"survey": "rel"}).json()
    assert body["survey"] == "rel"
    assert body["kind"] == "nps"
    assert body["responses"] == 7
    nps = body["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (3, 2, 2)
    assert nps["score"] == round(100 * (3 - 2) / 7, 1)
    lo, hi = nps["ci95"]
    assert lo < nps["score"] < hi


def test_metrics_summary_for_csat_and_ces(api_client):
    csat = SurveyFactory(slug="csat", kind="csat", scale_min=1, scale_max=5)
    for score in [5, 4, 3, 1]:
        ResponseFactory(invitation__survey=csat, score=score)
    body = api_client.get("/api/v1/metrics/summary", {"survey": "csat"}).json()
    assert body["csat"]["score"] == 50.0
    assert body["csat"]["mean"] == 3.25
    ces = SurveyFactory(slug="ces", kind="ces", scale_min=1, scale_max=7)
    for score in [7, 5, 4]:
        ResponseFactory(invitation__survey=ces, score=score)
    body = api_client.get("/api/v1/metrics/summary/", {"survey": "ces"}).json()
    assert body["ces"]["mean"] == round(16 / 3, 2)
    assert body["ces"]["agree_pct"] == round(200 / 3, 1)


def test_metrics_summary_with_no_answers_says_no_data_not_zero(api_client):
    SurveyFactory(slug="rel")
    body = api_client.get("/api/v1/metrics/summary", {"survey": "rel"}).json()
    assert body["responses"] == 0
    assert body["nps"]["score"] is None
    assert body["nps"]["ci95"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "survey"),
        ({"survey": "nope"}, "survey"),
        ({"survey": "rel", "start": "2026-13-01"}, "start"),
        ({"survey": "rel", "start": "2026-05-02", "end": "2026-05-01"}, "end"),
        ({"survey": "rel", "tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_metrics_summary_bad_params(api_client, params, field):
    SurveyFactory(slug="rel")
    response = api_client.get("/api/v1/metrics/summary", params)
    assert response.status_code == 400
    assert field in response.json()


def test_invitation_detail_by_public_id(api_client):
    invitation = InvitationFactory()
    body = api_client.get(f"/api/v1/invitations/{invitation.public_id}").json()
    assert body["id"] == str(invitation.public_id)
    assert "token" not in body
    assert api_client.get(f"/api/v1/invitations/{invitation.pk}").status_code == 404


def test_schema_and_docs_are_served(api_client, staff_client):
    schema = api_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/invitations" in schema.content
    docs = staff_client.get("/api/docs/")
    assert b"redoc.standalone.js" in docs.content
    assert b"cdn" not in docs.content.lower()


def test_invitation_list_pages_by_cursor_newest_first(api_client):
    """No count of the table: `next` and `previous` links, ties on the time broken by id."""
    same_time = timezone.now() - timezone.timedelta(hours=1)
    older = InvitationFactory(created_at=same_time - timezone.timedelta(minutes=5))
    tied = [InvitationFactory(created_at=same_time) for _ in range(3)]
    newest = InvitationFactory(created_at=same_time + timezone.timedelta(minutes=5))
    expected = [newest, *sorted(tied, key=lambda i: -i.pk), older]

    seen, page = [], api_client.get("/api/v1/invitations", {"page_size": 2})
    assert page.status_code == 200
    body = page.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["previous"] is None
    first_item = body["results"][0]
    assert first_item["id"] == str(newest.public_id)
    assert set(first_item) >= {"id", "status", "survey", "contact", "created_at", "answered"}
    while True:
        seen += [item["id"] for item in body["results"]]
        if not body["next"]:
            break
        body = api_client.get(body["next"]).json()
    assert seen == [str(i.public_id) for i in expected]
    back = api_client.get(body["previous"]).json()
    assert [item["id"] for item in back["results"]] == [str(i.public_id) for i in expected[2:4]]


@pytest.mark.parametrize("size", ["0", "1001", "many"])
def test_invitation_list_refuses_a_bad_page_size(api_client, size):
    answer = api_client.get("/api/v1/invitations", {"page_size": size})
    assert answer.status_code == 400
    assert "page_size" in answer.json()


def test_invitation_list_refuses_a_forged_cursor(api_client):
    InvitationFactory()
    assert api_client.get("/api/v1/invitations", {"cursor": "cD15ZXN0ZXJkYXk="}).status_code == 404
