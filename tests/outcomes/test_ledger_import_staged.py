"""The ledger import, staged in PostgreSQL: every problem of every row named, nothing written
on a bad file or a dry run, events already imported left as they are, and the accounts' cached
MRR, plan, renewal date and churn refreshed, over thousands of accounts."""

import datetime as dt
from decimal import Decimal as D

import pytest

from accounts.models import Account
from outcomes import imports
from outcomes.models import Source, SubscriptionEvent
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
HEADER = "account,external_id,effective_at,mrr,currency,plan,quantity,renews_on\n"


def csv_of(rows: list[str]) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


def test_every_problem_of_every_row_is_named_and_nothing_is_written():
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    rows = [
        "acme,e1,2025-01-01,100,USD,,,",  # good
        "acme,e2,2025-01-01,1.005,usd,,99999999999,",
        f"acme,e3,{future},100,USD,{'p' * 101},,2026-02-30",
        "acme,e1,2025-01-01,100,USD,,,",
        ",e4,2025-01-01,100,USD,,,",
    ]
    result = imports.import_events(source=csv_of(rows))
    assert [(e.line, e.reason) for e in result.errors] == [
        (
            3,
            "mrr: Ensure that there are no more than 2 decimal places.; "
            "quantity: Ensure this value is less than or equal to 2147483647.",
        ),
        (
            4,
            "effective_at: The date is in the future.; "
            "plan: Ensure this field has no more than 100 characters.; "
            "renews_on: Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        (5, "Event e1 already appears on line 2."),
        (6, "account: This field is required."),
    ]
    assert not result.applied
    assert not SubscriptionEvent.objects.exists() and not Account.objects.exists()


def test_events_already_imported_stay_and_the_accounts_follow_the_ledger():
    acme = AccountFactory(external_id="acme", mrr=D("10.00"), plan="Old")
    first = [
        "acme,a1,2025-01-01,100,USD,Starter,3,2026-01-01",
        'acme,a2,2025-02-01T12:00:00Z,"1.250,50",usd,,,',  # a decimal comma: 1250.50
    ]
    result = imports.import_events(source=csv_of(first))
    assert result.counts == {"events_added": 2, "events_already_imported": 0}
    acme.refresh_from_db()
    assert (acme.mrr, acme.plan, acme.renewal_date) == (
        D("1250.50"),
        "Starter",
        dt.date(2026, 1, 1),
    )
    second = [
        "acme,a2,2025-02-01,999,EUR,,,",  # already imported: changes nothing
        "acme,a3,2025-03-01,0,USD,,,",  # acme churns on March 1st
        "globex,g1,2025-01-15,40,EUR,Team,,",
        "globex,g2,2025-01-10,30,EUR,,,2025-12-31",  # earlier: not the latest
    ]
    dry = imports.import_events(source=csv_of(second), dry_run=True)
    assert dry.ok and not dry.applied
    assert dry.counts == {"events_added": 3, "events_already_imported": 1}
    assert not Account.objects.filter(external_id="globex").exists()
    assert SubscriptionEvent.objects.count() == 2
    result = imports.import_events(source=csv_of(second))
    assert result.applied and result.counts == dry.counts
    assert SubscriptionEvent.objects.get(external_id="a2").mrr == D("1250.50")
    acme.refresh_from_db()
    assert (acme.mrr, acme.status, acme.churned_at) == (
        D("0.00"),
        "churned",
        dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
    )
    globex = Account.objects.get(external_id="globex")
    assert (globex.name, globex.mrr, globex.currency, globex.plan, globex.renewal_date) == (
        "globex",
        D("40.00"),
        "EUR",
        "Team",
        dt.date(2025, 12, 31),
    )
    event = SubscriptionEvent.objects.get(external_id="g1")
    assert (event.source, event.raw["csv_line"], event.raw["plan"]) == (Source.CSV, 4, "Team")
    again = imports.import_events(source=csv_of(second))
    assert again.counts == {"events_added": 0, "events_already_imported": 4}
    assert SubscriptionEvent.objects.count() == 5


def test_twelve_thousand_events_of_six_thousand_accounts():
    """Account k pays k % 100 + 1 from January 1st (plan Basic), then from February 1st twice
    that, or 0 when k % 4 is 0 (churned); even accounts renew on 2027-01-01. Odd accounts' rows
    come February first: the latest event is the latest in time, not in the file."""
    rows = []
    for k in range(6000):
        january = f"acc-{k},jan-{k},2025-01-01,{k % 100 + 1},USD,Basic,,"
        february = f"acc-{k},feb-{k},2025-02-01,{0 if k % 4 == 0 else (k % 100 + 1) * 2},USD,,,"
        february += "2027-01-01" if k % 2 == 0 else ""
        rows += [january, february] if k % 2 == 0 else [february, january]
    seen = []
    result = imports.import_events(source=csv_of(rows), progress=seen.append)
    assert seen == [10_000, 12_000]
    assert result.counts == {"events_added": 12_000, "events_already_imported": 0}
    assert Account.objects.count() == 6000
    churned = Account.objects.filter(status="churned")
    assert churned.count() == 1500
    assert set(churned.values_list("churned_at", flat=True)) == {
        dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    }
    assert not churned.exclude(mrr=0).exists()
    acc_7 = Account.objects.get(external_id="acc-7")
    assert (acc_7.mrr, acc_7.plan, acc_7.renewal_date, acc_7.status) == (
        D("16.00"),
        "Basic",
        None,
        "active",
    )
    acc_5998 = Account.objects.get(external_id="acc-5998")  # 98 + 1, doubled
    assert (acc_5998.mrr, acc_5998.renewal_date) == (D("198.00"), dt.date(2027, 1, 1))
    # Sum of MRR over the paying accounts: for each k % 100 = r, 60 accounts, of which those
    # with k % 4 == 0 (r % 4 == 0, since 100 is a multiple of 4) pay nothing.
    paying = sum(60 * (r + 1) * 2 for r in range(100) if r % 4)
    assert sum(Account.objects.values_list("mrr", flat=True)) == paying
    stamps = dict(Account.objects.values_list("external_id", "updated_at"))
    again = imports.import_events(source=csv_of(rows))
    assert again.counts == {"events_added": 0, "events_already_imported": 12_000}
    assert dict(Account.objects.values_list("external_id", "updated_at")) == stamps
