"""CSV imports of tickets and usage: dry run, every bad row listed by line, all or nothing,
idempotent; the commands and the admin pages."""

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.roles import CS_STAFF, MARKETING
from outcomes import ticket_imports, usage_imports
from outcomes.models import Ticket, UsageRecord
from tests.factories import AccountFactory, StaffFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
HEADER = "account,external_id,status,created_at,first_reply_at,solved_at,agent_replies,reopens\n"


def test_the_sample_ticket_file_dry_runs_then_imports_then_changes_nothing():
    sample = (ROOT / "docs/samples/tickets.csv").read_bytes()
    dry = ticket_imports.import_tickets(source=sample, dry_run=True)
    assert dry.ok and not dry.applied
    assert dry.counts == {
        "tickets_created": 4,
        "tickets_updated": 0,
        "tickets_unchanged": 0,
        "accounts_created": 2,
    }
    assert not Ticket.objects.exists()
    done = ticket_imports.import_tickets(source=sample)
    assert done.applied and Ticket.objects.count() == 4
    t3 = Ticket.objects.get(external_id="T-3")
    assert (t3.source, t3.reopens, t3.channel) == ("csv", 1, "web")
    again = ticket_imports.import_tickets(source=sample)
    assert again.counts["tickets_unchanged"] == 4


def test_every_bad_ticket_row_is_listed_and_nothing_is_written():
    text = HEADER + (
        "acme,T1,solved,2026-03-02T09:00:00Z,,2026-03-02T10:00:00Z,1,0\n"  # good
        "acme,T2,solved,2026-03-02T09:00:00Z,,2026-03-02T08:00:00Z,1,0\n"  # solved before
        "acme,T3,open,2026-03-02T09:00:00Z,2026-03-02T08:59:00Z,,1,0\n"  # reply before
        "acme,T4,open,2026-03-02T09:00:00Z,,,-1,0\n"  # negative count
        "acme,T1,open,2026-03-02T09:00:00Z,,,1,0\n"  # T1 again
        "acme,T5,open,not a date,,,1,0\n"
        "acme,T6,solved,2026-03-02T09:00:00Z,,,1,0\n"  # solved without a solve time
    )
    result = ticket_imports.import_tickets(source=text.encode())
    assert [(e.line, e.reason.split(":")[0]) for e in result.errors] == [
        (3, "solved_at"),
        (4, "first_reply_at"),
        (5, "agent_replies"),
        (6, "Ticket T1 already appears on line 2."),
        (7, "created_at"),
        (8, "solved_at"),
    ]
    assert not result.applied
    assert not Ticket.objects.exists()


def test_times_without_an_offset_are_read_in_the_import_time_zone():
    from zoneinfo import ZoneInfo

    text = HEADER + "acme,T1,new,2026-03-02 09:00,,,0,0\n"
    ticket_imports.import_tickets(source=text.encode(), tz=ZoneInfo("America/Sao_Paulo"))
    assert Ticket.objects.get().created_at == dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def test_a_bad_ticket_header_names_the_columns():
    with pytest.raises(ticket_imports.ImportFileError, match="unknown: colour"):
        ticket_imports.import_tickets(source=b"account,external_id,colour\nacme,T1,red\n")


def test_usage_import_with_errors_then_good():
    bad = (
        "account,day,metric,value\n"
        "acme,2026-03-01,active_users,42\n"
        "acme,2026-03-01,active_users,43\n"
        "acme,2026-03-02,events,-5\n"
        "acme,yesterday,events,5\n"
    )
    result = usage_imports.import_usage(source=bad.encode())
    assert [(e.line, e.reason.split(":")[0]) for e in result.errors] == [
        (3, "acme, active_users on 2026-03-01 already appears on line 2."),
        (4, "value"),
        (5, "day"),
    ]
    assert not UsageRecord.objects.exists()
    sample = (ROOT / "docs/samples/usage.csv").read_bytes()
    assert usage_imports.import_usage(source=sample, dry_run=True).counts["values_created"] == 4
    assert not UsageRecord.objects.exists()
    assert usage_imports.import_usage(source=sample).applied
    assert UsageRecord.objects.count() == 4
    assert usage_imports.import_usage(source=sample).counts["values_unchanged"] == 4


def test_decimal_commas_in_usage_values():
    usage_imports.import_usage(
        source=b"account;day;metric;value\nacme;2026-03-01;storage_gb;12,5\n"
    )
    assert UsageRecord.objects.get().value == 12.5


def test_the_commands(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(HEADER + "acme,T1,solved,2026-03-02T09:00:00Z,,2026-03-02T08:00:00Z,1,0\n")
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_tickets", str(path), stderr=StringIO())
    out = StringIO()
    call_command("import_tickets", str(ROOT / "docs/samples/tickets.csv"), "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue()
    assert not Ticket.objects.exists()
    out = StringIO()
    call_command("import_usage", str(ROOT / "docs/samples/usage.csv"), stdout=out)
    assert "4 row(s) imported" in out.getvalue()


@pytest.mark.parametrize(("role", "status"), [(CS_STAFF, 200), (MARKETING, 403)])
def test_the_admin_import_pages(client, role, status):
    client.force_login(StaffFactory(role=role))
    for model in ("ticket", "usagerecord"):
        assert client.get(reverse(f"admin:outcomes_{model}_import")).status_code == status


def test_the_admin_ticket_import_lists_bad_rows(client):
    client.force_login(StaffFactory(role=CS_STAFF))
    AccountFactory(external_id="acme")
    upload = StringIO(HEADER + "acme,T1,solved,2026-03-02T09:00:00Z,,2026-03-02T08:00:00Z,1,0\n")
    upload.name = "tickets.csv"
    page = client.post(reverse("admin:outcomes_ticket_import"), {"file": upload, "dry_run": ""})
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="import-errors"' in body and "solved_at" in body
    assert not Ticket.objects.exists()
