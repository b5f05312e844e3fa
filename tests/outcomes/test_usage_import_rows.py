"""The usage import's checks and writes row by row: every problem of a row named, new
accounts' ids checked, counts of created, updated and unchanged values, a dry run that
writes nothing."""

import datetime as dt

import pytest

from accounts.models import Account
from outcomes import usage_imports
from outcomes.models import UsageRecord
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
HEADER = "account,day,metric,value\n"


def test_every_problem_of_a_row_is_named():
    result = usage_imports.import_usage(source=(HEADER + "acme,yesterday,Bad Metric,-1\n").encode())
    [error] = result.errors
    assert error.line == 2
    assert error.reason.startswith("day: ")
    assert "; metric: " in error.reason
    assert "; value: " in error.reason


def test_empty_and_out_of_range_cells():
    tomorrow_but_one = dt.date.today() + dt.timedelta(days=3)
    text = (
        HEADER
        + ",2026-03-01,events,1\n"
        + f"acme,{tomorrow_but_one.isoformat()},events,1\n"
        + "acme,1999-12-31,events,1\n"
        + "acme,2026-03-01,events,nan\n"
        + "acme,2026-03-01,events,2e15\n"
        + ("a" * 101)
        + ",2026-03-01,events,1\n"
    )
    result = usage_imports.import_usage(source=text.encode())
    assert [(e.line, e.reason) for e in result.errors] == [
        (2, "account: This field is required."),
        (3, "day: The day is in the future."),
        (4, "day: The day is before 2000."),
        (5, "value: A valid number is required."),
        (6, "value: Ensure this value is less than or equal to 1000000000000000.0."),
        (7, "account: Ensure this field has no more than 100 characters."),
    ]
    assert not UsageRecord.objects.exists()


def test_a_new_accounts_id_must_be_usable_but_an_existing_one_is_taken_as_it_is():
    AccountFactory(external_id="old id")
    text = (
        HEADER
        + "old id,2026-03-01,events,1\n"
        + "new id,2026-03-01,events,1\n"
        + "new id,2026-03-02,events,1\n"
        + "new id,2026-03-02,events,2\n"
    )
    result = usage_imports.import_usage(source=text.encode())
    assert [(e.line, e.reason.split(":")[0]) for e in result.errors] == [
        (3, "account"),
        (4, "account"),
        (5, "new id, events on 2026-03-02 already appears on line 4."),
    ]
    assert not UsageRecord.objects.exists()


def test_counts_of_a_second_file_and_new_accounts():
    acme = AccountFactory(external_id="acme")
    first = HEADER + "acme,2026-03-01,events,10\nacme,2026-03-02,events,20\n"
    assert usage_imports.import_usage(source=first.encode()).counts["values_created"] == 2
    second = (
        HEADER
        + "acme,2026-03-01,events,10\n"  # unchanged
        + "acme,2026-03-02,events;20.5\n".replace(";", ",")  # updated
        + 'acme,2026-03-03,events,"1,234.5"\n'  # created
        + "initech,2026-03-01,active_users,3\n"  # created, with its account
    )
    dry = usage_imports.import_usage(source=second.encode(), dry_run=True)
    assert dry.ok and not dry.applied
    expected = {
        "values_created": 2,
        "values_updated": 1,
        "values_unchanged": 1,
        "accounts_created": 1,
    }
    assert dry.counts == expected
    assert not Account.objects.filter(external_id="initech").exists()
    assert UsageRecord.objects.get(account=acme, day=dt.date(2026, 3, 2)).value == 20
    result = usage_imports.import_usage(source=second.encode())
    assert result.applied and result.counts == expected
    values = dict(UsageRecord.objects.filter(account=acme).values_list("day", "value"))
    assert values == {
        dt.date(2026, 3, 1): 10,
        dt.date(2026, 3, 2): 20.5,
        dt.date(2026, 3, 3): 1234.5,
    }
    initech = Account.objects.get(external_id="initech")
    assert initech.name == "initech"
    assert UsageRecord.objects.get(account=initech).value == 3
    again = usage_imports.import_usage(source=second.encode())
    assert again.counts == {
        "values_created": 0,
        "values_updated": 0,
        "values_unchanged": 4,
        "accounts_created": 0,
    }


def test_a_day_the_api_reads_in_its_basic_form_is_read_the_same():
    AccountFactory(external_id="acme")
    result = usage_imports.import_usage(source=(HEADER + "acme,20260301,events,4\n").encode())
    assert result.applied
    assert UsageRecord.objects.get().day == dt.date(2026, 3, 1)


def test_progress_is_reported_and_ends_with_the_row_count():
    AccountFactory(external_id="acme")
    seen = []
    text = HEADER + "".join(f"acme,2026-03-01,m{n},{n}\n" for n in range(3))
    usage_imports.import_usage(source=text.encode(), progress=seen.append)
    assert seen == [3]


def test_a_value_the_api_finds_too_long_is_refused_as_it_is():
    text = HEADER + "acme,2026-03-01,events," + "0" * 1001 + "\n"
    [error] = usage_imports.import_usage(source=text.encode()).errors
    assert error.reason == "value: String value too large."
