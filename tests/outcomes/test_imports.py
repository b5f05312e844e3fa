"""The ledger CSV import: every row checked first, all or nothing, idempotent, admin page."""

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.imports import ImportFileError
from accounts.models import Account
from outcomes import imports
from outcomes.models import SubscriptionEvent
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "subscription_events.csv"


def test_sample_file_imports_and_reimport_adds_nothing():
    source = SAMPLE.read_bytes()
    preview = imports.import_events(source=source, dry_run=True)
    assert preview.ok and preview.counts["events_added"] == 4
    assert SubscriptionEvent.objects.count() == 0
    result = imports.import_events(source=source)
    assert result.applied and SubscriptionEvent.objects.count() == 4
    acme = Account.objects.get(external_id="acme")
    assert (acme.mrr, acme.plan, acme.renewal_date) == (D("1200.00"), "Pro", dt.date(2026, 1, 1))
    globex = Account.objects.get(external_id="globex")
    assert globex.status == "churned"  # 1.300,00 EUR, then 0
    event = SubscriptionEvent.objects.get(external_id="acme-2025-02")
    assert event.effective_at == dt.datetime(2025, 2, 10, 12, 30, tzinfo=dt.UTC)
    assert SubscriptionEvent.objects.get(external_id="globex-2025-01").mrr == D("1300.00")
    again = imports.import_events(source=source)
    assert again.counts == {"events_added": 0, "events_already_imported": 4}
    assert SubscriptionEvent.objects.count() == 4


def test_dates_without_offset_are_read_in_the_given_zone():
    source = b"account,external_id,effective_at,mrr,currency\nacme,e1,2025-03-01,10,USD\n"
    from zoneinfo import ZoneInfo

    imports.import_events(source=source, tz=ZoneInfo("America/Sao_Paulo"))
    assert SubscriptionEvent.objects.get().effective_at == dt.datetime(2025, 3, 1, 3, tzinfo=dt.UTC)


def test_every_bad_row_is_listed_and_nothing_is_written():
    source = (
        b"account,external_id,effective_at,mrr,currency\n"
        b"acme,e1,2025-01-01,100,USD\n"
        b"acme,e2,not a date,100,USD\n"
        b"acme,e3,2025-01-01,-1,USD\n"
        b"acme,e4,2025-01-01,10,XYZ\n"
        b"acme,e1,2025-02-01,10,USD\n"
        b"acme,e5,2025-01-01\n"
    )
    result = imports.import_events(source=source)
    assert [(e.line, e.reason.split(":")[0]) for e in result.errors] == [
        (3, "effective_at"),
        (4, "mrr"),
        (5, "currency"),
        (6, "Event e1 already appears on line 2."),
        (7, "3 cells where the header has 5."),
    ]
    assert SubscriptionEvent.objects.count() == 0 and Account.objects.count() == 0


def test_bad_header_is_a_file_error():
    with pytest.raises(ImportFileError, match="missing: currency"):
        imports.import_events(source=b"account,external_id,effective_at,mrr\n")
    with pytest.raises(ImportFileError, match="unknown: colour"):
        imports.import_events(source=b"account,external_id,effective_at,mrr,currency,colour\n")


def test_command(capsys):
    call_command("import_subscription_events", str(SAMPLE), "--dry-run")
    assert SubscriptionEvent.objects.count() == 0
    call_command("import_subscription_events", str(SAMPLE))
    assert SubscriptionEvent.objects.count() == 4
    with pytest.raises(CommandError, match="Unknown time zone"):
        call_command("import_subscription_events", str(SAMPLE), "--tz", "Nowhere/City")


def test_admin_import_page_and_read_only_ledger(client):
    client.force_login(StaffFactory(role="CS staff"))
    url = "/admin/outcomes/subscriptionevent/import/"
    with SAMPLE.open("rb") as handle:
        response = client.post(url, {"file": handle, "dry_run": "on"})
    assert response.status_code == 200 and b"import-preview" in response.content
    with SAMPLE.open("rb") as handle:
        response = client.post(url, {"file": handle})
    assert response.status_code == 302
    event = SubscriptionEvent.objects.first()
    change = client.get(f"/admin/outcomes/subscriptionevent/{event.pk}/change/")
    assert change.status_code == 200 and b'name="mrr"' not in change.content
    assert client.post(f"/admin/outcomes/subscriptionevent/{event.pk}/delete/").status_code == 403
    client.force_login(StaffFactory(role="Marketing"))
    assert client.get(url).status_code == 403
