"""The reports' cheap paths on the real PostgreSQL: the funnel's plain-SQL outer join over
the ORM's query, and the light account scores, give the same numbers as on SQLite."""

import pytest
from django.db import connection

from tests.metrics.test_report_speed import (  # noqa: F401 (the fixture is used by name)
    accounts,
    test_account_list_pages_the_sorted_light_rows,
    test_account_scores_equal_account_rows,
    test_funnel_counts_invitations_of_contacts_that_never_bounced,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_runs_on_postgresql():
    assert connection.vendor == "postgresql"
