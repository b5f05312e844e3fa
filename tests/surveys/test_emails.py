"""Survey emails per kind: links, labels, branding, languages, headers."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from surveys import emails
from surveys.models import Kind
from tests.factories import (
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


def parts(message):
    html = message.alternatives[0][0]
    return message.body, html


def text_links(body):
    return re.findall(r"^(\d+)(?: \(([^)]*)\))?: (\S+)$", body, re.MULTILINE)


def test_nps_email_has_eleven_links_and_anchors():
    invitation = InvitationFactory()
    message = emails.invitation_message(invitation)
    body, html = parts(message)
    links = text_links(body)
    assert [int(score) for score, _, _ in links] == list(range(11))
    assert links[0][1] == "Not likely"
    assert links[10][1] == "Extremely likely"
    assert all(label == "" for _, label, _ in links[1:10])
    assert links[3][2] == f"https://surveys.example.com/s/{invitation.token}/?score=3"
    assert message.subject == "How likely are you to recommend ACME to a friend or colleague?"
    assert html.count(f"/s/{invitation.token}/?score=") == 11
    assert "0 = Not likely" in html
    assert "10 = Extremely likely" in html
    # Table layout with inline styles, as email clients need.
    assert '<table role="presentation"' in html
    assert "<link" not in html
    assert 'style="display:block;min-width:28px' in html


@pytest.mark.parametrize(
    ("scale_max", "expected"),
    [
        (3, ["Unsatisfied", "Neutral", "Satisfied"]),
        (5, ["Very unsatisfied", "Unsatisfied", "Neutral", "Satisfied", "Very satisfied"]),
        (7, ["Very unsatisfied", "", "", "Neutral", "", "", "Very satisfied"]),
        (10, ["Very unsatisfied", *[""] * 8, "Very satisfied"]),
    ],
)
def test_csat_email_uses_the_survey_scale_with_labels(scale_max, expected):
    invitation = InvitationFactory(survey=CsatSurveyFactory(scale_max=scale_max))
    body, html = parts(emails.invitation_message(invitation))
    links = text_links(body)
    assert [int(score) for score, _, _ in links] == list(range(1, scale_max + 1))
    assert [label for _, label, _ in links] == expected
    assert "How satisfied were you with ACME?" in body
    if scale_max <= 5:  # every point labelled: a list of labelled buttons
        assert f"<strong>1</strong>&nbsp;&nbsp;{expected[0]}" in html


def test_ces_email_is_an_agreement_scale_on_a_statement():
    invitation = InvitationFactory(survey=CesSurveyFactory(company_name="Globex"))
    message = emails.invitation_message(invitation)
    body, html = parts(message)
    assert "How much do you agree with the following statement?" in body
    assert "Globex made it easy for me to handle my issue." in body
    assert [label for _, label, _ in text_links(body)] == [
        "Strongly disagree",
        "Disagree",
        "Somewhat disagree",
        "Neither agree nor disagree",
        "Somewhat agree",
        "Agree",
        "Strongly agree",
    ]
    # The subject asks: a statement to agree with reads oddly as a subject line.
    assert message.subject == "How easy was it to handle your issue with Globex?"


def test_ces1_is_a_separate_effort_scale():
    survey = SurveyFactory(kind=Kind.CES1, scale_min=1, scale_max=5)
    body, _ = parts(emails.invitation_message(InvitationFactory(survey=survey)))
    assert "How much effort did you personally have to put forth" in body
    assert [label for _, label, _ in text_links(body)] == [
        "Very low effort",
        "Low effort",
        "Moderate effort",
        "High effort",
        "Very high effort",
    ]
    assert "agree" not in body.lower()


def test_branding_sender_logo_accent_and_intro():
    survey = SurveyFactory(
        sender_name="ACME Support",
        logo_url="https://cdn.acme.example/logo.png",
        accent_color="#7a1f5c",
        intro_text="Thanks for being with us this year.",
    )
    message = emails.invitation_message(InvitationFactory(survey=survey))
    body, html = parts(message)
    assert message.from_email == "ACME Support <feedback@example.com>"
    # An external logo not yet copied to this site is left out, never hotlinked.
    assert "cdn.acme.example" not in html
    assert "<img" not in html
    assert "color:#7a1f5c" in html
    assert "border-top:4px solid #7a1f5c" in html
    assert "Thanks for being with us this year." in html
    assert "Thanks for being with us this year." in body
    # The footer names the company (the survey's), not the sender's display name.
    assert "You receive this email because you are a customer of ACME." in body


@pytest.mark.parametrize(
    ("language", "subject", "anchor", "footer"),
    [
        (
            "pt-br",
            "Qual a probabilidade de você recomendar ACME a um amigo ou colega?",
            "Pouco provável",
            "Não quer receber estas pesquisas? Cancele a inscrição:",
        ),
        (
            "es",
            "¿Qué probabilidad hay de que recomiende ACME a un amigo o colega?",
            "Poco probable",
            "¿No quiere recibir estas encuestas? Dese de baja:",
        ),
    ],
)
def test_email_in_the_contact_language(language, subject, anchor, footer):
    invitation = InvitationFactory(contact=ContactFactory(language=language, name="Ana"))
    message = emails.invitation_message(invitation)
    body, html = parts(message)
    assert message.subject == subject
    assert f"(  {anchor})" not in body
    assert f"0 ({anchor}):" in body
    assert footer in body
    assert f'<html lang="{language}"' in html
    assert message.extra_headers["Content-Language"] == language


def test_reminder_has_its_own_subject_and_message_id():
    invitation = InvitationFactory(send_count=1)
    first = emails.invitation_message(invitation)
    reminder = emails.invitation_message(invitation, reminder=True)
    assert reminder.subject == f"Reminder: {first.subject}"
    assert reminder.extra_headers["Message-ID"] != first.extra_headers["Message-ID"]
    assert "A quick reminder: we would still love to hear from you." in reminder.body


def test_unsubscribe_headers_and_footer_link():
    invitation = InvitationFactory()
    message = emails.invitation_message(invitation)
    body, html = parts(message)
    base = f"https://surveys.example.com/s/{invitation.token}"
    assert message.extra_headers["List-Unsubscribe"] == f"<{base}/unsubscribe/one-click/>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{base}/unsubscribe/" in body
    assert f'href="{base}/unsubscribe/"' in html


def test_contact_name_is_escaped_in_html():
    contact = ContactFactory(name="<b>Eve</b>")
    body, html = parts(emails.invitation_message(InvitationFactory(contact=contact)))
    assert "<b>Eve</b>" not in html
    assert "Hi &lt;b&gt;Eve&lt;/b&gt;," in html
    assert "Hi <b>Eve</b>," in body  # plain text is not HTML


def test_accent_colour_must_be_readable_on_white():
    survey = SurveyFactory.build(accent_color="#ffdd00")
    with translation.override("en"):
        with pytest.raises(ValidationError) as raised:
            survey.full_clean(exclude=["slug"])
        assert raised.value.message_dict["accent_color"] == [
            "This colour is too light: white text on it is hard to read."
        ]
    SurveyFactory.build(accent_color="#0b3d91").clean()


def test_intro_text_in_the_contact_language():
    survey = SurveyFactory(
        intro_text="Hello from ACME.",
        text_translations={"pt-br": {"intro_text": "Olá da ACME."}},
    )
    invitation = InvitationFactory(survey=survey, contact=ContactFactory(language="pt-br"))
    body, html = parts(emails.invitation_message(invitation))
    assert "Olá da ACME." in body
    assert "Olá da ACME." in html
    assert "Hello from ACME." not in body
