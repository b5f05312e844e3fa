"""The reports' cheap paths on the real PostgreSQL: the funnel's plain-SQL outer join over
the ORM's query, the light account scores and the account category's subquery give the same
numbers as on SQLite."""

import pytest
from django.db import connection

from tests.metrics.test_account_category import (  # noqa: F401
    test_the_category_is_as_of_the_reference_date,
    test_the_category_is_that_of_the_most_recent_nps_answer,
)
from tests.metrics.test_funnel import (  # noqa: F401
    test_one_bounce_is_one_bounced_invitation,
    test_quarantined_and_excluded_answers_are_not_answered,
)
from tests.metrics.test_report_speed import (  # noqa: F401 (the fixture is used by name)
    accounts,
    test_account_list_pages_the_sorted_light_rows,
    test_account_scores_equal_account_rows,
    test_funnel_counts_each_invitation_by_its_own_outcome,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_runs_on_postgresql():
    assert connection.vendor == "postgresql"
