"""Every staff page in headless Chromium: 0 serious or critical axe-core findings at 1280 px,
and nothing wider than a 375 px phone screen."""

import pytest
from django.core.management import call_command

from accounts.roles import ADMINISTRATORS
from followups import services as followup_services
from metrics.models import ExportJob
from surveys.models import Response, Survey
from tests.factories import StaffFactory

pytestmark = pytest.mark.integration

SERIOUS = {"serious", "critical"}


@pytest.fixture
def staff_pages(live_server, client):
    """The demo data, a staff administrator signed in, and the URL of each staff page."""
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_revenue", verbosity=0)
    call_command("seed_demo_support", verbosity=0)
    user = StaffFactory(username="admin-a11y", role=ADMINISTRATORS, is_superuser=True)
    client.force_login(user)
    response = Response.objects.filter(category=-1).order_by("pk").first()
    followup_services.ensure_followup(response=response)
    survey = Survey.objects.order_by("pk").first()
    job = ExportJob.objects.create(requested_by=user, format="csv", filters={})
    pages = {
        "reports": "/reports/",
        "revenue": "/reports/revenue/",
        "support": "/reports/support/",
        "adoption": "/reports/adoption/",
        "accounts": "/reports/accounts/",
        "account": f"/reports/accounts/{response.account.external_id}/",
        "followups": "/followups/?scope=all",
        "followup": f"/followups/{response.public_id}/",
        "exports": "/reports/exports/",
        "export": f"/reports/exports/{job.public_id}/",
        "distribution": "/distribution/",
        "distribution-survey": f"/distribution/{survey.slug}/",
        "imports": "/admin/accounts/contact/import/",
        "admin": "/admin/",
        "changelist": "/admin/surveys/survey/",
        "change-form": f"/admin/surveys/survey/{survey.pk}/change/",
        "api-docs": "/api/docs/",
        "outbox": "/dev/outbox/",
        "profile": "/profile/",
    }
    cookie = {
        "name": "sessionid",
        "value": client.cookies["sessionid"].value,
        "url": live_server.url,
    }
    return live_server.url, cookie, pages


def _context(browser, cookie, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.add_cookies([cookie])
    return context


def test_every_staff_page_passes_axe(browser, staff_pages):
    from axe_playwright_python.sync_playwright import Axe

    base, cookie, pages = staff_pages
    context = _context(browser, cookie, 1280)
    page = context.new_page()
    found = {}
    try:
        for name, path in pages.items():
            reply = page.goto(base + path)
            assert reply.status == 200, (name, reply.status)
            page.wait_for_load_state("networkidle")
            results = Axe().run(page)
            serious = [
                f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
                for v in results.response["violations"]
                if v["impact"] in SERIOUS
            ]
            if serious:
                found[name] = serious
    finally:
        context.close()
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_every_staff_page_fits_a_phone(browser, staff_pages):
    base, cookie, pages = staff_pages
    context = _context(browser, cookie, 375)
    page = context.new_page()
    too_wide = {}
    try:
        for name, path in pages.items():
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 375:
                too_wide[name] = width
    finally:
        context.close()
    assert too_wide == {}, too_wide
