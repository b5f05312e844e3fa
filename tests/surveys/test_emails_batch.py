"""Batch rendering: each message substituted into a variant equals the one rendered alone."""

import re

import pytest

from surveys import emails
from surveys.models import Invitation
from tests.factories import CesSurveyFactory, ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

TRICKY_NAME = 'Zoë <b>O\'Brien</b> & "Çà" João'


def fields(message):
    return {
        "subject": message.subject,
        "from": message.from_email,
        "to": message.to,
        "body": message.body,
        "alternatives": [tuple(alt) for alt in message.alternatives],
        "headers": message.extra_headers,
    }


def normalized(raw: bytes) -> bytes:
    """The bytes without what differs between any two sends: the date and the MIME boundary."""
    raw = re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", raw)
    return re.sub(rb"={15}\d{19}==", b"=boundary=", raw)


def expected_raw(invitation, *, reminder=False) -> bytes:
    return (
        emails.invitation_message(invitation, reminder=reminder).message().as_bytes(linesep="\r\n")
    )


def pt_br(name=TRICKY_NAME, **kwargs):
    survey = kwargs.pop("survey", None) or SurveyFactory(
        company_name="Açaí & Cia", intro_text="Olá <equipe>"
    )
    return InvitationFactory(
        survey=survey, contact=ContactFactory(language="pt-br", name=name, **kwargs), send_count=1
    )


@pytest.mark.parametrize("reminder", [False, True])
def test_substituted_message_equals_the_rendered_one_in_pt_br(reminder):
    first = pt_br()
    second = pt_br(name="Ana", survey=first.survey)
    renderer = emails.BatchRenderer()
    for invitation in (first, second):
        invitation = Invitation.objects.select_related("survey", "contact").get(pk=invitation.pk)
        rendered = emails.invitation_message(invitation, reminder=reminder)
        assert fields(renderer.message(invitation, reminder=reminder)) == fields(rendered)
        envelope_from, recipients, raw = renderer.raw(invitation, reminder=reminder)
        assert normalized(raw) == normalized(expected_raw(invitation, reminder=reminder))
        assert recipients == [invitation.contact.email]
        assert envelope_from == rendered.from_email
        assert invitation.token.encode() in raw
    # The tricky name is escaped in the HTML part and raw UTF-8 in the text part (8bit).
    raw = renderer.raw(first, reminder=reminder)[2]
    assert "Zoë &lt;b&gt;O&#x27;Brien&lt;/b&gt; &amp; &quot;Çà&quot; João".encode() in raw
    assert f"Olá, {TRICKY_NAME}".encode() in raw or f"Oi, {TRICKY_NAME}".encode() in raw
    assert b"<b>O'Brien</b>" in raw.split(b"text/html")[0]  # only in the plain-text part
    assert b"Qz9" not in raw
    assert len(renderer._variants) == 1  # both named, same survey and language: one rendering


def test_each_message_has_its_own_boundary_date_and_message_id():
    first, second = pt_br(), pt_br(name="Ana")
    renderer = emails.BatchRenderer()
    a, b = renderer.raw(first)[2], renderer.raw(second)[2]
    # Folded onto its own line (longer than 78 characters), as Django folds it.
    assert f"Message-ID: \r\n {first.message_id}\r\n".encode() in a
    assert f"Message-ID: \r\n {second.message_id}\r\n".encode() in b
    assert f"X-Survey-Invitation: {first.public_id}".encode() in a
    assert str(second.public_id).encode() not in a
    assert re.findall(rb"={15}\d{19}==", a)[0] != re.findall(rb"={15}\d{19}==", b)[0]


@pytest.mark.parametrize("name", ["", "Ana", TRICKY_NAME])
def test_other_kinds_languages_and_names(name):
    """English parts are ASCII (7bit) until a non-ASCII name makes them 8bit."""
    survey = CesSurveyFactory()
    renderer = emails.BatchRenderer()
    for language in ("en", "es", "pt-br"):
        invitation = InvitationFactory(
            survey=survey, contact=ContactFactory(language=language, name=name)
        )
        rendered = emails.invitation_message(invitation)
        assert fields(renderer.message(invitation)) == fields(rendered)
        assert normalized(renderer.raw(invitation)[2]) == normalized(expected_raw(invitation))
    assert len(renderer._variants) == 3


@pytest.mark.parametrize(
    "name,email",
    [
        ("Ana\nBeatriz", "ana@example.com"),  # a line break: the generator rewrites it
        ("Qz9 Ana", "ana@example.com"),  # the placeholder marker itself
        ("Ana", f"{'a' * 80}@example.com"),  # a To header long enough to be folded
        # A line over 998 bytes once HTML-escaped (&quot; is 6 bytes): quoted-printable.
        ('"' * 200, "ana@example.com"),
    ],
)
def test_values_that_could_render_differently_take_the_normal_path(name, email):
    invitation = pt_br(name=name, email=email)
    renderer = emails.BatchRenderer()
    assert renderer.raw(invitation) is None
    assert fields(renderer.message(invitation)) == fields(emails.invitation_message(invitation))


def test_long_intro_text_survey_sends_through_the_normal_path():
    survey = SurveyFactory(intro_text="x" * 1200)  # quoted-printable parts
    invitation = pt_br(survey=survey, name="Ana")
    renderer = emails.BatchRenderer()
    assert renderer.raw(invitation) is None
    assert fields(renderer.message(invitation)) == fields(emails.invitation_message(invitation))
