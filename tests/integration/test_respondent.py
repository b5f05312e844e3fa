"""The respondent experience on the real stack: email from the SMTP server, headless Chromium,
PostgreSQL row locks, rate limits in Redis."""

import re
import threading
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts.models import Contact
from surveys.distribution import planning
from surveys.models import Invitation, Response
from tests.factories import ContactFactory, CsatSurveyFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.integration

BROWSER_UA = (
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


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if attrs.get("src"):
            self.srcs.append(attrs["src"])


def _score_links(message) -> dict[int, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    pattern = re.compile(r"^(\d+)(?: \([^)]*\))?: (\S+)$")
    matches = (pattern.match(line.strip()) for line in text.splitlines())
    return {int(m.group(1)): m.group(2) for m in matches if m}


def _all_links(message, base_url: str) -> set[str]:
    """Every link a scanner would fetch: the HTML part, the text part and the headers."""
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    parser = _Links()
    parser.feed(html)
    links = {href for href in parser.hrefs if href.startswith(base_url)}
    links |= set(re.findall(re.escape(base_url) + r"\S+", text))
    links.add(str(message["List-Unsubscribe"]).strip().strip("<>"))
    return links


def _invite(survey, contact) -> Invitation:
    invitation, created = planning.create_invitation(survey=survey, contact=contact)
    assert created
    return invitation


def _wait_for(predicate, page, timeout_ms=8000):
    """Poll the database while the browser runs (no sleeping on a guess)."""
    waited = 0
    while waited < timeout_ms:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
        waited += 100
    raise AssertionError("condition not met in time")


def test_answer_from_the_email_in_three_languages(live_server, worker, smtp, page):
    survey = SurveyFactory(
        company_name="ACME",
        reason_options="Support\nPrice\nProduct",
        question_translations={"es": "¿Recomendaría ACME a un colega?"},
    )
    people = {
        "en": ContactFactory(email="en@example.com", language="en"),
        "pt-br": ContactFactory(email="pt@example.com", language="pt-br"),
        "es": ContactFactory(email="es@example.com", language="es"),
    }
    invitations = {lang: _invite(survey, contact) for lang, contact in people.items()}
    messages = {str(m["To"]): m for m in smtp.wait_for(3)}
    page.set_viewport_size({"width": 360, "height": 740})

    # English: open the 9 link, tap 10 (saved at once), pick a reason, comment, submit.
    links = _score_links(messages["en@example.com"])
    assert sorted(links) == list(range(11))
    page.goto(links[9])
    assert page.locator("input[name=score][value='9']").is_checked()
    assert Response.objects.count() == 0
    page.locator("label:has(input[name=score][value='10'])").click()
    page.get_by_role("status").filter(has_text="your answer is saved").wait_for()
    tapped = Response.objects.get(invitation=invitations["en"])
    assert (tapped.score, tapped.confirmed_via) == (10, "tap")
    assert page.locator("#prompt").inner_text() == "What did you like most?"
    page.get_by_label("Price").check()
    page.get_by_label("What did you like most?").fill("Fast <b>support</b>")
    # Saved already: the button says so instead of "Confirm my answer".
    page.get_by_role("button", name="Update my answer").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you!"
    assert page.locator("blockquote b").count() == 0
    assert "Fast <b>support</b>" in page.locator("blockquote").inner_text()
    answered = Response.objects.get(invitation=invitations["en"])
    assert (answered.score, answered.reason, answered.comment, answered.confirmed_via) == (
        10,
        "Price",
        "Fast <b>support</b>",
        "submit",
    )

    # Brazilian Portuguese, by keyboard only: arrows move along the radio group.
    links = _score_links(messages["pt@example.com"])
    page.goto(links[5])
    assert page.locator("html").get_attribute("lang") == "pt-br"
    page.locator("input[name=score][value='5']").focus()
    page.keyboard.press("ArrowLeft")
    assert page.locator("input[name=score][value='4']").is_checked()
    page.get_by_role("status").filter(has_text="sua resposta foi salva").wait_for()
    assert page.locator("#prompt").inner_text() == "O que devemos melhorar?"
    page.get_by_label("O que devemos melhorar?").fill("Demorou")
    page.get_by_role("button", name="Atualizar minha resposta").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "Obrigado" in page.content()
    answered = Response.objects.get(invitation=invitations["pt-br"])
    assert (answered.score, answered.comment, answered.confirmed_via) == (4, "Demorou", "submit")

    # Spanish: open the 8 link and read: nothing is saved without a human action. One tap
    # anywhere on the page confirms the score chosen in the email.
    links = _score_links(messages["es@example.com"])
    page.goto(links[8])
    assert page.get_by_role("heading", level=1).inner_text() == "¿Recomendaría ACME a un colega?"
    page.wait_for_timeout(4000)
    assert Response.objects.filter(invitation=invitations["es"]).count() == 0
    page.get_by_role("heading", level=1).click()
    confirmed = _wait_for(
        lambda: Response.objects.filter(invitation=invitations["es"]).first(), page
    )
    assert (confirmed.score, confirmed.confirmed_via) == (8, "page")
    assert page.get_by_role("button", name="Actualizar mi respuesta").is_visible()
    page.get_by_label("¿Qué lo haría aún mejor?").fill("Más integraciones")
    page.get_by_role("button", name="Actualizar mi respuesta").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "¡Gracias!" in page.content()
    answered = Response.objects.get(invitation=invitations["es"])
    assert (answered.score, answered.comment) == (8, "Más integraciones")
    assert Response.objects.count() == 3


def test_answer_page_passes_axe_at_320px_with_no_third_party_requests(live_server, browser):
    from axe_playwright_python.sync_playwright import Axe

    survey = CsatSurveyFactory(reason_options="Speed\nPrice", accent_color="#7a1f5c")
    invitation = InvitationFactory(survey=survey)
    context = browser.new_context(viewport={"width": 320, "height": 640}, user_agent=BROWSER_UA)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sizes = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    try:
        url = f"{live_server.url}/s/{invitation.token}/?score=4"
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert all(u.startswith(live_server.url) for u in requested), requested
        assert sum(sizes) < 60 * 1024
        # Usable at 320 px: nothing scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        # Visible focus on the radio group.
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
        )
        assert outline == "solid"
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        # The thank-you page and the closed page too.
        page.locator("label:has(input[name=score][value='5'])").click()
        page.get_by_role("button").click()
        page.wait_for_url(re.compile(r"/thanks/$"))
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        page.goto(f"{live_server.url}/s/{invitation.token}/unsubscribe/")
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()


def test_a_scanner_fetching_every_link_records_nothing(live_server, worker, smtp):
    survey = SurveyFactory()
    contact = ContactFactory(email="scanned@example.com")
    invitation = _invite(survey, contact)
    [message] = smtp.wait_for(1)
    links = _all_links(message, live_server.url)
    assert len(links) == 13  # 11 scores, the unsubscribe page, the one-click endpoint
    scanner = requests.Session()
    scanner.headers["User-Agent"] = "Mozilla/5.0 (compatible; Mimecast URL protect)"
    statuses = {}
    for link in sorted(links):
        statuses[urlparse(link).path + "?" + urlparse(link).query] = (
            scanner.head(link, allow_redirects=True).status_code,
            scanner.get(link, allow_redirects=True).status_code,
        )
    one_click = f"/s/{invitation.token}/unsubscribe/one-click/?"
    # Opened like a page, the one-click URL shows the confirm page; only its button unsubscribes.
    assert statuses.pop(one_click) == (200, 200)
    assert set(statuses.values()) == {(200, 200)}
    assert Response.objects.count() == 0
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None
    invitation.refresh_from_db()
    assert invitation.answered_at is None
    assert sorted(invitation.link_fetches["scores"]) == list(range(11))
    assert invitation.link_fetches["first"] == "HEAD"


def test_fifty_concurrent_posts_for_one_token_leave_one_response(transactional_db, settings):
    """50 threads, each with its own PostgreSQL connection, POST through the whole stack
    (middleware, rate limits in Redis, view, service) at the same moment."""
    from django.db import connections
    from django.test import Client

    assert connection.vendor == "postgresql"
    settings.PUBLIC_POST_RATE_PER_IP = "10000/m"
    settings.PUBLIC_POST_RATE_PER_TOKEN = "10000/m"
    invitation = InvitationFactory()
    url = f"/s/{invitation.token}/"
    barrier = threading.Barrier(50)
    results = []

    def post(score: int) -> None:
        try:
            client = Client()
            barrier.wait()
            result = client.post(url, {"score": str(score), "comment": f"#{score}"})
            results.append(result.status_code)
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(i % 11,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [302] * 50
    response = Response.objects.get()
    assert response.invitation_id == invitation.pk
    assert response.comment == f"#{response.score}"
    assert Invitation.objects.get(pk=invitation.pk).answered_at is not None


def test_error_states_on_the_real_stack(live_server, settings):
    settings.PUBLIC_POST_RATE_PER_TOKEN = "2/m"
    invitation = InvitationFactory(contact=ContactFactory(language="pt-br"))
    url = f"{live_server.url}/s/{invitation.token}/"
    session = requests.Session()
    assert session.get(url).cookies.keys() == []  # the token is the credential: no cookie

    def post(data):
        return session.post(url, data=data, headers={"Referer": url}, allow_redirects=False)

    bad = post({"score": "11"})
    assert bad.status_code == 400
    assert "Escolha uma nota de 0 a 10." in bad.text
    long = post({"score": "5", "comment": "x" * 5001})
    assert long.status_code == 400
    assert "Seu comentário tem 5001 caracteres; o limite é 5000." in long.text
    limited = post({"score": "5"})
    assert limited.status_code == 429  # the counter lives in Redis, shared by every process
    assert "Muitas tentativas. Aguarde um minuto e tente novamente." in limited.text
    assert Response.objects.count() == 0
    import redis

    counters = redis.Redis.from_url(settings.REDIS_URL)
    [key] = counters.keys("*rl:public-post-token:*")
    assert int(counters.get(key)) == 3
    assert 0 < counters.ttl(key) <= 61

    missing = requests.get(f"{live_server.url}/s/{'x' * 43}/", headers={"Accept-Language": "es"})
    assert missing.status_code == 404
    assert "Página no encontrada" in missing.text

    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)
    closed = requests.get(url)
    assert closed.status_code == 410
    assert "Esta pesquisa foi encerrada" in closed.text

    # One-click unsubscribe: honoured at once, reversible on the confirm page.
    other = InvitationFactory()
    one_click = f"{live_server.url}/s/{other.token}/unsubscribe/one-click/"
    # As mailbox providers send it: a form-encoded RFC 8058 body.
    assert requests.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Contact.objects.get(pk=other.contact_id).unsubscribed_at is not None
    confirm = requests.Session()
    page = confirm.get(f"{live_server.url}/s/{other.token}/unsubscribe/")
    assert "You are unsubscribed" in page.text
    again = confirm.post(
        f"{live_server.url}/s/{other.token}/unsubscribe/",
        data={"action": "resubscribe"},
        headers={"Referer": page.url},
    )
    assert again.status_code == 200
    assert Contact.objects.get(pk=other.contact_id).unsubscribed_at is None
