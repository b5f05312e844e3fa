"""Selectors on SQLite: same numbers as scoring on random data, time-zone edges, exclusions."""

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
