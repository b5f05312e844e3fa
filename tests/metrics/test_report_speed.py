"""The cheap paths of the report pages give exactly the numbers of the full ones.

`account_scores` (light rows for every account) must agree with `account_rows` (models and
health components), the accounts page must list the same rows in the same order, and the
funnel's outer join to excluded answers must count every other invitation too.
"""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics import scoring, selectors
from metrics.models import HealthSettings
from surveys.models import Kind
from tests.factories import (
    AccountFactory,
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
    TicketFactory,
    UsageFactory,
)

pytestmark = pytest.mark.django_db


def _answer(survey, account, score, days_ago, **kwargs):
    contact = ContactFactory(account=account)
    return ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=contact),
        score=score,
        answered_at=timezone.now() - dt.timedelta(days=days_ago),
        **kwargs,
    )


@pytest.fixture
def accounts():
    nps, csat, ces = SurveyFactory(), CsatSurveyFactory(), CesSurveyFactory()
    owner = StaffFactory(username="Zoe")
    promoter = AccountFactory(name="b promoter", mrr=Decimal("100.00"), owner=owner)
    detractor = AccountFactory(name="A detractor", mrr=Decimal("300.00"))
    TicketFactory.create_batch(4, account=detractor)  # four open tickets
    mixed = AccountFactory(name="c mixed", mrr=Decimal("50.00"), seats=10, currency="EUR")
    UsageFactory(account=mixed, value=8)  # 8 active users of 10 seats: adoption 80%
    stale = AccountFactory(name="d stale", mrr=Decimal("70.00"))  # last answer long ago
    AccountFactory(name="e silent", mrr=Decimal("10.00"))  # no answers, no inputs
    churned = AccountFactory(name="f churned", mrr=Decimal("999.00"), status="churned")
    for score in (10, 9, 9):
        _answer(nps, promoter, score, days_ago=3)
    _answer(csat, promoter, 5, days_ago=4)
    _answer(nps, detractor, 2, days_ago=10)
    _answer(nps, detractor, 10, days_ago=10, excluded=True)  # a bot: never counted
    _answer(nps, mixed, 8, days_ago=1)
    _answer(nps, mixed, 3, days_ago=100)
    _answer(ces, mixed, 6, days_ago=2)
    _answer(csat, mixed, 2, days_ago=20)
    _answer(nps, stale, 9, days_ago=300)  # outside the score window, inside recency's
    _answer(nps, churned, 0, days_ago=5)
    return {"promoter": promoter, "detractor": detractor, "mixed": mixed, "stale": stale}


def _key(row):
    return (
        row.nps,
        row.category,
        row.last_answered_at,
        row.arr,
    )


@pytest.mark.parametrize("days_ago", [None, 30, 400])
def test_account_scores_equal_account_rows(accounts, days_ago):
    now = timezone.now()
    reference = None if days_ago is None else now - dt.timedelta(days=days_ago)
    with mock.patch("django.utils.timezone.now", return_value=now):
        rows = selectors.account_rows(reference=reference)
        scores = selectors.account_scores(reference=reference)

    assert [score.pk for score in scores] == [row.account.pk for row in rows]
    for row, score in zip(rows, scores, strict=True):
        assert _key(score) == _key(row)
        assert (score.health_score, score.health_colour) == (row.health.score, row.health.colour)
        assert score.at_risk == row.at_risk
        assert (score.name, score.status, score.currency) == (
            row.account.name,
            row.status,
            row.currency,
        )
        assert score.owner_name == (row.account.owner.username if row.account.owner else None)
    assert selectors.revenue(scores) == selectors.revenue(rows)
    # The page's full rows are built from the very counts and clock of the scores.
    assert selectors.account_rows_of(scores, health_settings=HealthSettings.load()) == rows


def test_account_scores_see_the_answers_the_rows_see(accounts):
    by_pk = {score.pk: score for score in selectors.account_scores()}
    promoter = by_pk[accounts["promoter"].pk]
    assert (promoter.nps.n, promoter.nps.score, promoter.category) == (3, 100.0, 1)
    detractor = by_pk[accounts["detractor"].pk]  # the excluded 10 is not counted
    assert (detractor.nps.n, detractor.category, detractor.at_risk) == (1, -1, True)
    # No answer in the 180-day score window, but one (a 9, 300 days ago) in the 365 days of
    # the category rule; recency still sees it.
    stale = by_pk[accounts["stale"].pk]
    assert (stale.nps.n, stale.category) == (0, 1)
    assert stale.last_answered_at is not None
    mixed = by_pk[accounts["mixed"].pk]  # an 8 yesterday after a 3: its most recent answer
    assert (mixed.nps.n, mixed.category) == (2, 0)
    silent = by_pk[accounts["stale"].pk + 1]
    assert (silent.name, silent.category) == ("e silent", None)


def test_account_scores_with_filters_and_a_window_end(accounts):
    now = timezone.now()
    reference = now - dt.timedelta(days=5)
    filters = selectors.AccountFilters(currency="USD")
    with mock.patch("django.utils.timezone.now", return_value=now):
        rows = selectors.account_rows(filters=filters, reference=reference)
        scores = selectors.account_scores(filters=filters, reference=reference)
    assert [score.pk for score in scores] == [row.account.pk for row in rows]
    assert [_key(score) for score in scores] == [_key(row) for row in rows]
    assert [score.health_score for score in scores] == [row.health.score for row in rows]
    assert accounts["mixed"].pk not in {score.pk for score in scores}  # EUR


def test_health_score_is_the_score_of_health():
    weights = HealthSettings().weights
    cases = [
        dict.fromkeys(scoring.HEALTH_COMPONENTS),  # nothing: no data
        {**dict.fromkeys(scoring.HEALTH_COMPONENTS), "recency": 100.0},  # recency alone
        {"nps": 75.0, "csat": None, "ces": 40.0, "recency": 12.5, "support": 20.0, "adoption": 3},
        {"nps": 0.0, "csat": 0.0, "ces": 0.0, "recency": 0.0, "support": 0.0, "adoption": 0.0},
    ]
    for values in cases:
        full = scoring.health(values, weights, red_below=40, green_from=70)
        assert scoring.health_score(values, weights) == full.score
    assert scoring.health_score(cases[0], weights) is None
    assert scoring.health_score(cases[1], weights) is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["A detractor", "b promoter", "c mixed", "d stale", "e silent", "f churned"]),
        ({"sort": "name", "desc": "on"}, ["f churned", "e silent", "d stale", "c mixed"]),
        ({"sort": "nps", "desc": "on"}, ["b promoter", "c mixed", "A detractor", "f churned"]),
        ({"sort": "owner"}, ["b promoter"]),
        ({"at_risk": "on", "sort": "arr", "desc": "on"}, ["f churned", "A detractor"]),
    ],
)
def test_account_list_pages_the_sorted_light_rows(client, accounts, params, expected):
    client.force_login(StaffFactory(is_superuser=True))
    response = client.get(reverse("reports:accounts"), params)
    assert response.status_code == 200
    names = [row.account.name for row in response.context["page"]]
    assert names[: len(expected)] == expected
    assert all(isinstance(row, selectors.AccountRow) for row in response.context["page"])
    # The revenue table sums every listed account, not only the page.
    all_rows = selectors.account_rows()
    if not params.get("at_risk"):
        assert response.context["total"] == len(all_rows) == 6
        # (Lines list the accounts in the page's sort order: compare the pairs as sets.)
        assert _lines(response.context["revenue"]) == _lines(selectors.revenue(all_rows))


def _lines(lines):
    return [{**vars(line), "weighted_pairs": sorted(line.weighted_pairs)} for line in lines]


def test_account_list_pages_split_the_rows_without_loss(client, accounts, monkeypatch):
    monkeypatch.setattr("metrics.views.ACCOUNTS_PER_PAGE", 4)
    client.force_login(StaffFactory(is_superuser=True))
    first = client.get(reverse("reports:accounts"), {"sort": "health", "desc": "on"})
    second = client.get(reverse("reports:accounts"), {"sort": "health", "desc": "on", "page": 2})
    names = [row.account.name for row in [*first.context["page"], *second.context["page"]]]
    assert sorted(names) == sorted(row.account.name for row in selectors.account_rows())
    assert len(first.context["page"]) == 4
    assert len(second.context["page"]) == 2


def test_funnel_counts_each_invitation_by_its_own_outcome():
    nps = SurveyFactory(name="B survey")
    csat = CsatSurveyFactory(name="A survey")
    now = timezone.now()
    bounced = ContactFactory(bounced_at=now + dt.timedelta(minutes=5))
    InvitationFactory(survey=nps, contact=bounced, sent_at=now, bounced_at=now)
    InvitationFactory(survey=nps, contact=bounced, sent_at=None)  # never sent: not bounced
    InvitationFactory(survey=nps, sent_at=now, unsubscribed_at=now)
    InvitationFactory(survey=nps, sent_at=now, clicked_at=now)  # an ordinary contact
    InvitationFactory(survey=csat, sent_at=now, clicked_at=now, answered_at=now)
    old = InvitationFactory(survey=csat, sent_at=now)
    old.created_at = now - dt.timedelta(days=30)  # before the period: not counted
    old.save(update_fields=["created_at"])
    today = timezone.localdate()
    period = selectors.Period(today - dt.timedelta(days=1), today, dt.UTC)

    rows = selectors.funnel(filters=selectors.Filters(period=period, kind=""))

    assert [row["name"] for row in rows] == ["A survey", "B survey"]  # by name
    counts = [
        (row["invited"], row["sent"], row["clicked"], row["answered"], row["bounced"])
        for row in rows
    ]
    assert counts == [(1, 1, 1, 1, 0), (4, 3, 1, 0, 1)]
    assert [row["unsubscribed"] for row in rows] == [0, 1]
    assert rows[0]["response_rate"].pct == 100.0
    # One kind, one survey, or an account filter narrow it; nothing matches: no rows.
    only_csat = selectors.funnel(filters=selectors.Filters(period=period, kind=Kind.CSAT))
    assert [row["survey_id"] for row in only_csat] == [csat.pk]
    chosen = selectors.funnel(filters=selectors.Filters(period=period, surveys=(nps.pk,)))
    assert [row["invited"] for row in chosen] == [4]
    assert selectors.funnel(filters=selectors.Filters(period=period, plan="nope")) == []
    assert selectors.funnel(filters=selectors.Filters(period=period, surveys=(999999,))) == []
