"""Reads for reports, by subject; the names below are the package's public surface.

- `filters`: the period, the filters and `counted_responses`, the answers that count;
- `rollups`: the same counts from the rollups (per survey, account and UTC day or month), which
  the scores, the dashboard and the account lists read when the filters allow;
- `scores`: counts per kind, trends, breakdowns, the score distribution and the dashboard;
- `funnel`: invited, sent, clicked, answered, bounced and unsubscribed per survey;
- `accounts`: each account's scores, health, windows and revenue, and one account's page;
- `account_counts`: each account's answer counts per kind over a window, its last answer and
  the category of its latest NPS answer (what `accounts` scores from).

Every read counts only answers that count: `counted_responses` drops excluded (and quarantined)
responses, and the rollups hold only those, so no score anywhere includes them. Queries group
in SQL and return counts; Python only combines a bounded number of aggregate rows (periods x
segments x scale points), never individual responses.
"""

from .account_counts import LATEST_BY_CATEGORY, account_counts, latest_category
from .accounts import (
    AccountFilters,
    AccountRow,
    AccountScore,
    AccountWindows,
    CurrencyRevenue,
    account_contacts,
    account_kind_summaries,
    account_row,
    account_rows,
    account_rows_of,
    account_scores,
    account_timeline,
    account_windows,
    filtered_accounts,
    revenue,
)
from .filters import (
    COMPARE_RANGE_ERROR,
    DATE_RANGE_ERROR,
    DIMENSIONS,
    GRANULARITIES,
    MAX_DATE,
    MIN_DATE,
    PROPERTY_FILTER_ERROR,
    PROPERTY_KEY,
    QUARANTINED_CHOICES,
    Filters,
    Period,
    apply_filters,
    counted_responses,
    date_in_range,
    parse_property_filter,
)
from .funnel import funnel
from .scores import (
    NO_ANSWERS,
    ROLLING_WINDOWS,
    Counts,
    Dashboard,
    breakdown,
    bucket_count,
    bucket_start,
    buckets,
    change,
    dashboard,
    distribution,
    kind_summaries,
    monthly_trend,
    score_aggregates,
    score_result,
    score_summary,
    summary,
    trend,
)

__all__ = [
    "AccountFilters",
    "AccountRow",
    "AccountScore",
    "AccountWindows",
    "COMPARE_RANGE_ERROR",
    "Counts",
    "CurrencyRevenue",
    "DATE_RANGE_ERROR",
    "DIMENSIONS",
    "Dashboard",
    "Filters",
    "GRANULARITIES",
    "LATEST_BY_CATEGORY",
    "MAX_DATE",
    "MIN_DATE",
    "NO_ANSWERS",
    "PROPERTY_FILTER_ERROR",
    "PROPERTY_KEY",
    "Period",
    "QUARANTINED_CHOICES",
    "ROLLING_WINDOWS",
    "account_contacts",
    "account_counts",
    "account_kind_summaries",
    "account_row",
    "account_rows",
    "account_rows_of",
    "account_scores",
    "account_timeline",
    "account_windows",
    "apply_filters",
    "breakdown",
    "bucket_count",
    "bucket_start",
    "buckets",
    "change",
    "counted_responses",
    "dashboard",
    "date_in_range",
    "distribution",
    "filtered_accounts",
    "funnel",
    "kind_summaries",
    "latest_category",
    "monthly_trend",
    "parse_property_filter",
    "revenue",
    "score_aggregates",
    "score_result",
    "score_summary",
    "summary",
    "trend",
]
