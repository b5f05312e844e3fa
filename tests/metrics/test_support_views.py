"""The support and adoption pages and the account page's cards: numbers worked by hand, filters,
bad input, query counts."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from metrics import support_selectors as sel
from outcomes.models import Onboarding
from tests.factories import AccountFactory, StaffFactory, TicketFactory, UsageFactory

from .test_support_metrics import T0, worked_example

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 31)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC), tick=False):
        yield


def kpi(body: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">([^<]*)<', body)
    assert match, name
    return match.group(1).strip()


# The page read from the rollups: a fixed number of statements for the summary and each
# breakdown (counts, histograms, one batched read of each time's buckets and at most one more
# for a next bucket), none per group, month or ticket.
PAGE_STATEMENTS = 52  # 50 for both pages below, few tickets or many


def test_the_support_page_shows_the_worked_example(staff_client, django_assert_max_num_queries):
    worked_example(AccountFactory(plan="Enterprise"), assignee="maria")
    with django_assert_max_num_queries(PAGE_STATEMENTS):
        page = staff_client.get(reverse("reports:support"), {"start": "2026-03-01", "tz": "UTC"})
    assert page.status_code == 200
    body = page.content.decode()
    assert kpi(body, "created") == "4"
    assert kpi(body, "solve-rate") == "75.00%"
    assert kpi(body, "fcr") == "33.33%"
    assert kpi(body, "first-reply-median") == "23 min"  # 22.5 min, to the minute, half up
    assert kpi(body, "resolution-median") == "3.0 h"  # 180 min
    assert 'id="by-assignee"' in body and "maria" in body
    assert "2026-03-01 – 2026-03-31" in body


def test_the_support_page_reads_as_many_statements_for_many_groups(
    staff_client, django_assert_max_num_queries
):
    """Ten times the tickets over 12 assignees, 3 plans, 4 channels and 6 months: still
    within the same fixed number of statements."""
    plans = [AccountFactory(plan=plan) for plan in ("Starter", "Growth", "Enterprise")]
    for i in range(120):
        TicketFactory(
            account=plans[i % 3],
            assignee=f"agent-{i % 12}",
            channel=("email", "chat", "phone", "web")[i % 4],
            created_at=dt.datetime(2025, 10 + i % 3, 1 + i % 27, 9, tzinfo=dt.UTC)
            if i % 2
            else dt.datetime(2026, 1 + i % 3, 1 + i % 27, 9, tzinfo=dt.UTC),
            reply=5 + i * 7 % 400,
            solved=60 + i * 13 % 3000 if i % 5 else None,
        )
    with django_assert_max_num_queries(PAGE_STATEMENTS):
        page = staff_client.get(
            reverse("reports:support"), {"start": "2025-10-01", "end": "2026-04-01", "tz": "UTC"}
        )
    assert page.status_code == 200
    assert kpi(page.content.decode(), "created") == "120"


def test_the_default_period_is_the_twelve_months_to_today(staff_client):
    TicketFactory(created_at=dt.datetime(2025, 4, 1, 12, tzinfo=dt.UTC))  # in: April 2025
    TicketFactory(created_at=dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC))  # out
    body = staff_client.get(reverse("reports:support")).content.decode()
    assert kpi(body, "created") == "1"
    assert "2025-04-01 – 2026-03-31" in body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-03-05", "end": "2026-03-01"}, "Until"),
        ({"tz": "Nowhere/City"}, "Time zone"),
        ({"account": "nobody"}, "Account id"),
        ({"start": "yesterday"}, "From"),
    ],
)
def test_bad_filters_show_errors_and_no_figures(staff_client, query, field):
    TicketFactory()
    page = staff_client.get(reverse("reports:support"), query)
    assert page.status_code == 400
    body = page.content.decode()
    assert 'id="filter-errors"' in body and field in body
    assert 'data-kpi="created"' not in body


def adoption_world():
    """acme: 50 seats; active_users (30-day distinct) 30 on each day of the prior window and
    42 on each day of the last one -> adoption 42 / 50 = 84%; trend (30 x 42) / (30 x 30) - 1 =
    +40%. globex: 20 seats, 15 then 9 -> adoption 9 / 20 = 45%; trend 9 / 15 - 1 = -40%."""
    acme = AccountFactory(name="Acme", external_id="acme", seats=50, plan="Enterprise")
    globex = AccountFactory(name="Globex", external_id="globex", seats=20, plan="Starter")
    as_of = TODAY - dt.timedelta(days=1)
    for back in range(60):
        day = as_of - dt.timedelta(days=back)
        last = back < 30
        UsageFactory(account=acme, day=day, value=42 if last else 30)
        UsageFactory(account=globex, day=day, value=9 if last else 15)
    # Outside both windows: ignored.
    UsageFactory(account=acme, day=as_of - dt.timedelta(days=60), value=1000)
    return acme, globex


def test_account_usage_by_hand():
    acme, globex = adoption_world()
    usage = sel.account_usage(as_of=TODAY - dt.timedelta(days=1))
    assert (usage[acme.pk].active_users, usage[acme.pk].adoption_pct) == (42.0, 84.0)
    assert usage[acme.pk].trend() == pytest.approx(40.0)
    assert usage[acme.pk].metrics["active_users"][:2] == (42.0 * 30, 30.0 * 30)
    assert (usage[globex.pk].adoption_pct, usage[globex.pk].trend()) == (45.0, pytest.approx(-40.0))


def test_the_adoption_page(staff_client, django_assert_max_num_queries):
    acme, globex = adoption_world()
    AccountFactory(name="Zeta", seats=None)  # no seats, no usage: listed without figures
    # Implementation by hand: Enterprise 30 and 50 days (median 40); Starter 10.
    Onboarding.objects.create(
        account=acme, kickoff_on=dt.date(2026, 1, 1), go_live_on=dt.date(2026, 1, 31)
    )
    Onboarding.objects.create(
        account=AccountFactory(plan="Enterprise"),
        kickoff_on=dt.date(2026, 1, 1),
        go_live_on=dt.date(2026, 2, 20),
    )
    Onboarding.objects.create(
        account=globex, kickoff_on=dt.date(2026, 2, 1), go_live_on=dt.date(2026, 2, 11)
    )
    # A fixed number, whatever the accounts (each report statement in its own savepoint).
    with django_assert_max_num_queries(20):
        page = staff_client.get(reverse("reports:adoption"))
    assert page.status_code == 200
    body = page.content.decode()
    # Lowest adoption first: Globex 45%, Acme 84%, then accounts without data.
    order = re.findall(r'<tr data-account="([^"]+)">', body)
    assert order[:2] == ["globex", "acme"]
    assert kpi(body, "adoption-median") == "65%"  # (45 + 84) / 2 = 64.5, shown half up
    assert 'active_users: <span class="text-danger">-40.0%</span>' in body
    plan_table = body.split('id="implementation-by-plan"')[1].split("</table>")[0]
    assert "40.0 days" in plan_table and "10.0 days" in plan_table


def test_the_account_page_has_support_and_adoption_cards(staff_client):
    acme, _globex = adoption_world()
    # Six months of 2 tickets, then 5 in March: more than twice the trailing mean.
    for months_back in range(1, 7):  # 13 Feb, 14 Jan, 15 Dec, 15 Nov, 16 Oct, 16 Sep
        created = dt.datetime(2026, 3, 15, tzinfo=dt.UTC) - dt.timedelta(days=30 * months_back)
        TicketFactory.create_batch(2, account=acme, created_at=created)
    TicketFactory.create_batch(5, account=acme, created_at=dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    body = staff_client.get(reverse("reports:account", args=["acme"])).content.decode()
    assert 'id="account-support"' in body and 'id="account-adoption"' in body
    assert kpi(body, "adoption") == "84%"
    recurrence = body.split('id="recurrence"')[1].split("</table>")[0]
    assert '<tr data-flag="high"><td>2026-03</td><td>5</td><td>2.0</td>' in recurrence


def test_marketing_sees_the_pages_anonymous_users_sign_in(client):
    for name in ("reports:support", "reports:adoption"):
        assert client.get(reverse(name)).status_code == 302
    client.force_login(StaffFactory())
    for name in ("reports:support", "reports:adoption"):
        assert client.get(reverse(name)).status_code == 200


def test_the_worked_example_is_on_the_support_page_of_its_account(staff_client):
    acme = AccountFactory(external_id="acme")
    worked_example(acme)
    TicketFactory(created_at=T0)  # another account
    page = staff_client.get(reverse("reports:support"), {"account": "acme", "start": "2026-03-01"})
    assert kpi(page.content.decode(), "created") == "4"
