"""Retention: what the hourly purge deletes, what it keeps, and when."""

import datetime as dt

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Q

from accounts.models import ImportJob
from config import retention
from config.tasks import purge_expired_data
from followups.models import AlertDelivery, WebhookDelivery
from metrics.models import ExportJob
from outcomes.models import StripeEvent
from surveys.models import Invitation
from tests.factories import (
    AlertDeliveryFactory,
    ImportJobFactory,
    InvitationFactory,
    ResponseFactory,
    StripeEventFactory,
    UserFactory,
    WebhookDeliveryFactory,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NOTHING = {
    "webhook_deliveries": 0,
    "alert_deliveries": 0,
    "link_fetch_logs": 0,
    "export_files": 0,
    "import_jobs": 0,
    "stripe_events": 0,
}

pytestmark = pytest.mark.django_db


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def purge() -> dict:
    with time_machine.travel(NOW, tick=False):
        return retention.purge()


def test_finished_webhook_deliveries_go_after_30_days():
    old = [
        WebhookDeliveryFactory(status=status, created_at=days_ago(30.1))
        for status in ("succeeded", "failed", "skipped")
    ]
    kept = [
        WebhookDeliveryFactory(status="succeeded", created_at=days_ago(29.9)),
        WebhookDeliveryFactory(status="pending", created_at=days_ago(60)),
        WebhookDeliveryFactory(status="sending", created_at=days_ago(60)),
    ]
    assert purge() == {**NOTHING, "webhook_deliveries": 3}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in old]).exists()
    assert purge() == NOTHING


def test_a_period_of_zero_keeps_records_forever(settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 0
    WebhookDeliveryFactory(status="succeeded", created_at=days_ago(3000))
    assert purge() == NOTHING
    assert WebhookDelivery.objects.count() == 1


def test_alert_deliveries_go_after_90_days_once_the_answer_can_no_longer_change(settings):
    closed = ResponseFactory(invitation__expires_at=days_ago(1))
    still_open = ResponseFactory(invitation__expires_at=NOW + dt.timedelta(days=5))
    imported = ResponseFactory(
        invitation=None, survey=closed.survey, contact=closed.contact, account=None
    )
    gone = [
        AlertDeliveryFactory(response=closed, created_at=days_ago(91)),
        AlertDeliveryFactory(response=imported, created_at=days_ago(91), status="failed"),
    ]
    kept = [
        AlertDeliveryFactory(response=still_open, created_at=days_ago(91)),
        AlertDeliveryFactory(response=closed, created_at=days_ago(89)),
        AlertDeliveryFactory(response=closed, created_at=days_ago(200), status="pending"),
    ]
    assert purge()["alert_deliveries"] == 2
    assert set(AlertDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not AlertDelivery.objects.filter(pk__in=[d.pk for d in gone]).exists()


def test_link_fetch_logs_are_emptied_30_days_after_the_answer_or_the_expiry():
    fetches = {"get": 2, "head": 11, "first": "HEAD", "scores": list(range(11))}
    answered_long_ago = InvitationFactory(
        link_fetches=fetches, answered_at=days_ago(31), expires_at=days_ago(10)
    )
    expired_unanswered = InvitationFactory(link_fetches=fetches, expires_at=days_ago(31))
    answered_recently = InvitationFactory(
        link_fetches=fetches, answered_at=days_ago(29), expires_at=NOW + dt.timedelta(days=1)
    )
    open_unanswered = InvitationFactory(link_fetches=fetches, expires_at=NOW)
    assert purge()["link_fetch_logs"] == 2
    logs = dict(Invitation.objects.values_list("pk", "link_fetches"))
    assert logs[answered_long_ago.pk] == {}
    assert logs[expired_unanswered.pk] == {}
    assert logs[answered_recently.pk] == fetches
    assert logs[open_unanswered.pk] == fetches
    assert purge()["link_fetch_logs"] == 0


def test_the_link_fetch_purge_reads_the_partial_index():
    """The purge's predicate matches the index's, so it never scans the whole table."""
    cutoff = days_ago(30)
    query = Invitation.objects.filter(~Q(link_fetches={})).filter(
        Q(answered_at__lt=cutoff) | Q(expires_at__lt=cutoff)
    )
    sql, params = query.order_by().values("pk")[:5000].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "invitation_fetches_kept" in plan


def test_finished_export_files_go_when_their_link_expires(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = UserFactory()
    name = default_storage.save("exports/old.csv", ContentFile(b"a,b\n"))
    expired = ExportJob.objects.create(
        requested_by=user, format="csv", status="done", file=name, expires_at=days_ago(0.01)
    )
    fresh_name = default_storage.save("exports/new.csv", ContentFile(b"a,b\n"))
    ExportJob.objects.create(
        requested_by=user,
        format="csv",
        status="done",
        file=fresh_name,
        expires_at=NOW + dt.timedelta(hours=1),
    )
    assert purge()["export_files"] == 1
    assert not default_storage.exists(name)
    assert default_storage.exists(fresh_name)
    expired.refresh_from_db()
    assert expired.file.name == ""  # the row stays as history


def test_finished_import_jobs_go_after_30_days_with_any_leftover_upload(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    left_over = default_storage.save("imports/left.csv", ContentFile(b"email\n"))
    old = [
        ImportJobFactory(finished_at=days_ago(31), upload=left_over),
        ImportJobFactory(finished_at=days_ago(31), status="failed"),
    ]
    kept = [
        ImportJobFactory(finished_at=days_ago(29)),
        ImportJobFactory(status="running", started_at=days_ago(31)),
    ]
    assert purge()["import_jobs"] == 2
    assert set(ImportJob.objects.values_list("pk", flat=True)) == {j.pk for j in kept}
    assert not ImportJob.objects.filter(pk__in=[j.pk for j in old]).exists()
    assert not default_storage.exists(left_over)


def test_applied_stripe_events_go_after_90_days_the_others_stay():
    with time_machine.travel(days_ago(91), tick=False):
        applied = [
            StripeEventFactory(status=status, processed_at=days_ago(91))
            for status in ("processed", "superseded")
        ] + [StripeEventFactory(status="ignored")]
        waiting = [
            StripeEventFactory(status=status) for status in ("pending", "unmatched", "failed")
        ]
    with time_machine.travel(days_ago(89), tick=False):
        recent = StripeEventFactory(status="processed", processed_at=days_ago(89))
    assert purge()["stripe_events"] == 3
    assert set(StripeEvent.objects.values_list("pk", flat=True)) == {
        e.pk for e in [*waiting, recent]
    }
    assert not StripeEvent.objects.filter(pk__in=[e.pk for e in applied]).exists()


def test_deletes_are_batched_and_finish_over_later_runs(monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    for _ in range(5):
        WebhookDeliveryFactory(status="succeeded", created_at=days_ago(40))
    assert purge()["webhook_deliveries"] == 4
    assert purge()["webhook_deliveries"] == 1
    assert WebhookDelivery.objects.count() == 0


def test_the_beat_task_runs_the_purge(settings):
    WebhookDeliveryFactory(status="succeeded", created_at=days_ago(40))
    assert settings.CELERY_BEAT_SCHEDULE["purge-expired-data"] == {
        "task": "config.tasks.purge_expired_data",
        "schedule": 3600.0,
    }
    with time_machine.travel(NOW, tick=False):
        result = purge_expired_data.delay().result
    assert result == {**NOTHING, "webhook_deliveries": 1}
