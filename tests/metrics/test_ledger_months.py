"""The ledger months stay exact under every write to the ledger (insert, bulk insert, update
across months and accounts, delete, cascade, truncate, two writers at once), the rebuild agrees
with them, and the revenue grid read from them gives each account's MRR at any instant: a UTC
month start, a viewer's midnight inside a month, between two events, on a tie."""

from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from accounts.models import Account
from metrics import ledger_months
from metrics import revenue_selectors as sel
from outcomes.models import SubscriptionEvent
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(account: Account, when: str, mrr: str, key: str) -> SubscriptionEvent:
    return SubscriptionEvent.objects.create(
        account=account,
        source="api",
        external_id=key,
        effective_at=at(when),
        mrr=D(mrr),
        currency="USD",
    )


def _rows() -> dict[tuple, tuple]:
    """{(account, month): (first_at, first_paid_at, last_at, last MRR)}."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT account_id, month, first_at, first_paid_at, last_at, mrr "
            f"FROM {ledger_months.TABLE}"
        )
        return {tuple(row[:2]): tuple(row[2:]) for row in cursor.fetchall()}


def row(first: str, first_paid: str | None, last: str, mrr: str) -> tuple:
    return (at(first), first_paid and at(first_paid), at(last), D(mrr))


def _assert_rebuild_agrees() -> None:
    kept = _rows()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ledger_months.TABLE}")
    ledger_months.rebuild()
    assert _rows() == kept


def test_every_write_keeps_the_months_exact():
    a, b = AccountFactory(), AccountFactory()
    trial = event(a, "2025-01-03 00:00", "0", "a1")
    event(a, "2025-01-20 10:00", "100", "a2")
    assert _rows() == {
        (a.pk, at("2025-01-01")): row("2025-01-03", "2025-01-20 10:00", "2025-01-20 10:00", "100"),
    }

    # Several events in one statement; the later id wins a tie at the same instant.
    SubscriptionEvent.objects.bulk_create(
        SubscriptionEvent(account=a, source="api", external_id=key, effective_at=at(when),
                          mrr=D(mrr), currency="USD")
        for key, when, mrr in [("a3", "2025-01-31 23:59", "120"), ("a4", "2025-01-31 23:59", "130"),
                               ("a5", "2025-03-01 00:00", "0")]
    )  # fmt: skip
    assert _rows() == {
        (a.pk, at("2025-01-01")): row("2025-01-03", "2025-01-20 10:00", "2025-01-31 23:59", "130"),
        (a.pk, at("2025-03-01")): row("2025-03-01", None, "2025-03-01", "0"),
    }

    # An update that moves an event to another month and account recomputes both sides.
    SubscriptionEvent.objects.filter(pk=trial.pk).update(
        account=b, effective_at=at("2025-02-14 12:00"), mrr=D("40")
    )
    assert _rows() == {
        (a.pk, at("2025-01-01")): row(
            "2025-01-20 10:00", "2025-01-20 10:00", "2025-01-31 23:59", "130"
        ),
        (a.pk, at("2025-03-01")): row("2025-03-01", None, "2025-03-01", "0"),
        (b.pk, at("2025-02-01")): row(
            "2025-02-14 12:00", "2025-02-14 12:00", "2025-02-14 12:00", "40"
        ),
    }
    _assert_rebuild_agrees()

    # A delete leaves the month's remaining events; the last one gone removes the row.
    SubscriptionEvent.objects.filter(external_id="a4").delete()
    SubscriptionEvent.objects.filter(external_id="a5").delete()
    assert _rows() == {
        (a.pk, at("2025-01-01")): row(
            "2025-01-20 10:00", "2025-01-20 10:00", "2025-01-31 23:59", "120"
        ),
        (b.pk, at("2025-02-01")): row(
            "2025-02-14 12:00", "2025-02-14 12:00", "2025-02-14 12:00", "40"
        ),
    }

    # Deleting an account cascades to its events, and so to its months.
    Account.objects.filter(pk=b.pk).delete()
    assert list(_rows()) == [(a.pk, at("2025-01-01"))]
    _assert_rebuild_agrees()


@pytest.mark.django_db(transaction=True)
def test_a_truncate_of_the_ledger_empties_them():
    event(AccountFactory(), "2025-01-03", "10", "k1")
    assert len(_rows()) == 1
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE outcomes_subscriptionevent")
    assert _rows() == {}


def test_the_month_is_utc_whatever_the_session_time_zone():
    account = AccountFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'America/Sao_Paulo'")
        # 2025-01-31 22:00 in São Paulo is 2025-02-01 01:00 UTC: February's row.
        cursor.execute(
            "INSERT INTO outcomes_subscriptionevent (account_id, source, external_id,"
            " effective_at, mrr, currency, plan, raw, created_at) VALUES"
            " (%(id)s, 'api', 'k1', '2025-01-31 22:00-03', 10, 'USD', '', '{}', now()),"
            " (%(id)s, 'api', 'k2', '2025-02-28 20:30-03', 20, 'USD', '', '{}', now())",
            {"id": account.pk},
        )
        # The test runs in one transaction: back to the connection's zone to read.
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
    assert _rows() == {
        (account.pk, at("2025-02-01")): row(
            "2025-02-01 01:00", "2025-02-01 01:00", "2025-02-28 23:30", "20"
        ),
    }


def test_the_rebuild_command():
    account = AccountFactory()
    event(account, "2024-12-05", "10", "k1")
    event(account, "2025-01-05", "20", "k2")
    kept = _rows()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ledger_months.TABLE}")  # as after a restore without them
    out = io.StringIO()
    call_command("rebuild_rollups", "--since", "2025-01-15", stdout=out)
    assert "Rebuilt the ledger month rollups: 1 rows" in out.getvalue()
    assert list(_rows()) == [(account.pk, at("2025-01-01"))]  # from January on only
    call_command("rebuild_rollups", stdout=out)
    assert _rows() == kept


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"), [("insert", "insert"), ("delete", "insert"), ("insert", "delete")]
)
def test_two_writers_to_one_month_both_count(first, second):
    """January holds 5 on the 3rd and 30 on the 25th. The first writer keeps its transaction
    open after its write; the second writes to the same account and month meanwhile, waits
    for the first's commit, and the row ends with both writes. An insert adds 20 on the 20th
    (the other writer's insert, 10 on the 10th); a delete removes the 25th."""
    account = AccountFactory()
    event(account, "2025-01-03", "5", "k3")
    event(account, "2025-01-25", "30", "k25")
    writes = iter(["2025-01-10", "2025-01-20"])

    def write(action):
        if action == "insert":
            when = next(writes)
            event(account, when, when[-2:], when)
        else:
            SubscriptionEvent.objects.filter(external_id="k25").delete()

    written, release = threading.Event(), threading.Event()
    errors = []

    def first_writer():
        try:
            with transaction.atomic():
                write(first)
                written.set()
                release.wait(10)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=first_writer)
    writer.start()
    assert written.wait(10)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    write(second)  # waits for the first's commit
    writer.join()
    assert errors == []
    last = {
        ("insert", "insert"): row("2025-01-03", "2025-01-03", "2025-01-25", "30"),
        ("delete", "insert"): row("2025-01-03", "2025-01-03", "2025-01-10", "10"),
        ("insert", "delete"): row("2025-01-03", "2025-01-03", "2025-01-10", "10"),
    }
    assert _rows() == {(account.pk, at("2025-01-01")): last[(first, second)]}
    _assert_rebuild_agrees()


def test_the_grid_gives_the_mrr_at_any_instant():
    """One account: 100 from 1 January 00:00 UTC, 150 then 170 at the same instant on the
    10th (170 has the later id), 200 late on the 31st, nothing in February, 250 on 15 March.
    The MRR at an instant is that of the latest event strictly before it."""
    account = AccountFactory()
    for key, when, mrr in [("e1", "2025-01-01 00:00", "100"), ("e2", "2025-01-10 12:00", "150"),
                           ("e3", "2025-01-10 12:00", "170"), ("e4", "2025-01-31 23:00", "200"),
                           ("e5", "2025-03-15 00:00", "250")]:  # fmt: skip
        event(account, when, mrr, key)
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    expected = [
        (at("2024-12-31 21:00"), D("0")),  # before every event (no month row yet)
        (at("2025-01-01 00:00"), D("0")),  # at the first event: not before it
        (dt.datetime(2025, 1, 1, tzinfo=sao_paulo), D("100")),  # 03:00 UTC, among January's
        (at("2025-01-10 12:00"), D("100")),  # at the tie: neither counts yet
        (at("2025-01-10 12:00:01"), D("170")),  # after it: the later id
        (at("2025-02-01 00:00"), D("200")),  # after January's last event
        (at("2025-03-01 00:00"), D("200")),  # February has no row: January's last
        (at("2025-03-10 00:00"), D("200")),  # March's events all come later: January's last
        (at("2025-03-20 00:00"), D("250")),  # after March's last
    ]
    end = at("2026-01-01")
    found = sel.sections(
        boundaries=[], pairs=[(t, end) for t, _mrr in expected], filters=sel.RevenueFilters()
    )
    assert [bridges["USD"].mrr_start for bridges in found.bridges] == [m for _t, m in expected]
    assert {bridges["USD"].mrr_end for bridges in found.bridges} == {D("250")}
    # The same as the ledger read directly.
    for instant, mrr in expected:
        direct = sel.mrr_at(instant=instant, account_ids=[account.pk])[account.pk][0]
        assert direct == mrr
