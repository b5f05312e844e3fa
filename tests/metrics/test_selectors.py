"""Selectors: same numbers as scoring on random data, time-zone edges, exclusions."""

import datetime as dt

import pytest

from metrics import selectors
from surveys.models import Kind

from . import selector_cases

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_selectors_match_scoring_on_random_data(seed):
    selector_cases.check_selectors_match_scoring(seed)


def test_month_edges_in_time_zone():
    selector_cases.check_month_edges_in_time_zone()


def test_report_pages_and_api_on_random_data(
    staff_client, api_client, django_assert_max_num_queries
):
    """The pages' SQL (FILTER aggregates, JSON property lookups, time-zone truncation) with a
    bounded number of queries."""
    nps, _csat, _rows = selector_cases.build_dataset(seed=21, size=60)
    params = {
        "kind": "nps",
        "start": "2025-01-01",
        "end": "2025-12-31",
        "tz": "America/Sao_Paulo",
        "group_by": "owner",
        "granularity": "week",
        "prop": "channel=chat",
    }
    # 17: the revenue table reads each account's MRR at the report date from the ledger.
    # 20: with health's inputs from tickets, usage and the ledger.
    # 22: the account counts read the rollups, the edge hours and each latest answer.
    with django_assert_max_num_queries(22):
        assert staff_client.get("/reports/", params).status_code == 200
    # The last query loads the page's at-risk accounts.
    # 15: with health's inputs (3) and the page's 30-day trends (1).
    with django_assert_max_num_queries(17):
        response = staff_client.get("/reports/accounts/", {"sort": "nps", "at_risk": "on"})
    assert response.status_code == 200
    account = nps.responses.exclude(account=None).first().account
    # 20: with the support and adoption cards (five reads of the account's outcomes); 25: with
    # health's inputs (3) and its history (2).
    with django_assert_max_num_queries(28):
        response = staff_client.get(f"/reports/accounts/{account.external_id}/")
    assert response.status_code == 200
    body = api_client.get(
        "/api/v1/metrics/summary",
        {
            "survey": nps.slug,
            "group_by": "plan",
            "start": "2025-03-01",
            "end": "2025-08-31",
            "compare": "previous",
        },
    ).json()
    assert sum(group["responses"] for group in body["groups"]) == body["responses"]
    assert (body["compare"]["start"], body["compare"]["end"]) == ("2024-08-29", "2025-02-28")


def test_empty_period_gives_no_data_not_zero():
    period = selectors.Period(dt.date(2020, 1, 1), dt.date(2020, 1, 31), dt.UTC)
    result = selectors.score_summary(filters=selectors.Filters(period=period, kind=Kind.NPS))
    assert result["n"] == 0
    assert result["nps"].score is None
    assert result["mean"].mean is None
    board = selectors.dashboard(filters=selectors.Filters(period=period, kind=Kind.CSAT))
    assert board.summary["share"].pct is None
    assert board.trend == [] and board.breakdown == [] and board.distribution == {}


def test_previous_period_has_the_same_length():
    period = selectors.Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31), dt.UTC)
    assert period.previous() == selectors.Period(dt.date(2026, 1, 29), dt.date(2026, 2, 28), dt.UTC)
    assert selectors.Period(None, dt.date(2026, 3, 31), dt.UTC).previous() is None
