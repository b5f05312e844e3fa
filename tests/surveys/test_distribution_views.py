"""Staff side of distribution: the status page, admin actions and the ESP tracking webhook."""

import base64
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import CS_STAFF
from surveys.models import Campaign, Invitation, Survey
from tests.factories import AccountFactory, ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

Status = Invitation.Status
Reason = Invitation.Reason


def _counts_fixture(survey: Survey) -> None:
    now = timezone.now()
    InvitationFactory.create_batch(3, survey=survey, status=Status.SENT)
    InvitationFactory(survey=survey, status=Status.SENT, answered_at=now)
    InvitationFactory(survey=survey, status=Status.SENT, expires_at=now - timedelta(days=1))
    InvitationFactory.create_batch(2, survey=survey, status=Status.QUEUED, sent_at=None)
    InvitationFactory(survey=survey, status=Status.FAILED, sent_at=None, last_error="550")
    InvitationFactory(
        survey=survey, status=Status.SUPPRESSED, suppression_reason=Reason.THROTTLED, sent_at=None
    )
    InvitationFactory(
        survey=survey, status=Status.SUPPRESSED, suppression_reason=Reason.ACCOUNT_CAP, sent_at=None
    )
    InvitationFactory(status=Status.QUEUED)  # another survey: not counted


def test_status_page_counts_by_status_and_reason_and_refreshes_while_sending(
    staff_client, django_assert_max_num_queries
):
    survey = SurveyFactory(slug="pulse", name="Pulse")
    _counts_fixture(survey)

    with django_assert_max_num_queries(8):
        response = staff_client.get("/distribution/pulse/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-poll="?format=json"' in html  # the counts follow without a reload
    assert 'id="count-sent">5<' in html
    assert 'id="count-queued">2<' in html
    assert 'id="count-failed">1<' in html
    assert 'id="count-suppressed">2<' in html
    assert 'id="count-answered">1<' in html
    assert 'id="count-expired">1<' in html
    # The statuses add up to the total (3 + 1 + 1 sent, 2 queued, 1 failed, 2 suppressed = 10);
    # answered and expired unanswered are parts of the sent, in their own table.
    statuses = re.findall(r'<table class="table table-sm" id="by-status">(.*?)</table>', html, re.S)
    numbers = [
        int(n) for n in re.findall(r'class="text-end" id="count-[\w-]+">(\d+)<', statuses[0])
    ]
    assert numbers[-1] == 10
    assert sum(numbers[:-1]) == 10
    assert "8 of 10 settled" in html
    assert 'style="width: 80%"' in html


def test_status_json_gives_the_same_counts(staff_client):
    survey = SurveyFactory(slug="pulse")
    _counts_fixture(survey)

    data = staff_client.get("/distribution/pulse/?format=json").json()

    assert data["total"] == 10
    assert (data["sent"], data["queued"], data["failed"], data["suppressed"]) == (5, 2, 1, 2)
    assert data["suppressed_by_reason"]["throttled"] == 1
    assert data["suppressed_by_reason"]["account_cap"] == 1
    assert data["suppressed_by_reason"]["unsubscribed"] == 0
    assert (data["pending"], data["percent_done"], data["expired"]) == (2, 80, 1)


def test_status_page_per_campaign_and_no_refresh_when_done(staff_client):
    survey = SurveyFactory(slug="pulse")
    campaign = Campaign.objects.create(survey=survey, name="Q2")
    InvitationFactory.create_batch(2, survey=survey, campaign=campaign, status=Status.SENT)
    InvitationFactory(survey=survey, status=Status.QUEUED)

    response = staff_client.get(f"/distribution/pulse/?campaign={campaign.pk}")

    html = response.content.decode()
    assert 'id="count-sent">2<' in html
    assert 'id="count-queued">0<' in html
    assert "data-poll" not in html
    assert staff_client.get(f"/distribution/other/?campaign={campaign.pk}").status_code == 404
    other = Campaign.objects.create(survey=SurveyFactory(), name="Other")
    assert staff_client.get(f"/distribution/pulse/?campaign={other.pk}").status_code == 404


def test_status_pages_need_staff(client):
    SurveyFactory(slug="pulse")
    for url in ("/distribution/", "/distribution/pulse/", "/distribution/pulse/?format=json"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_index_lists_surveys_and_campaigns(staff_client):
    survey = SurveyFactory(name="Relational NPS", relational=True, cadence_days=90, paused=True)
    Campaign.objects.create(survey=survey, name="Launch week")
    html = staff_client.get("/distribution/").content.decode()
    assert "Relational NPS" in html
    assert "every 90 days" in html
    assert "paused" in html
    assert "Launch week" in html


# --- Admin actions --------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(user)
    return client


def test_admin_pause_and_resume(admin_client, django_capture_on_commit_callbacks, mailoutbox):
    survey = SurveyFactory()
    queued = InvitationFactory(survey=survey, status=Status.QUEUED, sent_at=None)
    url = "/admin/surveys/survey/"

    admin_client.post(url, {"action": "pause_surveys", "_selected_action": [survey.pk]})
    survey.refresh_from_db()
    assert survey.paused is True

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resume_surveys", "_selected_action": [survey.pk]})
    survey.refresh_from_db()
    queued.refresh_from_db()
    assert survey.paused is False
    assert queued.status == Status.SENT
    assert len(mailoutbox) == 1


def test_admin_resend_failed_only_touches_failed(
    admin_client, django_capture_on_commit_callbacks, mailoutbox
):
    failed = InvitationFactory(status=Status.FAILED, sent_at=None, attempts=6, last_error="x")
    sent = InvitationFactory(status=Status.SENT, send_count=1)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/surveys/invitation/",
            {"action": "resend_failed", "_selected_action": [failed.pk, sent.pk]},
        )

    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.send_count) == (Status.SENT, 1)
    assert sent.send_count == 1
    assert [m.to for m in mailoutbox] == [[failed.contact.email]]


def test_admin_launch_shows_a_preview_then_launches(
    admin_client, django_capture_on_commit_callbacks, mailoutbox
):
    survey = SurveyFactory()
    account = AccountFactory()
    ContactFactory.create_batch(3, account=account)
    ContactFactory(account=account, bounced_at=timezone.now())
    campaign = Campaign.objects.create(survey=survey, name="Pulse")
    url = "/admin/surveys/campaign/"

    preview = admin_client.post(
        url, {"action": "launch_campaigns", "_selected_action": [campaign.pk]}
    )

    assert preview.status_code == 200
    html = preview.content.decode()
    assert f'id="preview-queued-{campaign.pk}">3<' in html
    assert "Suppressed: Bounced" in html
    assert Invitation.objects.count() == 0
    assert mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            url,
            {"action": "launch_campaigns", "_selected_action": [campaign.pk], "confirm": "yes"},
        )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LAUNCHED
    assert campaign.planned_count == 4
    assert len(mailoutbox) == 3
    assert Invitation.objects.filter(suppression_reason=Reason.BOUNCED).count() == 1


def test_admin_launch_refuses_a_launched_campaign(admin_client):
    campaign = Campaign.objects.create(
        survey=SurveyFactory(), name="Done", status=Campaign.Status.LAUNCHED
    )
    response = admin_client.post(
        "/admin/surveys/campaign/",
        {"action": "launch_campaigns", "_selected_action": [campaign.pk], "confirm": "yes"},
        follow=True,
    )
    assert "Only draft campaigns can be launched." in response.content.decode()
    assert Invitation.objects.count() == 0


def test_campaign_with_an_unknown_account_status_is_rejected(admin_client):
    survey = SurveyFactory()
    response = admin_client.post(
        "/admin/surveys/campaign/add/",
        {"survey": survey.pk, "name": "Bad", "audience_account_statuses": "active,gold"},
    )
    assert response.status_code == 200
    assert "Unknown account status: gold." in response.content.decode()
    assert Campaign.objects.count() == 0


# --- The ESP tracking webhook ---------------------------------------------------------------


def test_a_postmark_hard_bounce_suppresses_the_contact(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret"}
    contact = ContactFactory(email="gone@example.com")
    waiting = InvitationFactory(contact=contact, status=Status.QUEUED, sent_at=None)
    auth = "Basic " + base64.b64encode(b"hook:secret").decode()

    response = client.post(
        "/anymail/postmark/tracking/",
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": "gone@example.com",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Description": "The server was unable to deliver your message",
            "BouncedAt": "2026-11-05T16:33:54Z",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    waiting.refresh_from_db()
    assert contact.bounced_at is not None
    assert (waiting.status, waiting.suppression_reason) == (Status.SUPPRESSED, Reason.BOUNCED)


def test_the_webhook_rejects_wrong_credentials_and_changes_nothing(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret"}
    contact = ContactFactory(email="gone@example.com")
    auth = "Basic " + base64.b64encode(b"hook:wrong").decode()
    response = client.post(
        "/anymail/postmark/tracking/",
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": "gone@example.com"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.bounced_at is None


# --- API ------------------------------------------------------------------------------------


@pytest.mark.role(CS_STAFF)
def test_the_api_sets_and_returns_distribution_settings(api_client):
    response = api_client.post(
        "/api/v1/surveys",
        {
            "name": "After ticket",
            "slug": "after-ticket",
            "kind": "csat",
            "send_delay_minutes": 120,
            "reminder_days": None,
            "throttle_days": 0,
            "relational": False,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["send_delay_minutes"], body["reminder_days"], body["throttle_days"]) == (
        120,
        None,
        0,
    )
    assert body["audience_account_statuses"] == "active"
    survey = Survey.objects.get(slug="after-ticket")
    assert (survey.send_delay_minutes, survey.reminder_days) == (120, None)


@pytest.mark.role(CS_STAFF)
def test_the_api_rejects_an_unknown_audience_status_and_writes_nothing(api_client):
    response = api_client.post(
        "/api/v1/surveys",
        {"name": "Rel", "slug": "rel", "relational": True, "audience_account_statuses": "gold"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"audience_account_statuses": ["Unknown account status: gold."]}
    assert not Survey.objects.filter(slug="rel").exists()


def test_status_page_warns_of_texts_without_a_translation(staff_client):
    SurveyFactory(
        slug="intl",
        intro_text="Thanks for being with us.",
        text_translations={"es": {"intro_text": "Gracias por estar con nosotros."}},
    )
    html = staff_client.get("/distribution/intl/").content.decode()
    assert 'id="missing-translations"' in html
    assert "<strong>pt-br</strong>: intro text" in html
    assert "<strong>es</strong>" not in html
    SurveyFactory(slug="plain")  # standard wordings only: always translated
    assert (
        'id="missing-translations"' not in staff_client.get("/distribution/plain/").content.decode()
    )
