"""Bug 5: accounts were classed by the mean of their answers, so an account with NPS +50 was
"Passive ARR" and Promoter ARR was 0 everywhere. The rule now (DESIGN.md): the category of the
account's most recent NPS answer in the 365 days before the reference date; none: "no answer".
Bug 6: "ARR at risk" meant the report period on the dashboard and the 180-day health window on
the accounts page (USD 105,360 vs 12,000). One definition, the window shown next to it."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMINISTRATORS
from metrics import selectors
from tests.factories import (
    AccountFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


def answer(survey, account, score, days_ago, **kwargs):
    return ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=ContactFactory(account=account)),
        score=score,
        answered_at=timezone.now() - dt.timedelta(days=days_ago),
        **kwargs,
    )


@pytest.fixture
def staff(client):
    client.force_login(StaffFactory(username="boss", role=ADMINISTRATORS))
    return client


def test_the_category_is_that_of_the_most_recent_nps_answer():
    nps, csat = SurveyFactory(), CsatSurveyFactory()
    plus_fifty = AccountFactory(name="Plus fifty", mrr=Decimal("1000.00"))
    for score, days_ago in ((0, 40), (10, 30), (10, 20), (9, 10)):
        answer(nps, plus_fifty, score, days_ago)  # NPS +50, mean 7.25 (once "passive")
    answer(csat, plus_fifty, 1, 1)  # other kinds never decide it
    turned = AccountFactory(name="Turned", mrr=Decimal("100.00"))
    answer(nps, turned, 10, 30)
    answer(nps, turned, 2, 5)  # the latest word: a detractor, though the mean is 6
    answer(nps, turned, 10, 1, excluded=True)  # not counted, so not the latest
    old = AccountFactory(name="Old", mrr=Decimal("10.00"))
    answer(nps, old, 9, 300)  # outside the 180-day score window, inside the 365 days
    gone = AccountFactory(name="Gone", mrr=Decimal("1.00"))
    answer(nps, gone, 0, 400)  # older than 365 days: no answer

    scores = {score.name: score for score in selectors.account_scores()}

    assert scores["Plus fifty"].nps.score == 50.0
    assert [scores[name].category for name in ("Plus fifty", "Turned", "Old", "Gone")] == [
        1,
        -1,
        1,
        None,
    ]
    (usd,) = selectors.revenue(list(scores.values()))
    assert usd.arr_promoter == Decimal("12120.00")  # Plus fifty and Old: 12 x (1000 + 10)
    assert (usd.arr_passive, usd.arr_detractor, usd.arr_no_answer) == (
        Decimal("0"),
        Decimal("1200.00"),
        Decimal("12.00"),
    )
    # The same rule for full rows (account page, API) as for the light ones (lists).
    rows = {row.account.name: row.category for row in selectors.account_rows()}
    assert rows == {name: score.category for name, score in scores.items()}


def test_the_category_is_as_of_the_reference_date():
    nps = SurveyFactory()
    account = AccountFactory()
    answer(nps, account, 10, 100)
    answer(nps, account, 0, 10)
    now = timezone.now()
    (today,) = selectors.account_scores(reference=now)
    (before,) = selectors.account_scores(reference=now - dt.timedelta(days=50))
    (long_before,) = selectors.account_scores(reference=now - dt.timedelta(days=500))
    assert (today.category, before.category, long_before.category) == (-1, 1, None)


def test_the_pages_name_the_rule(staff):
    nps = SurveyFactory(slug="rel")
    account = AccountFactory(external_id="acme")
    answer(nps, account, 9, 3)
    listing = staff.get(reverse("reports:accounts")).content.decode()
    assert (
        "Category: the account's most recent NPS answer in the last 365 days "
        "(none: no answer)." in listing
    )
    assert re.search(r'<td class="category"><span class="badge cat-1">Promoter</span>', listing)
    detail = staff.get(reverse("reports:account", args=["acme"])).content.decode()
    assert "Category (the most recent NPS answer in the last 365 days):" in detail
    dashboard = staff.get(reverse("reports:dashboard")).content.decode()
    assert "each account is classed by its most recent NPS answer in the 365 days before" in (
        dashboard
    )


def test_arr_at_risk_is_one_number_with_its_window_shown(staff):
    nps = SurveyFactory(slug="rel")
    # A detractor answer 200 days ago: inside the dashboard's default year, outside the
    # 180-day health window. The two pages used to disagree (at risk on one, not the other).
    lapsed = AccountFactory(name="Lapsed", mrr=Decimal("8780.00"))
    answer(nps, lapsed, 2, 200)
    recent = AccountFactory(name="Recent", mrr=Decimal("1000.00"))
    answer(nps, recent, 0, 3)
    AccountFactory(name="Happy", mrr=Decimal("500.00"))

    dashboard = staff.get(reverse("reports:dashboard"))
    accounts = staff.get(reverse("reports:accounts"))

    (on_dashboard,) = dashboard.context["revenue"]
    (on_accounts,) = accounts.context["revenue"]
    assert on_dashboard.arr_at_risk == on_accounts.arr_at_risk == Decimal("117360.00")
    assert on_dashboard.arr_detractor == on_accounts.arr_detractor
    html = dashboard.content.decode()
    when = dashboard.context["windows"].reference.strftime("%Y-%m-%d")
    assert re.search(
        rf"ARR at risk: the ARR of detractor accounts \(by the rule above\) and of accounts "
        rf"with red health, as of {when} \d\d:\d\d UTC\.",  # every time says its zone
        html,
    )
    assert "ARR at risk: detractor accounts and accounts with red health." in (
        accounts.content.decode()
    )


def test_a_past_period_is_classed_as_of_its_end(staff):
    nps = SurveyFactory(slug="rel")
    account = AccountFactory(mrr=Decimal("100.00"))
    answer(nps, account, 10, 100)
    answer(nps, account, 0, 10)
    end = timezone.localdate() - dt.timedelta(days=30)
    page = staff.get(
        reverse("reports:dashboard"),
        {"start": str(end - dt.timedelta(days=60)), "end": str(end)},
    )
    (line,) = page.context["revenue"]
    # As of that period's end the latest answer was the 10: a promoter, not at risk yet.
    assert (line.arr_promoter, line.arr_at_risk) == (Decimal("1200.00"), Decimal("0"))
