"""Selectors on the real PostgreSQL: the same checks as the SQLite tier, plus the SQL the
benchmark compares against, so time-zone truncation and FILTER aggregates are exercised there."""

import pytest
from django.db import connection

from tests.metrics import selector_cases

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_runs_on_postgresql():
    assert connection.vendor == "postgresql"


@pytest.mark.parametrize("seed", [11, 12])
def test_selectors_match_scoring_on_random_data(seed):
    selector_cases.check_selectors_match_scoring(seed)


def test_month_edges_in_time_zone():
    selector_cases.check_month_edges_in_time_zone()
