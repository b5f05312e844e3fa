"""Mail scanners that run JavaScript never answer for people (real Chromium, real emails).

Safe Links "detonation" and similar scanners open every link of a message in a headless
browser and leave the pages open for seconds. The page used to confirm the preselected score
after 3 s on screen, so each scanned email became a counted answer. Now only a human action (a
pointer, touch or key event) saves; a person's single tap still does.
"""

import datetime as dt
import re

import pytest
from django.conf import settings
from django.utils import timezone

from metrics import selectors
from surveys.distribution import planning
from surveys.models import Invitation, Response
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.integration

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Forget public-POST counters (only those: the broker shares this Redis database)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None

    def forget():
        if client is not None:
            keys = list(client.scan_iter(match="*rl:*"))
            if keys:
                client.delete(*keys)

    forget()
    yield
    forget()


def _score_links(message) -> dict[int, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    pattern = re.compile(r"^(\d+)(?: \([^)]*\))?: (\S+)$")
    matches = (pattern.match(line.strip()) for line in text.splitlines())
    return {int(m.group(1)): m.group(2) for m in matches if m}


def _counted(survey) -> int:
    filters = selectors.Filters(period=selectors.Period(None, None, dt.UTC), surveys=(survey.pk,))
    return selectors.score_summary(filters=filters)["n"]


def _wait_for(predicate, page, timeout_ms=8000):
    waited = 0
    while waited < timeout_ms:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
        waited += 100
    raise AssertionError("condition not met in time")


def test_headless_chromium_opening_every_link_adds_no_answer_and_a_tap_still_counts(
    live_server, worker, smtp, browser
):
    survey = SurveyFactory(company_name="ACME")
    people = [ContactFactory(email=f"person{i}@example.com") for i in range(3)]
    for contact in people:
        planning.create_invitation(survey=survey, contact=contact)
    messages = {str(m["To"]): m for m in smtp.wait_for(3)}

    # The scanner: Chromium with its default (headless) user agent opens every score link of
    # every message, each in its own tab, and keeps them open for 6 seconds.
    scanner = browser.new_context()
    posts = []
    scanner.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    try:
        for address in sorted(messages):
            links = _score_links(messages[address])
            assert sorted(links) == list(range(11))
            tabs = []
            for link in links.values():
                tab = scanner.new_page()
                tab.goto(link)
                tabs.append(tab)
            # The script is there and running: it would save at once on a human action.
            assert tabs[0].evaluate("document.getElementById('answer-form').dataset.auto") == "1"
            assert "HeadlessChrome" in tabs[0].evaluate("navigator.userAgent")
            tabs[-1].wait_for_timeout(6000)
            for tab in tabs:
                tab.close()
    finally:
        scanner.close()

    assert posts == []
    assert Response.objects.count() == 0  # not even a quarantined one
    assert _counted(survey) == 0
    assert Invitation.objects.filter(clicked_at__isnull=False).count() == 0

    # A person: one tap in the email (the link of 9), one tap on the page. Every link of this
    # message was fetched by the scanner first, as behind Safe Links; the answer still counts.
    person = browser.new_context(user_agent=PHONE_UA, viewport={"width": 390, "height": 800})
    try:
        page = person.new_page()
        page.goto(_score_links(messages["person0@example.com"])[9])
        assert page.locator("#save-status").inner_text() == (
            "Your answer is not saved yet: confirm it below."
        )
        page.wait_for_timeout(1500)
        assert Response.objects.count() == 0
        page.get_by_role("heading", level=1).click()
        page.get_by_role("status").filter(has_text="your answer is saved").wait_for()
        assert page.get_by_role("button", name="Update my answer").is_visible()
        assert page.get_by_role("button", name="Confirm my answer").count() == 0
        tapped = Response.objects.get()
        assert (tapped.score, tapped.confirmed_via, tapped.quarantined) == (9, "page", False)
        assert tapped.bot_signals["context"] == ["every score link fetched"]

        # Another person taps a different score on the page: saved at once, counted.
        other = person.new_page()
        other.goto(_score_links(messages["person1@example.com"])[3])
        other.locator("label:has(input[name=score][value='10'])").click()
        _wait_for(lambda: Response.objects.filter(score=10).exists(), other)
        assert Response.objects.get(score=10).confirmed_via == "tap"
    finally:
        person.close()

    assert _counted(survey) == 2
    assert Invitation.objects.filter(clicked_at__isnull=False).count() == 0  # answered, no view


def test_arrow_keys_save_once_and_never_trip_the_rate_limit(live_server, browser):
    invitation = InvitationFactory(sent_at=timezone.now() - dt.timedelta(hours=1))
    context = browser.new_context(user_agent=PHONE_UA)
    statuses = []
    context.on(
        "response",
        lambda r: statuses.append(r.status) if r.request.method == "POST" else None,
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{invitation.token}/?score=0")
        page.locator("input[name=score][value='0']").focus()
        for _ in range(10):  # walk along the row, a step every 100 ms
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(100)
        page.get_by_role("status").filter(has_text="your answer is saved").wait_for()
        page.wait_for_timeout(1500)
        assert statuses == [200]  # one save for ten steps
        response = Response.objects.get()
        assert (response.score, response.confirmed_via) == (10, "tap")
        assert page.get_by_role("button", name="Update my answer").is_visible()

        # Typing a long comment with pauses saves a few times, far under 20 a minute.
        box = page.locator("textarea[name=comment]")
        for word in ["Fast", " and", " kind", " support,", " thanks"]:
            box.press_sequentially(word, delay=60)
            page.wait_for_timeout(1700)
        page.wait_for_timeout(5500)
        assert 2 <= len(statuses) <= 4 and set(statuses) == {200}, statuses
        response.refresh_from_db()
        assert response.comment == "Fast and kind support, thanks"
    finally:
        context.close()
