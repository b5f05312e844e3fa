"""Respondent pages in Portuguese and Spanish carry no English (the survey's own texts aside)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.models import Invitation
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

# Words that only English sentences of these pages use.
ENGLISH = re.compile(
    r"\b(the|your|you|Thank|Sent|behalf|Unsubscribe|answer|survey|closed|which|will|"
    r"Questions|Write|expired|withdrawn|Someone|team|likely|optional|Confirm|characters)\b"
)


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


@pytest.mark.parametrize("language", ["pt-br", "es"])
def test_respondent_pages_have_no_english(client, language):
    survey = SurveyFactory(company_name="Zeta")
    contact = ContactFactory(language=language)
    answer = InvitationFactory(survey=survey, contact=contact)
    pages = [f"/s/{answer.token}/?score=2", f"/s/{answer.token}/unsubscribe/"]
    pages.append(f"/s/{answer.token}/unsubscribe/one-click/")
    client.post(f"/s/{answer.token}/", {"score": "2", "via": "submit"})
    pages.append(f"/s/{answer.token}/thanks/")
    for status in (Invitation.Status.REVOKED, None):
        closed = InvitationFactory(survey=survey, contact=ContactFactory(language=language))
        change = {"status": status} if status else {"expires_at": timezone.now() - timedelta(1)}
        Invitation.objects.filter(pk=closed.pk).update(**change)
        pages.append(f"/s/{closed.token}/")
    for path in pages:
        text = _visible_text(client.get(path).content.decode())
        assert not ENGLISH.findall(text.replace("Zeta", "")), (path, ENGLISH.findall(text), text)
