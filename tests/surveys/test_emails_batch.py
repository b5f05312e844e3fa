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


def as_sent(message) -> bytes:
    """The bytes Django's SMTP backend sends for a message."""
    return message.message().as_bytes(linesep="\r\n")


def expected_raw(invitation, *, reminder=False) -> bytes:
    return as_sent(emails.invitation_message(invitation, reminder=reminder))


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
        message = renderer.message(invitation, reminder=reminder)
        assert fields(message) == fields(rendered)
        raw = as_sent(message)
        assert normalized(raw) == normalized(expected_raw(invitation, reminder=reminder))
        assert message.recipients() == [invitation.contact.email]
        assert message.from_email == rendered.from_email
        assert invitation.token.encode() in raw
    # The tricky name is escaped in the HTML part and raw UTF-8 in the text part (8bit).
    raw = as_sent(renderer.message(first, reminder=reminder))
    assert "Zoë &lt;b&gt;O&#x27;Brien&lt;/b&gt; &amp; &quot;Çà&quot; João".encode() in raw
    assert f"Olá, {TRICKY_NAME}".encode() in raw or f"Oi, {TRICKY_NAME}".encode() in raw
    assert b"<b>O'Brien</b>" in raw.split(b"text/html")[0]  # only in the plain-text part
    assert b"Qz9" not in raw
    assert len(renderer._variants) == 1  # both named, same survey and language: one rendering


def test_each_message_has_its_own_boundary_date_and_message_id():
    first, second = pt_br(), pt_br(name="Ana")
    renderer = emails.BatchRenderer()
    a, b = as_sent(renderer.message(first)), as_sent(renderer.message(second))
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
        assert normalized(as_sent(renderer.message(invitation))) == normalized(
            expected_raw(invitation)
        )
    assert len(renderer._variants) == 3


@pytest.mark.parametrize(
    "name,email",
    [
        ("Ana\nBeatriz", "ana@example.com"),  # a line break: rendered alone
        ("Qz9 Ana", "ana@example.com"),  # the placeholder marker itself: rendered alone
        ("Ana", f"{'a' * 80}@example.com"),  # a To header long enough to be folded
        # A line over 998 bytes once HTML-escaped (&quot; is 6 bytes): quoted-printable.
        ('"' * 200, "ana@example.com"),
    ],
)
def test_awkward_values_give_the_message_rendered_alone(name, email):
    invitation = pt_br(name=name, email=email)
    renderer = emails.BatchRenderer()
    message = renderer.message(invitation)
    assert fields(message) == fields(emails.invitation_message(invitation))
    assert normalized(as_sent(message)) == normalized(expected_raw(invitation))


def test_long_intro_text_gives_the_message_rendered_alone():
    survey = SurveyFactory(intro_text="x" * 1200)  # quoted-printable parts
    invitation = pt_br(survey=survey, name="Ana")
    message = emails.BatchRenderer().message(invitation)
    assert fields(message) == fields(emails.invitation_message(invitation))
    assert normalized(as_sent(message)) == normalized(expected_raw(invitation))
