"""The respondent pages: scanner-proof recording, follow-up, languages, states, rate limits."""

import datetime as dt
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact
from surveys.models import Invitation, Referral, Response
from tests.factories import (
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db

SCANNER_UA = "Mozilla/5.0 (compatible; Microsoft Safe Links scanner)"
BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def url(invitation, name="answer"):
    return reverse(f"public:{name}", args=[invitation.token])


def fetch(client, invitation, data, **extra):
    """A POST as the page's script sends it."""
    return client.post(url(invitation), data, HTTP_X_REQUESTED_WITH="fetch", **extra)


# --- GET and HEAD never record ---------------------------------------------------------------


def test_get_preselects_the_score_and_counts_the_fetch_only(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation) + "?score=9", HTTP_USER_AGENT=BROWSER_UA)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="9" checked' in html
    assert 'data-auto="1"' in html  # the first human action in the page confirms it
    assert "Your answer is not saved yet: confirm it below." in html
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.clicked_at is None  # a fetch, not yet a person
    assert invitation.answered_at is None
    first_at = invitation.link_fetches.pop("first_at")
    assert invitation.link_fetches == {"get": 1, "first": "GET", "scores": [9]}
    assert abs(dt.datetime.fromisoformat(first_at) - timezone.now()) < timedelta(minutes=1)


def test_head_of_every_link_records_no_response_and_no_click(client):
    invitation = InvitationFactory()
    for score in range(11):
        assert client.head(url(invitation) + f"?score={score}").status_code == 200
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.clicked_at is None
    assert invitation.answered_at is None
    assert invitation.link_fetches["head"] == 11
    assert invitation.link_fetches["first"] == "HEAD"
    assert sorted(invitation.link_fetches["scores"]) == list(range(11))


def test_get_of_unsubscribe_page_does_not_unsubscribe(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation, "unsubscribe"))
    assert page.status_code == 200
    assert "Unsubscribe from these surveys?" in page.content.decode()
    assert client.head(url(invitation, "unsubscribe")).status_code == 200
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed_at is None
    invitation.refresh_from_db()
    assert invitation.link_fetches["unsubscribe"] == 2


def test_one_click_url_opened_in_a_browser_shows_the_confirm_page(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation, "unsubscribe_one_click"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Unsubscribe from these surveys?" in body
    # The button posts to the page's own URL, not the one-click endpoint (which wants RFC 8058).
    assert f'action="/s/{invitation.token}/unsubscribe/"' in body
    assert client.head(url(invitation, "unsubscribe_one_click")).status_code == 200
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed_at is None
    client.post(url(invitation, "unsubscribe"), {"action": "unsubscribe"})
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed_at is not None


def test_thank_you_page_says_what_was_received_and_what_happens_next(client):
    low = InvitationFactory(survey=SurveyFactory(company_name="Zeta"))
    client.post(url(low), {"score": "2", "via": "submit"})
    body = client.get(url(low, "thanks")).content.decode()
    assert "You answered 2 — Not likely." in body
    assert "Someone from the team may contact you about it." in body
    assert "Sent on behalf of Zeta." in body
    high = InvitationFactory(
        survey=SurveyFactory(thanks_negative="We call you within a day."),
        contact__language="es",
    )
    client.post(url(high), {"score": "9", "via": "submit"})
    body = client.get(url(high, "thanks")).content.decode()
    assert "Usted respondió 9 — Muy probable." in body
    assert "We call you within a day." not in body  # a promoter: no next step


def test_detractor_next_step_is_the_surveys_own_in_the_language(client):
    survey = SurveyFactory(
        thanks_negative="We call you within a day.",
        text_translations={"pt-br": {"thanks_negative": "Ligamos em até um dia."}},
    )
    invitation = InvitationFactory(survey=survey, contact__language="pt-br")
    client.post(url(invitation), {"score": "0", "via": "submit"})
    body = client.get(url(invitation, "thanks")).content.decode()
    assert "Ligamos em até um dia." in body
    assert "Você respondeu 0 — Pouco provável." in body


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": Invitation.Status.REVOKED}, "This invitation was withdrawn"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "This invitation expired on"),
    ],
)
def test_closed_page_says_why_and_whom_to_write_to(client, settings, change, why):
    settings.REPLY_TO_EMAIL = "help@zeta.example"
    invitation = InvitationFactory(survey=SurveyFactory(company_name="Zeta"))
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    page = client.get(url(invitation))
    assert page.status_code == 410
    body = page.content.decode()
    assert why in body
    assert 'href="mailto:help@zeta.example"' in body
    assert "Questions for Zeta?" in body


# --- Confirmation by the page's script, or by the confirm button -----------------------------


def test_tap_confirms_with_json_and_keeps_the_page(client):
    invitation = InvitationFactory()
    result = fetch(client, invitation, {"score": "10", "via": "tap"})
    assert result.status_code == 200
    assert result.json() == {
        "saved": True,
        "score": 10,
        "message": "Thank you, your answer is saved. You can add a comment below.",
    }
    response = Response.objects.get()
    assert (response.score, response.category, response.confirmed_via) == (10, 1, "tap")


def test_visible_confirmation_then_typing_then_submit_update_one_response(client):
    invitation = InvitationFactory()
    fetch(client, invitation, {"score": "6", "via": "visible"})
    fetch(client, invitation, {"score": "6", "comment": "Slow", "via": "typing"})
    # A later tap without the comment keeps the comment typed before.
    fetch(client, invitation, {"score": "7", "via": "tap"})
    response = Response.objects.get()
    assert (response.score, response.comment, response.confirmed_via) == (7, "Slow", "tap")
    posted = client.post(url(invitation), {"score": "8", "comment": "Slow, but fixed"})
    assert posted.status_code == 302
    assert posted["Location"] == url(invitation, "thanks")
    response = Response.objects.get()
    assert (response.score, response.comment, response.confirmed_via) == (
        8,
        "Slow, but fixed",
        "submit",
    )
    assert Invitation.objects.get().answered_at is not None


def test_without_script_one_tap_on_confirm_records_the_preselected_score(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation) + "?score=3").content.decode()
    assert "Confirm my answer" in page
    assert '<input type="hidden" name="via" value="submit">' in page
    posted = client.post(url(invitation), {"score": "3", "comment": "", "via": "submit"})
    assert posted.status_code == 302
    assert Response.objects.get().confirmed_via == "submit"


def test_unknown_confirmation_method_is_rejected(client):
    invitation = InvitationFactory()
    result = fetch(client, invitation, {"score": "3", "via": "api"})
    assert result.status_code == 400
    assert Response.objects.count() == 0


def test_existing_answer_is_shown_for_change_without_auto_confirm(client):
    invitation = InvitationFactory()
    ResponseFactory(invitation=invitation, score=4, comment="Meh")
    html = client.get(url(invitation)).content.decode()
    assert 'value="4" checked' in html
    assert 'data-auto="0"' in html
    assert "Your current answer is 4. You can change it." in html
    assert "Update my answer" in html
    assert ">Meh</textarea>" in html


# --- Bot signals -----------------------------------------------------------------------------


def test_bot_signals_flag_a_scanner_that_fetched_every_link(client):
    invitation = InvitationFactory(sent_at=timezone.now() - timedelta(seconds=1))
    for score in range(11):
        client.head(url(invitation) + f"?score={score}", HTTP_USER_AGENT=SCANNER_UA)
    fetch(client, invitation, {"score": "10", "via": "visible"}, HTTP_USER_AGENT=SCANNER_UA)
    response = Response.objects.get()
    assert response.suspected_bot is True
    signals = response.bot_signals
    assert signals["via"] == "visible"
    assert signals["head_count"] == 11
    assert signals["all_links_fetched"] is True
    assert signals["known_scanner_user_agent"] is True
    assert signals["first_method"] == "HEAD"
    # Reasons about the confirming request flag it; the links' history is context only.
    assert signals["reasons"] == [
        "scanner user agent",
        "answered within seconds of delivery",
        "confirmed without a human action",
    ]
    assert signals["context"] == ["every score link fetched", "HEAD before GET"]
    # Quarantined: kept for staff to judge, counted nowhere until released.
    assert (response.quarantined, response.excluded, response.announce_pending) == (
        True,
        True,
        False,
    )


def test_a_person_is_not_flagged(client):
    invitation = InvitationFactory(sent_at=timezone.now() - timedelta(hours=2))
    client.get(url(invitation) + "?score=9", HTTP_USER_AGENT=BROWSER_UA)
    client.post(url(invitation), {"score": "9"}, HTTP_USER_AGENT=BROWSER_UA)
    response = Response.objects.get()
    assert response.suspected_bot is False
    assert response.bot_signals["reasons"] == []
    assert response.bot_signals["seconds_since_delivery"] >= 7200
    assert response.bot_signals["scores_fetched"] == [9]


# --- Follow-up -------------------------------------------------------------------------------


def test_follow_up_prompt_depends_on_the_category(client):
    survey = SurveyFactory(follow_up_negative="Sorry! What went wrong?")
    invitation = InvitationFactory(survey=survey)
    detractor = client.get(url(invitation) + "?score=2").content.decode()
    assert '<span id="prompt">Sorry! What went wrong?</span>' in detractor
    promoter = client.get(url(invitation) + "?score=10").content.decode()
    assert '<span id="prompt">What did you like most?</span>' in promoter
    assert 'data-prompt-1="Sorry! What went wrong?"' in promoter
    assert 'data-prompt0="What would make it even better?"' in promoter
    nothing = client.get(url(invitation)).content.decode()
    assert '<span id="prompt">What is the main reason for your score?</span>' in nothing


def test_reason_options_are_offered_and_stored(client):
    survey = CsatSurveyFactory(
        reason_question="What mattered most?", reason_options="Speed\nPrice\n\nSupport\n"
    )
    invitation = InvitationFactory(survey=survey)
    html = client.get(url(invitation)).content.decode()
    assert "What mattered most?" in html
    assert re.findall(r'name="reason" id="[^"]+" value="([^"]+)"', html) == [
        "Speed",
        "Price",
        "Support",
    ]
    client.post(url(invitation), {"score": "5", "reason": "Price"})
    assert Response.objects.get().reason == "Price"


def test_unknown_reason_is_refused_with_a_message(client):
    survey = CsatSurveyFactory(reason_options="Speed\nPrice")
    invitation = InvitationFactory(survey=survey)
    page = client.post(url(invitation), {"score": "5", "reason": "Bribes"})
    assert page.status_code == 400
    assert "Choose one of the listed reasons." in page.content.decode()
    assert Response.objects.count() == 0


def test_promoter_can_refer_a_colleague(client):
    survey = SurveyFactory(referral_enabled=True)
    invitation = InvitationFactory(survey=survey)
    client.post(url(invitation), {"score": "10"})
    thanks = client.get(url(invitation, "thanks")).content.decode()
    assert "Know someone who would benefit?" in thanks
    posted = client.post(
        url(invitation, "referral"), {"name": "Bea Lima", "email": "bea@example.org"}
    )
    assert posted.status_code == 302
    assert posted["Location"] == url(invitation, "thanks") + "#referral"
    referral = Referral.objects.get()
    assert (referral.name, referral.email, referral.response) == (
        "Bea Lima",
        "bea@example.org",
        Response.objects.get(),
    )
    again = client.get(url(invitation, "thanks")).content.decode()
    assert "Thank you for the referral. We will get in touch." in again
    # The same colleague twice is one referral.
    client.post(url(invitation, "referral"), {"name": "Bea Lima", "email": "BEA@example.org"})
    assert Referral.objects.count() == 1


def test_referral_with_a_bad_email_shows_the_message_and_stores_nothing(client):
    invitation = InvitationFactory(survey=SurveyFactory(referral_enabled=True))
    client.post(url(invitation), {"score": "9"})
    page = client.post(url(invitation, "referral"), {"name": "Bea", "email": "not-an-email"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "Enter a valid email address, like name@example.com." in html
    assert 'value="Bea"' in html
    assert Referral.objects.count() == 0


def test_detractors_get_no_referral_or_review_offer(client):
    survey = SurveyFactory(referral_enabled=True, review_url="https://reviews.example.com/acme")
    invitation = InvitationFactory(survey=survey)
    client.post(url(invitation), {"score": "3"})
    thanks = client.get(url(invitation, "thanks")).content.decode()
    assert "Know someone" not in thanks
    assert "reviews.example.com" not in thanks
    page = client.post(url(invitation, "referral"), {"name": "Bea", "email": "bea@example.org"})
    assert page.status_code == 400
    assert "This survey does not take referrals." in page.content.decode()
    assert Referral.objects.count() == 0


def test_promoters_see_the_review_link(client):
    survey = SurveyFactory(review_url="https://reviews.example.com/acme")
    invitation = InvitationFactory(survey=survey)
    client.post(url(invitation), {"score": "9"})
    thanks = client.get(url(invitation, "thanks")).content.decode()
    assert 'href="https://reviews.example.com/acme" rel="noopener noreferrer"' in thanks
    assert "Write a review" in thanks


# --- Languages -------------------------------------------------------------------------------


def test_contact_language_wins_over_the_browser(client):
    invitation = InvitationFactory(contact=ContactFactory(language="pt-br"))
    page = client.get(url(invitation) + "?score=9", HTTP_ACCEPT_LANGUAGE="es")
    html = page.content.decode()
    assert '<html lang="pt-br">' in html
    assert "Qual a probabilidade de você recomendar ACME a um amigo ou colega?" in html
    assert "Confirmar minha resposta" in html
    assert page["Content-Language"] == "pt-br"


def test_browser_language_when_the_contact_has_none(client):
    invitation = InvitationFactory(contact=ContactFactory(language=""))
    html = client.get(url(invitation), HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").content.decode()
    assert '<html lang="es">' in html
    assert "¿Qué probabilidad hay de que recomiende ACME a un amigo o colega?" in html
    assert "0 = Poco probable" in html


def test_staff_translation_of_the_question_is_used(client):
    survey = SurveyFactory(question_translations={"es": "¿Nos recomendaría?"})
    invitation = InvitationFactory(survey=survey, contact=ContactFactory(language="es"))
    html = client.get(url(invitation)).content.decode()
    assert '<h1 id="question">¿Nos recomendaría?</h1>' in html


def test_thank_you_page_is_translated(client):
    invitation = InvitationFactory(contact=ContactFactory(language="es"))
    client.post(url(invitation), {"score": "9"})
    html = client.get(url(invitation, "thanks")).content.decode()
    assert "¡Gracias!" in html
    assert "Usted respondió 9 — Muy probable." in html


# --- States ----------------------------------------------------------------------------------


def test_out_of_range_score_is_a_400_with_the_form_and_message(client):
    invitation = InvitationFactory()
    page = client.post(url(invitation), {"score": "11", "comment": "kept"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "Choose a score from 0 to 10." in html
    assert 'id="answer-form"' in html
    assert ">kept</textarea>" in html
    assert Response.objects.count() == 0


def test_out_of_range_score_in_the_link_is_a_400_with_the_message(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation) + "?score=42")
    assert page.status_code == 400
    html = page.content.decode()
    assert "Choose a score from 0 to 10." in html
    assert " checked" not in html
    assert Response.objects.count() == 0


def test_missing_score_is_refused_with_a_message(client):
    invitation = InvitationFactory()
    page = client.post(url(invitation), {"comment": "no score"})
    assert page.status_code == 400
    assert "Choose a score." in page.content.decode()
    assert Response.objects.count() == 0


def test_comment_over_5000_characters_is_refused_with_a_message(client):
    invitation = InvitationFactory()
    page = client.post(url(invitation), {"score": "5", "comment": "x" * 5001})
    assert page.status_code == 400
    assert (
        "Your comment is 5001 characters long; please keep it under 5000." in page.content.decode()
    )
    assert Response.objects.count() == 0
    ok = client.post(url(invitation), {"score": "5", "comment": "y" * 5000})
    assert ok.status_code == 302
    assert len(Response.objects.get().comment) == 5000


def test_script_errors_come_back_as_json(client):
    invitation = InvitationFactory()
    result = fetch(client, invitation, {"score": "99", "via": "tap"})
    assert result.status_code == 400
    assert result.json() == {"error": "Choose a score from 0 to 10."}
    assert Response.objects.count() == 0


def test_html_in_comments_is_escaped_on_every_page(client):
    invitation = InvitationFactory()
    client.post(url(invitation), {"score": "5", "comment": "<script>alert(1)</script>"})
    thanks = client.get(url(invitation, "thanks")).content.decode()
    assert "<script>alert(1)</script>" not in thanks
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in thanks
    answer = client.get(url(invitation)).content.decode()
    assert "<script>alert(1)</script>" not in answer
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer


def test_expired_invitation_shows_the_closed_page_and_keeps_the_answer(client):
    invitation = InvitationFactory()
    ResponseFactory(invitation=invitation, score=8)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = client.get(url(invitation) + "?score=2")
    assert page.status_code == 410
    assert "This survey has closed" in page.content.decode()
    posted = client.post(url(invitation), {"score": "2"})
    assert posted.status_code == 410
    assert fetch(client, invitation, {"score": "2", "via": "tap"}).json() == {
        "error": "This survey has closed."
    }
    assert Response.objects.get().score == 8


def test_revoked_invitation_is_closed(client):
    invitation = InvitationFactory(status=Invitation.Status.REVOKED)
    assert client.post(url(invitation), {"score": "9"}).status_code == 410
    assert Response.objects.count() == 0


@pytest.mark.parametrize("token", ["x" * 43, "short", "a" * 80])
def test_unknown_token_is_a_404_that_reveals_nothing(client, token):
    InvitationFactory()
    page = client.get(f"/s/{token}/?score=9")
    assert page.status_code == 404
    html = page.content.decode()
    assert "Page not found" in html
    assert token not in html
    assert "ACME" not in html
    assert client.post(f"/s/{token}/", {"score": "9"}).status_code == 404
    assert Response.objects.count() == 0


def test_thanks_without_an_answer_goes_back_to_the_question(client):
    invitation = InvitationFactory()
    page = client.get(url(invitation, "thanks"))
    assert page.status_code == 302
    assert page["Location"] == url(invitation)


# --- Unsubscribe -----------------------------------------------------------------------------


def test_unsubscribe_confirm_and_resubscribe(client):
    invitation = InvitationFactory()
    done = client.post(url(invitation, "unsubscribe"), {"action": "unsubscribe"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    assert Contact.objects.get().unsubscribed_at is not None
    back = client.post(url(invitation, "unsubscribe"), {"action": "resubscribe"})
    assert "You are subscribed again. Thank you!" in back.content.decode()
    assert "Unsubscribe from these surveys?" in back.content.decode()
    assert Contact.objects.get().unsubscribed_at is None


def test_one_click_unsubscribe_needs_no_cookie_or_csrf(settings):
    from django.test import Client

    invitation = InvitationFactory()
    strict = Client(enforce_csrf_checks=True)
    result = strict.post(
        url(invitation, "unsubscribe_one_click"),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert result.status_code == 200
    assert Contact.objects.get().unsubscribed_at is not None


# --- Rate limits -----------------------------------------------------------------------------


def test_per_token_rate_limit_shows_a_friendly_429(client, settings):
    settings.PUBLIC_POST_RATE_PER_TOKEN = "2/m"
    invitation = InvitationFactory()
    assert client.post(url(invitation), {"score": "1"}).status_code == 302
    assert client.post(url(invitation), {"score": "2"}).status_code == 302
    limited = client.post(url(invitation), {"score": "3"})
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    html = limited.content.decode()
    assert "Too many attempts. Please wait a minute and try again." in html
    assert Response.objects.get().score == 2
    # Another token from the same address is not affected by this token's limit.
    other = InvitationFactory()
    assert client.post(url(other), {"score": "9"}).status_code == 302


def test_per_ip_rate_limit_covers_every_public_post(client, settings):
    settings.PUBLIC_POST_RATE_PER_IP = "2/m"
    first, second, third = InvitationFactory.create_batch(3)
    assert client.post(url(first), {"score": "1"}).status_code == 302
    assert client.post(url(second, "unsubscribe"), {"action": "unsubscribe"}).status_code == 200
    assert client.post(url(third), {"score": "1"}).status_code == 429
    assert client.post(url(third, "unsubscribe_one_click")).status_code == 429
    assert fetch(client, third, {"score": "1", "via": "tap"}).json() == {
        "error": "Too many attempts. Please wait a minute and try again."
    }
    assert Response.objects.count() == 1
    assert Contact.objects.filter(unsubscribed_at__isnull=False).count() == 1


# --- Weight, policy, accessibility markup ----------------------------------------------------


def test_answer_page_is_light_and_self_contained(client):
    from django.contrib.staticfiles import finders

    invitation = InvitationFactory()
    page = client.get(url(invitation) + "?score=9")
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert sorted(assets) == ["/static/public/answer.js", "/static/public/survey.css"]
    total = len(page.content) + sum(
        len(open(finders.find(a.removeprefix("/static/")), "rb").read()) for a in assets
    )
    assert total < 60 * 1024
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html)
    csp = page["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert page["Cache-Control"].startswith("max-age=0")


def test_scale_is_a_labelled_radio_group(client):
    invitation = InvitationFactory(survey=CsatSurveyFactory())
    html = client.get(url(invitation)).content.decode()
    assert 'role="radiogroup" aria-labelledby="question"' in html
    labels = re.findall(r'<label for="id_score_\d">.*?<span><b>(\d)</b> ([^<]+)</span>', html)
    assert labels == [
        ("1", "Very unsatisfied"),
        ("2", "Unsatisfied"),
        ("3", "Neutral"),
        ("4", "Satisfied"),
        ("5", "Very satisfied"),
    ]


def test_logo_is_shown_on_the_page_only_when_served_by_this_site(client):
    remote = InvitationFactory(survey=SurveyFactory(logo_url="https://cdn.example.net/logo.png"))
    assert "cdn.example.net" not in client.get(url(remote)).content.decode()
    local = InvitationFactory(survey=SurveyFactory(logo_url="/static/brand/logo.png"))
    assert 'src="/static/brand/logo.png"' in client.get(url(local)).content.decode()


def test_staff_translations_of_intro_prompts_and_reasons(client):
    survey = SurveyFactory(
        intro_text="Thanks for flying with us.",
        follow_up_negative="What went wrong?",
        reason_question="What mattered most?",
        reason_options="Price\nSupport",
        text_translations={
            "es": {
                "intro_text": "Gracias por volar con nosotros.",
                "follow_up_negative": "¿Qué salió mal?",
                "reason_question": "¿Qué fue lo más importante?",
                "reason_options": "Precio\nSoporte",
            }
        },
    )
    spanish = InvitationFactory(survey=survey, contact=ContactFactory(language="es"))
    html = client.get(url(spanish) + "?score=2").content.decode()
    assert "Gracias por volar con nosotros." in html
    assert '<span id="prompt">¿Qué salió mal?</span>' in html
    assert "¿Qué fue lo más importante?" in html
    assert re.findall(r'name="reason" id="[^"]+" value="([^"]+)"> ([^<]+)</label>', html) == [
        ("Price", "Precio"),
        ("Support", "Soporte"),
    ]
    client.post(url(spanish), {"score": "2", "reason": "Support"})
    assert Response.objects.get().reason == "Support"  # stored as staff wrote it
    thanks = client.get(url(spanish, "thanks")).content.decode()
    assert "Motivo principal: Soporte" in thanks
    english = InvitationFactory(survey=survey, contact=ContactFactory(language="en"))
    html = client.get(url(english) + "?score=2").content.decode()
    assert "Thanks for flying with us." in html
    assert '<span id="prompt">What went wrong?</span>' in html


def test_reason_translation_with_another_count_falls_back_to_the_original():
    survey = SurveyFactory.build(
        reason_options="Price\nSupport", text_translations={"es": {"reason_options": "Precio"}}
    )
    assert survey.reason_labels("es") == [("Price", "Price"), ("Support", "Support")]


def test_respondent_pages_set_no_cookie_and_take_posts_without_one():
    """The token is the credential: a browser that refuses cookies can still answer."""
    from django.test import Client

    invitation = InvitationFactory(survey=SurveyFactory(referral_enabled=True))
    strict = Client(enforce_csrf_checks=True)
    page = strict.get(url(invitation) + "?score=10")
    assert page.status_code == 200
    assert page.cookies == {}
    assert "csrfmiddlewaretoken" not in page.content.decode()
    assert strict.post(url(invitation), {"score": "10"}).status_code == 302
    assert strict.get(url(invitation, "thanks")).cookies == {}
    referred = strict.post(url(invitation, "referral"), {"name": "Ana", "email": "ana@example.com"})
    assert referred.status_code == 302
    assert strict.post(url(invitation, "unsubscribe")).status_code == 200
    assert Response.objects.get().score == 10
    assert Referral.objects.get().email == "ana@example.com"
    assert Contact.objects.get().unsubscribed_at is not None


def test_staff_form_without_csrf_cookie_shows_a_friendly_page(settings):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    page = strict.post(
        reverse("admin:login"), {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="es"
    )
    assert page.status_code == 403
    html = page.content.decode()
    assert "<h1>Inténtelo de nuevo</h1>" in html
    assert f'href="{reverse("admin:login")}"' in html


def test_rate_parsing_and_client_address(rf, settings):
    from surveys import ratelimits

    assert ratelimits.parse_rate("120/m") == (120, 60)
    assert ratelimits.parse_rate("5/10s") == (5, 10)
    assert ratelimits.parse_rate("1000/h") == (1000, 3600)
    request = rf.post("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert ratelimits.client_ip(request) == "10.0.0.9"
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_FORWARDED_FOR"
    # The first entry is whatever the client sent; the last is what our proxy saw.
    assert ratelimits.client_ip(request) == "203.0.113.7"


def test_rate_limit_counts_each_value_separately():
    from surveys import ratelimits

    for _ in range(3):
        assert ratelimits.hit([("g", "a", "3/m"), ("h", "b", "100/m")]) is False
    assert ratelimits.hit([("g", "a", "3/m"), ("h", "b", "100/m")]) is True
    assert ratelimits.hit([("g", "other", "3/m")]) is False


@pytest.mark.parametrize(
    ("user_agent", "scanner"),
    [
        ("Mozilla/5.0 (compatible; Microsoft Safe Links)", True),
        ("Mimecast URL protect", True),
        ("Proofpoint URL Defense", True),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0 Safari/537.36", True),
        ("python-requests/2.32.3", True),
        ("curl/8.5.0", True),
        ("Mozilla/5.0 (compatible; Some Link Bot/1.0)", True),
        ("TREND MICRO web reputation", True),
        ("Mozilla/5.0 (Linux; Android 13; Cubot KingKong) Mobile Safari/537.36", False),
        (BROWSER_UA, False),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36 Edg/126.0", False),
        ("", False),
    ],
)
def test_known_scanner_user_agents(user_agent, scanner):
    from surveys.scanners import is_scanner_user_agent

    assert is_scanner_user_agent(user_agent) is scanner
