from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from surveys import services
from surveys.distribution import planning, sending
from surveys.models import Invitation, Response
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def test_create_invitation_queues_one_email_after_commit(
    django_capture_on_commit_callbacks, mailoutbox
):
    survey = SurveyFactory(company_name="ACME")
    contact = ContactFactory(email="ana@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        invitation, created = planning.create_invitation(survey=survey, contact=contact)

    assert created is True
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.send_count == 1
    assert [m.to for m in mailoutbox] == [["ana@example.com"]]
    assert mailoutbox[0].subject == "How likely are you to recommend ACME to a friend or colleague?"


def test_nothing_is_sent_before_commit(django_capture_on_commit_callbacks, mailoutbox):
    survey = SurveyFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        planning.create_invitation(survey=survey, contact=ContactFactory())
    assert len(callbacks) == 1
    assert mailoutbox == []


def test_same_event_returns_the_existing_invitation_and_sends_nothing(
    django_capture_on_commit_callbacks, mailoutbox
):
    survey = SurveyFactory()
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = planning.create_invitation(survey=survey, contact=contact, event_id="t-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second, created = planning.create_invitation(survey=survey, contact=contact, event_id="t-1")

    assert (second.pk, created) == (first.pk, False)
    assert callbacks == []
    assert len(mailoutbox) == 1
    assert Invitation.objects.count() == 1


def test_the_same_event_id_in_another_survey_is_a_new_invitation():
    contact = ContactFactory()
    planning.create_invitation(survey=SurveyFactory(), contact=contact, event_id="t-1")
    _, created = planning.create_invitation(survey=SurveyFactory(), contact=contact, event_id="t-1")
    assert created is True


@pytest.mark.parametrize(
    ("contact_kwargs", "survey_kwargs", "reason"),
    [
        ({"unsubscribed_at": timezone.now()}, {}, Invitation.Reason.UNSUBSCRIBED),
        ({"bounced_at": timezone.now()}, {}, Invitation.Reason.BOUNCED),
        ({}, {"active": False}, Invitation.Reason.INACTIVE_SURVEY),
    ],
)
def test_suppressed_invitations_are_kept_with_their_reason_and_not_mailed(
    contact_kwargs, survey_kwargs, reason, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invitation, created = planning.create_invitation(
            survey=SurveyFactory(**survey_kwargs), contact=ContactFactory(**contact_kwargs)
        )
    assert created is True
    assert (invitation.status, invitation.suppression_reason) == (
        Invitation.Status.SUPPRESSED,
        reason,
    )
    assert callbacks == []
    assert mailoutbox == []


def test_send_invitation_is_idempotent(mailoutbox):
    invitation = InvitationFactory(status=Invitation.Status.QUEUED, sent_at=None)

    assert sending.send_invitation(invitation_id=invitation.pk) is True
    assert sending.send_invitation(invitation_id=invitation.pk) is False

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["List-Unsubscribe"] == (
        f"<https://surveys.example.com/s/{invitation.token}/unsubscribe/one-click/>"
    )
    html = message.alternatives[0][0]
    for score in range(11):
        assert f"https://surveys.example.com/s/{invitation.token}/?score={score}" in html
        assert f"{score}" in message.body
    assert f"https://surveys.example.com/s/{invitation.token}/?score=11" not in html


def test_send_uses_the_contact_language_default_question():
    invitation = InvitationFactory(status=Invitation.Status.QUEUED, contact__language="en")
    sending.send_invitation(invitation_id=invitation.pk)
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    assert invitation.contact.last_invited_at == invitation.sent_at


def test_tokens_are_long_random_and_unique():
    tokens = {InvitationFactory().token for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(token) >= 43 for token in tokens)  # 32 random bytes, base64url


def test_record_answer_creates_then_updates_the_one_response():
    invitation = InvitationFactory()
    first = services.record_answer(invitation=invitation, score=3, comment="slow")
    second = services.record_answer(invitation=invitation, score=10, comment="fixed now")

    assert first.pk == second.pk
    response = Response.objects.get()
    assert (response.score, response.category, response.comment) == (10, 1, "fixed now")
    assert response.account_id == invitation.contact.account_id
    invitation.refresh_from_db()
    assert invitation.answered_at == first.answered_at


def test_zero_is_a_valid_answer():
    response = services.record_answer(invitation=InvitationFactory(), score=0)
    assert (response.score, response.category) == (0, -1)


@pytest.mark.parametrize("score", [-1, 11, "x", None, "9.5"])
def test_out_of_range_scores_are_rejected_and_nothing_is_written(score):
    invitation = InvitationFactory()
    with pytest.raises(ValidationError):
        services.record_answer(invitation=invitation, score=score)
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.answered_at is None


def test_expired_invitations_cannot_be_answered():
    invitation = InvitationFactory(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="closed"):
        services.record_answer(invitation=invitation, score=9)
    assert Response.objects.count() == 0


@pytest.mark.parametrize(
    ("factory_kwargs", "score", "category"),
    [
        ({}, 9, 1),
        ({}, 8, 0),
        ({}, 7, 0),
        ({}, 6, -1),
        ({"kind": "csat", "scale_min": 1, "scale_max": 5}, 4, 1),
        ({"kind": "csat", "scale_min": 1, "scale_max": 5}, 3, 0),
        ({"kind": "csat", "scale_min": 1, "scale_max": 5}, 2, -1),
        ({"kind": "csat", "scale_min": 1, "scale_max": 10}, 8, 1),
        ({"kind": "csat", "scale_min": 1, "scale_max": 10}, 7, 0),
        ({"kind": "ces", "scale_min": 1, "scale_max": 7}, 5, 1),
        ({"kind": "ces", "scale_min": 1, "scale_max": 7}, 4, 0),
        ({"kind": "ces", "scale_min": 1, "scale_max": 7}, 3, -1),
        ({"kind": "ces1", "scale_min": 1, "scale_max": 5}, 1, 1),
        ({"kind": "ces1", "scale_min": 1, "scale_max": 5}, 5, -1),
    ],
)
def test_categories_follow_each_kind(factory_kwargs, score, category):
    survey = SurveyFactory(**factory_kwargs)
    assert survey.category_of(score) == category
