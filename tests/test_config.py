from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from accounts.roles import CS_STAFF
from surveys.models import Invitation, Response, Survey
from tests.factories import InvitationFactory, ResponseFactory, SurveyFactory


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_reports_an_unreachable_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")


@pytest.mark.role(CS_STAFF)
@pytest.mark.django_db
def test_outbox_backend_keeps_messages_browsable_by_staff(settings, staff_client):
    settings.EMAIL_BACKEND = "config.outbox.OutboxEmailBackend"
    settings.OUTBOX_BROWSABLE = True
    from surveys.distribution import sending

    invitation = InvitationFactory(status=Invitation.Status.QUEUED)
    sending.send_invitation(invitation_id=invitation.pk)
    files = list(Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml"))
    assert len(files) == 1

    from django.test import Client

    assert Client().get("/dev/outbox/").status_code == 302  # login first
    listing = staff_client.get("/dev/outbox/").content.decode()
    assert "How likely are you to recommend ACME" in listing
    detail = staff_client.get(f"/dev/outbox/{files[0].stem}/").content.decode()
    assert f"/s/{invitation.token}/?score=10" in detail
    html = staff_client.get(f"/dev/outbox/{files[0].stem}/html")
    assert "sandbox" in html["Content-Security-Policy"]
    assert staff_client.get("/dev/outbox/../../etc/").status_code == 404


@pytest.mark.role(CS_STAFF)
@pytest.mark.django_db
def test_outbox_is_hidden_when_a_real_backend_is_configured(settings, staff_client):
    settings.OUTBOX_BROWSABLE = False
    assert staff_client.get("/dev/outbox/").status_code == 404


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    counts = (Survey.objects.count(), Invitation.objects.count(), Response.objects.count())
    call_command("seed_demo")
    assert (Survey.objects.count(), Invitation.objects.count(), Response.objects.count()) == counts
    assert counts[0] == 3
    assert sorted(Survey.objects.values_list("kind", flat=True)) == ["ces", "csat", "nps"]
    assert counts[2] > 300
    out = capsys.readouterr().out
    assert "Staff login: demo / " in out
    assert mail.outbox == []
    _the_demo_covers_support_adoption_and_health()


def _the_demo_covers_support_adoption_and_health():
    """Demo outcomes follow the demo answers: detractors resolve less on first contact, CSAT
    falls with slower first replies, and there is a health history to backtest."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from metrics import support_selectors
    from metrics.models import HealthSnapshot
    from outcomes.models import Onboarding, Ticket, UsageRecord

    assert Ticket.objects.filter(source="demo").count() > 1000
    assert UsageRecord.objects.count() > 10000 and Onboarding.objects.count() > 50
    today = timezone.localdate()
    days = set(HealthSnapshot.objects.values_list("day", flat=True))
    assert today in days and today - dt.timedelta(days=180) in days
    year = support_selectors.SupportFilters(
        today - dt.timedelta(days=365), today + dt.timedelta(days=1), ZoneInfo("UTC")
    )
    buckets = dict(support_selectors.csat_by_ticket(filters=year)["reply_bucket"])
    assert buckets["under_1h"]["pct"] > buckets["4h_24h"]["pct"]
    fcr = {}
    for category in (1, -1):
        accounts = Response.objects.filter(survey__kind="nps", category=category).values("account")
        tickets = Ticket.objects.filter(account__in=accounts, solved_at__isnull=False)
        fcr[category] = tickets.filter(agent_replies__lte=1, reopens=0).count() / tickets.count()
    assert fcr[-1] < fcr[1]


@pytest.mark.django_db
def test_reports_need_a_staff_login(client):
    assert client.get("/reports/").status_code == 302
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=False))
    # Signed in without the reports permission: 403, not a loop back to the login page.
    assert client.get("/reports/").status_code == 403


@pytest.mark.django_db
def test_reports_show_nps_with_interval_and_monthly_trend(
    staff_client, django_assert_max_num_queries
):
    survey = SurveyFactory(name="Relational")
    for score in [10, 9, 8, 6]:
        ResponseFactory(invitation__survey=survey, score=score)
    with django_assert_max_num_queries(30):
        page = staff_client.get("/reports/", {"survey": survey.slug})
    html = page.content.decode()
    assert page.status_code == 200
    # NPS = 50% promoters - 25% detractors over n = 4, in the trend table with its interval.
    assert "<td>25.0</td>" in html
    assert "95%" in html


@pytest.mark.django_db
def test_drf_create_token_prints_a_key(capsys):
    from tests.factories import StaffFactory

    StaffFactory(username="integrator")
    call_command("drf_create_token", "integrator")
    assert "Generated token" in capsys.readouterr().out
