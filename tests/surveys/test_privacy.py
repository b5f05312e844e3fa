"""LGPD/GDPR: export a contact's data as JSON, erase a contact keeping scores anonymously."""

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog, Contact
from accounts.roles import CS_STAFF, MARKETING
from metrics import selectors
from surveys import privacy
from surveys.models import Invitation, Response
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)


@pytest.fixture
def person(db):
    survey = SurveyFactory(slug="rel")
    account = AccountFactory(external_id="ACC-1", name="ACME")
    contact = ContactFactory(
        email="ana@example.com",
        name="Ana",
        language="pt-br",
        account=account,
        properties={"phone": "+55 11 99999"},
    )
    detractor = ResponseFactory(
        invitation=InvitationFactory(
            survey=survey,
            contact=contact,
            event_id="t-1",
            properties={"ticket_subject": "Meu CPF 123"},
        ),
        score=0,
        comment="Ana aqui, péssimo",
        reason="Preço",
    )
    promoter = ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=contact),
        score=10,
        comment="Ótimo",
    )
    unanswered = InvitationFactory(survey=survey, contact=contact)
    other = ResponseFactory(invitation=InvitationFactory(survey=survey), score=7, comment="ok")
    return {
        "survey": survey,
        "account": account,
        "contact": contact,
        "detractor": detractor,
        "promoter": promoter,
        "unanswered": unanswered,
        "other": other,
    }


def nps_counts(survey):
    filters = selectors.Filters(period=selectors.Period(None, None, dt.UTC), surveys=(survey.pk,))
    return selectors.score_summary(filters=filters)["n"], sorted(
        selectors.counted_responses(filters=filters).values_list("score", flat=True)
    )


def test_export_contains_everything_about_the_contact(person):
    actor = StaffFactory(username="cs", role=CS_STAFF)
    data = privacy.export_contact_data(contact=person["contact"], actor=actor)
    assert data["contact"]["email"] == "ana@example.com"
    assert data["contact"]["properties"] == {"phone": "+55 11 99999"}
    assert data["account"] == {"external_id": "ACC-1", "name": "ACME"}
    assert len(data["invitations"]) == 3
    assert {i["event_id"] for i in data["invitations"]} == {"t-1", None}
    assert sorted((r["score"], r["comment"]) for r in data["responses"]) == [
        (0, "Ana aqui, péssimo"),
        (10, "Ótimo"),
    ]
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target, entry.row_count) == (
        "export_contact",
        actor,
        f"contact {person['contact'].pk}",
        2,
    )
    assert Contact.objects.count() == 2  # nothing was changed


def test_erase_removes_personal_data_and_keeps_scores(person):
    actor = StaffFactory(username="cs", role=CS_STAFF)
    before = nps_counts(person["survey"])
    contact_id = person["contact"].pk
    summary = privacy.erase_contact(contact=person["contact"], actor=actor)
    assert summary == {"responses_anonymised": 2, "invitations_deleted": 3}
    assert not Contact.objects.filter(pk=contact_id).exists()
    assert not Invitation.objects.filter(contact_id=contact_id).exists()
    assert Invitation.objects.count() == 1  # the other person's
    for name in ("detractor", "promoter"):
        response = Response.objects.get(pk=person[name].pk)
        assert (response.contact, response.invitation, response.comment, response.reason) == (
            None,
            None,
            "",
            "",
        )
        assert response.account == person["account"]
    assert Response.objects.get(pk=person["other"].pk).comment == "ok"
    assert nps_counts(person["survey"]) == before
    entry = AuditLog.objects.get()
    assert (entry.action, entry.target, entry.filters) == (
        "erase_contact",
        f"contact {contact_id}",
        summary,
    )
    assert "ana@example.com" not in str(entry.filters) + entry.target


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_api_export_and_erase(person):
    api = token_client(StaffFactory(username="cs", role=CS_STAFF))
    exported = api.get("/api/v1/contacts/ANA@example.com/data")
    assert exported.status_code == 200
    assert "no-store" in exported["Cache-Control"]
    assert exported.json()["contact"]["name"] == "Ana"
    erased = api.post("/api/v1/contacts/ana@example.com/erase")
    assert erased.status_code == 200
    assert erased.json() == {"erased": True, "responses_anonymised": 2, "invitations_deleted": 3}
    assert api.post("/api/v1/contacts/ana@example.com/erase").status_code == 404
    assert api.get("/api/v1/contacts/ana@example.com/data").status_code == 404


def test_api_data_requests_are_forbidden_to_marketing(person):
    api = token_client(StaffFactory(username="mkt", role=MARKETING))
    assert api.get("/api/v1/contacts/ana@example.com/data").status_code == 403
    assert api.post("/api/v1/contacts/ana@example.com/erase").status_code == 403
    assert Contact.objects.filter(email="ana@example.com").exists()
    assert AuditLog.objects.count() == 0


def test_admin_actions(client, person):
    client.force_login(StaffFactory(username="cs", role=CS_STAFF))
    url = reverse("admin:accounts_contact_changelist")
    pk = person["contact"].pk
    exported = client.post(url, {"action": "export_personal_data", "_selected_action": [pk]})
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == 'attachment; filename="personal-data.json"'
    assert exported.json()["contact"]["email"] == "ana@example.com"

    confirm = client.post(url, {"action": "erase_personal_data", "_selected_action": [pk]})
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    assert Contact.objects.filter(pk=pk).exists()

    done = client.post(
        url, {"action": "erase_personal_data", "_selected_action": [pk], "confirm": "yes"}
    )
    assert done.status_code == 302
    assert not Contact.objects.filter(pk=pk).exists()


def test_admin_actions_hidden_from_marketing(client, person):
    client.force_login(StaffFactory(username="mkt", role=MARKETING))
    page = client.get(reverse("admin:accounts_contact_changelist"))
    assert page.status_code == 200
    assert "erase_personal_data" not in page.content.decode()
    assert "export_personal_data" not in page.content.decode()
