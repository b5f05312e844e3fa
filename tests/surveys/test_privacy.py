"""LGPD/GDPR: export a contact's data as JSON, erase a contact keeping scores anonymously."""

import datetime as dt

import pytest
from django.core import serializers
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog, Contact
from accounts.roles import CS_STAFF, MARKETING
from followups import deliveries
from followups import services as followup_services
from followups.models import FollowUp, Note, WebhookDelivery
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
            event_id="evt-ana-7731",
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
    assert {i["event_id"] for i in data["invitations"]} == {"evt-ana-7731", None}
    assert sorted((r["score"], r["comment"]) for r in data["responses"]) == [
        (0, "Ana aqui, péssimo"),
        (10, "Ótimo"),
    ]
    detractor = person["detractor"]
    invitation = detractor.invitation
    assert data["invitations"][0] == {
        "id": str(invitation.public_id),
        "survey": person["survey"].slug,
        "status": invitation.status,
        "event_id": "evt-ana-7731",
        "properties": {"ticket_subject": "Meu CPF 123"},
        "created_at": invitation.created_at.isoformat(),
        "sent_at": invitation.sent_at.isoformat() if invitation.sent_at else None,
        "clicked_at": invitation.clicked_at.isoformat() if invitation.clicked_at else None,
        "answered_at": invitation.answered_at.isoformat() if invitation.answered_at else None,
    }
    assert data["responses"][0] == {
        "id": str(detractor.public_id),
        "survey": person["survey"].slug,
        "score": 0,
        "comment": "Ana aqui, péssimo",
        "reason": "Preço",
        "answered_at": detractor.answered_at.isoformat(),
        "confirmed_via": detractor.confirmed_via,
    }
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target, entry.row_count) == (
        "export_contact",
        actor,
        f"contact {person['contact'].pk}",
        2,
    )
    assert Contact.objects.count() == 2  # nothing was changed


PERSONAL = ("ana@example.com", "Ana", "péssimo", "Ótimo", "CPF", "99999", "evt-ana-7731")


def everything_stored() -> str:
    """Every row that could hold a copy of the person, as JSON text."""
    models = (Contact, Invitation, Response, WebhookDelivery, FollowUp, Note, AuditLog)
    return "".join(serializers.serialize("json", model.objects.all()) for model in models)


def funnel_counts(survey):
    period = selectors.Period(None, None, dt.UTC)
    (row,) = selectors.funnel(filters=selectors.Filters(period=period, surveys=(survey.pk,)))
    return {key: row[key] for key in ("invited", "sent", "clicked", "answered", "bounced")}


def by_language(survey):
    filters = selectors.Filters(period=selectors.Period(None, None, dt.UTC), surveys=(survey.pk,))
    return [
        (row["group"], row["n"])
        for row in selectors.breakdown(filters=filters, dimension="language")
    ]


def test_erase_removes_every_copy_of_personal_data_and_keeps_every_count(person):
    actor = StaffFactory(username="cs", role=CS_STAFF)
    other_contact = person["other"].contact
    # Copies elsewhere: a webhook about each answer and about the unsubscribe, a note.
    deliveries.create_endpoint(
        url="https://hooks.example.com/x",
        events=["response.created", "contact.unsubscribed"],
    )
    for name in ("detractor", "promoter", "other"):
        followup_services.handle_response_saved(response_id=person[name].pk, created=True)
    Contact.objects.filter(pk=person["contact"].pk).update(unsubscribed_at=timezone.now())
    followup_services.publish_contact_unsubscribed(contact_id=person["contact"].pk)
    followup = FollowUp.objects.get(response=person["detractor"])
    followup_services.add_note(followup=followup, author=actor, body="Ana ligou: péssimo, CPF")
    Invitation.objects.filter(response__isnull=False).update(answered_at=timezone.now())
    assert WebhookDelivery.objects.count() == 4
    assert all(word in everything_stored() for word in PERSONAL)  # the test can see them
    before = (
        nps_counts(person["survey"]),
        funnel_counts(person["survey"]),
        by_language(person["survey"]),
    )
    contact_id = person["contact"].pk

    summary = privacy.erase_contact(contact=person["contact"], actor=actor)

    stored = everything_stored()
    assert [word for word in PERSONAL if word in stored] == []
    # Anonymised, not deleted: every count is the same (scores, funnel, languages).
    after = (
        nps_counts(person["survey"]),
        funnel_counts(person["survey"]),
        by_language(person["survey"]),
    )
    assert after == before
    assert summary == {"responses_anonymised": 2, "invitations_anonymised": 3}
    assert before[1] == {"invited": 4, "sent": 4, "clicked": 3, "answered": 3, "bounced": 0}
    erased = Contact.objects.get(pk=contact_id)
    assert (erased.name, erased.properties, erased.language) == ("", {}, "pt-br")
    assert erased.erased_at is not None and not erased.is_mailable
    assert erased.email.endswith("@erased.invalid")
    for name in ("detractor", "promoter"):
        response = Response.objects.get(pk=person[name].pk)
        assert (response.comment, response.reason, response.bot_signals) == ("", "", {})
        assert response.account == person["account"]
    # The old links no longer open anything.
    assert Invitation.objects.filter(token=person["unanswered"].token).count() == 0
    # Deliveries not yet made are never made; the other person's is untouched.
    about_ana = WebhookDelivery.objects.exclude(body__contains=other_contact.email)
    assert {d.status for d in about_ana} == {WebhookDelivery.Status.SKIPPED}
    kept = WebhookDelivery.objects.get(body__contains=other_contact.email)
    assert kept.status == WebhookDelivery.Status.PENDING and '"comment":"ok"' in kept.body
    assert Response.objects.get(pk=person["other"].pk).comment == "ok"
    # The staff note is kept as a trace without its text.
    assert Note.objects.get().body == "(Erased with the contact's personal data.)"
    entry = AuditLog.objects.get(action="erase_contact")
    assert (entry.target, entry.filters) == (f"contact {contact_id}", summary)
    # Erasing again changes nothing more.
    again = privacy.erase_contact(contact=erased, actor=actor)
    assert again == summary
    assert Contact.objects.get(pk=contact_id).erased_at == erased.erased_at


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
    assert erased.json() == {
        "erased": True,
        "responses_anonymised": 2,
        "invitations_anonymised": 3,
    }
    assert api.post("/api/v1/contacts/ana@example.com/erase").status_code == 404
    assert api.get("/api/v1/contacts/ana@example.com/data").status_code == 404


def test_api_export_and_erase_with_the_email_in_the_body(person):
    """The address never appears in a URL, so it never reaches an access log."""
    api = token_client(StaffFactory(username="cs", role=CS_STAFF))
    exported = api.post("/api/v1/contacts/data", {"email": "ANA@example.com"}, format="json")
    assert exported.status_code == 200
    assert "no-store" in exported["Cache-Control"]
    # The same document as the path form gives.
    by_path = api.get("/api/v1/contacts/ana@example.com/data").json()
    body = exported.json()
    assert {**body, "exported_at": None} == {**by_path, "exported_at": None}
    assert body["contact"]["name"] == "Ana"
    erased = api.post("/api/v1/contacts/erase/", {"email": "ana@example.com"}, format="json")
    assert erased.status_code == 200
    assert erased.json() == {
        "erased": True,
        "responses_anonymised": 2,
        "invitations_anonymised": 3,
    }
    missing = api.post("/api/v1/contacts/data", {"email": "ana@example.com"}, format="json")
    assert missing.status_code == 404
    audits = list(AuditLog.objects.order_by("pk").values_list("action", flat=True))
    assert audits == ["export_contact", "export_contact", "erase_contact"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "This field is required."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": "a" * 250 + "@example.com"}, "Ensure this field has no more than 254"),
        ({"email": ["ana@example.com"]}, "Not a valid string."),
    ],
)
def test_body_form_names_the_bad_field(person, body, message):
    api = token_client(StaffFactory(username="cs", role=CS_STAFF))
    for path in ("/api/v1/contacts/data", "/api/v1/contacts/erase"):
        response = api.post(path, body, format="json")
        assert response.status_code == 400
        assert message in response.json()["email"][0]
    assert Contact.objects.get(email="ana@example.com").erased_at is None


def test_api_data_requests_are_forbidden_to_marketing(person):
    api = token_client(StaffFactory(username="mkt", role=MARKETING))
    assert api.get("/api/v1/contacts/ana@example.com/data").status_code == 403
    assert api.post("/api/v1/contacts/ana@example.com/erase").status_code == 403
    body = {"email": "ana@example.com"}
    assert api.post("/api/v1/contacts/data", body, format="json").status_code == 403
    assert api.post("/api/v1/contacts/erase", body, format="json").status_code == 403
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
    erased = Contact.objects.get(pk=pk)
    assert (erased.name, erased.erased_at is not None) == ("", True)
    assert not Contact.objects.filter(email__iexact="ana@example.com").exists()


def test_admin_actions_hidden_from_marketing(client, person):
    client.force_login(StaffFactory(username="mkt", role=MARKETING))
    page = client.get(reverse("admin:accounts_contact_changelist"))
    assert page.status_code == 200
    assert "erase_personal_data" not in page.content.decode()
    assert "export_personal_data" not in page.content.decode()
