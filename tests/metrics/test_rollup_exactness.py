"""The rollups are exact: for random answers, random writes after them (exclusions, quarantine
and release, re-answers, moved answers, deletes, bulk updates, a deleted account) and random
filters, periods and time zones, every figure read through the rollups equals the one read
from the answers themselves (REPORT_ROLLUPS off), and the rows the triggers kept equal the rows
`rebuild` computes from scratch. On PostgreSQL, with the triggers the migrations install."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.models import Account
from metrics import rollups, selectors
from metrics.selectors.account_counts import _ACCOUNT_ZERO, LATEST_BY_CATEGORY
from surveys.models import Kind, Response
from tests.factories import (
    AccountFactory,
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    StaffFactory,
    SurveyFactory,
)

UTC = dt.UTC
ZONES = [
    UTC,
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("Asia/Kolkata"),  # +05:30: edges that are not whole hours
    ZoneInfo("Pacific/Kiritimati"),  # +14
    ZoneInfo("America/New_York"),  # daylight saving time
]
# Answers fall in ~5 months around month ends; periods start and end anywhere in them.
ORIGIN = dt.datetime(2025, 10, 20, tzinfo=UTC)
SPAN_MINUTES = 150 * 24 * 60

answers = st.lists(
    st.tuples(
        st.integers(0, 2),  # survey
        st.integers(0, 8),  # contact (8: no account)
        st.floats(0, 1),  # score, as a fraction of the scale
        st.integers(0, SPAN_MINUTES),  # minutes after ORIGIN
        st.booleans(),  # excluded
    ),
    min_size=1,
    max_size=40,
)
writes = st.lists(
    st.tuples(
        st.sampled_from(
            ["exclude", "include", "quarantine", "release", "reanswer", "move", "delete"]
        ),
        st.integers(0, 39),  # which answer (modulo how many there are)
        st.floats(0, 1),  # new score fraction
        st.integers(0, SPAN_MINUTES),  # new time
    ),
    max_size=12,
)
bulk = st.sampled_from(["none", "exclude_survey", "shift_all", "delete_account", "delete_old"])
dates = st.dates(min_value=dt.date(2025, 10, 1), max_value=dt.date(2026, 4, 10))
filters_strategy = st.fixed_dictionaries(
    {
        "start": st.one_of(st.none(), dates),
        "length": st.integers(0, 160),
        "zone": st.sampled_from(ZONES),
        "kind": st.sampled_from([Kind.NPS, Kind.CSAT, Kind.CES]),
        "one_survey": st.booleans(),
        "plan": st.sampled_from(["", "Starter", "Business"]),
        "owner": st.booleans(),
        "account": st.booleans(),
        "granularity": st.sampled_from(["day", "week", "month"]),
        "dimension": st.sampled_from(["plan", "segment", "region", "status", "owner", "survey"]),
        "window": st.sampled_from([None, 30]),
    }
)


def _score(survey, fraction: float) -> int:
    low, high = survey.scale_min, survey.scale_max
    return min(high, low + int(fraction * (high - low + 1)))


def _rollup_rows() -> set[tuple]:
    """The rollup rows that hold something (all-zero rows are the same as none)."""
    columns = ", ".join(rollups.COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT survey_id, account_id, grain, period, {columns} FROM {rollups.TABLE}"
        )
        return {row for row in cursor.fetchall() if any(row[4:])}


def _both(function, **kwargs):
    """(through the rollups, from the answers)."""
    rolled = function(**kwargs)
    with override_settings(REPORT_ROLLUPS=False):
        raw = function(**kwargs)
    return rolled, raw


class RollupExactness(TestCase):
    @classmethod
    def setUpTestData(cls):
        owners = [StaffFactory(username="ana"), StaffFactory(username="bruno")]
        cls.surveys = [SurveyFactory(), CsatSurveyFactory(), CesSurveyFactory()]
        cls.accounts = [
            AccountFactory(plan="Starter", segment="SMB", region="LATAM", owner=owners[0]),
            AccountFactory(plan="Business", segment="SMB", region="Europe", owner=owners[1]),
            AccountFactory(plan="Starter", segment="Enterprise", status="churned"),
            AccountFactory(plan="Business", segment="Mid-market", owner=owners[0]),
        ]
        cls.contacts = [ContactFactory(account=cls.accounts[i % 4]) for i in range(8)]
        cls.contacts.append(ContactFactory(account=None))

    def _store(self, specs) -> list[Response]:
        rows = []
        for survey_index, contact_index, fraction, minutes, excluded in specs:
            survey, contact = self.surveys[survey_index], self.contacts[contact_index]
            score = _score(survey, fraction)
            rows.append(
                Response(
                    survey=survey,
                    contact=contact,
                    account=contact.account,
                    score=score,
                    category=survey.category_of(score),
                    answered_at=ORIGIN + dt.timedelta(minutes=minutes),
                    excluded=excluded,
                )
            )
        return Response.objects.bulk_create(rows)

    def _write(self, stored: list[Response], changes, bulk_change: str) -> None:
        for action, index, fraction, minutes in changes:
            response = stored[index % len(stored)]
            if response.pk is None:
                continue
            if action == "exclude":
                response.excluded = True
            elif action == "include":
                response.excluded, response.quarantined = False, False
            elif action == "quarantine":
                response.excluded, response.quarantined = True, True
            elif action == "release":
                response.excluded = False
                response.quarantined = False
            elif action == "reanswer":
                response.score = _score(response.survey, fraction)
                response.category = response.survey.category_of(response.score)
            elif action == "move":
                response.answered_at = ORIGIN + dt.timedelta(minutes=minutes)
            if action == "delete":
                response.delete()
                response.pk = None
            else:
                response.save()
        if bulk_change == "exclude_survey":
            Response.objects.filter(survey=self.surveys[1]).update(excluded=True)
        elif bulk_change == "shift_all":
            for response in Response.objects.all():
                response.answered_at += dt.timedelta(hours=7)
                response.save(update_fields=["answered_at"])
        elif bulk_change == "delete_account":
            Account.objects.filter(pk=self.accounts[1].pk).delete()  # answers keep no account
        elif bulk_change == "delete_old":
            Response.objects.filter(answered_at__lt=ORIGIN + dt.timedelta(days=40)).delete()

    def _filters(self, drawn) -> selectors.Filters:
        start = drawn["start"]
        end = None if start is None else start + dt.timedelta(days=drawn["length"])
        survey = next(s for s in self.surveys if s.kind == drawn["kind"])
        return selectors.Filters(
            period=selectors.Period(start, end, drawn["zone"]),
            kind=drawn["kind"],
            surveys=(survey.pk,) if drawn["one_survey"] else (),
            plan=drawn["plan"],
            owner=self.accounts[0].owner_id if drawn["owner"] else None,
            account=self.accounts[3].pk if drawn["account"] else None,
        )

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(specs=answers, changes=writes, bulk_change=bulk, drawn=filters_strategy)
    def test_every_figure_from_rollups_equals_the_answers(self, specs, changes, bulk_change, drawn):
        stored = self._store(specs)
        self._write(stored, changes, bulk_change)
        filters = self._filters(drawn)
        granularity, dimension = drawn["granularity"], drawn["dimension"]

        rolled, raw = _both(selectors.score_summary, filters=filters)
        assert rolled == raw
        kinds = {survey.pk: survey.kind for survey in self.surveys}
        rolled, raw = _both(selectors.kind_summaries, filters=filters, kinds=kinds)
        assert rolled == raw
        rolled, raw = _both(
            selectors.trend,
            filters=filters,
            granularity=granularity,
            window_days=drawn["window"],
        )
        assert rolled == raw
        rolled, raw = _both(selectors.breakdown, filters=filters, dimension=dimension)
        assert {row["group"]: row for row in rolled} == {row["group"]: row for row in raw}
        assert [row["n"] for row in rolled] == [row["n"] for row in raw]  # largest first
        rolled, raw = _both(selectors.distribution, filters=filters)
        assert rolled == raw
        rolled, raw = _both(
            selectors.dashboard, filters=filters, granularity=granularity, dimension=dimension
        )
        assert (rolled.summary, rolled.trend, rolled.distribution) == (
            raw.summary,
            raw.trend,
            raw.distribution,
        )
        assert {row["group"]: row for row in rolled.breakdown} == {
            row["group"]: row for row in raw.breakdown
        }
        assert rolled.survey_distributions == raw.survey_distributions

        # Each account's counts over a window ending at an arbitrary instant.
        until = ORIGIN + dt.timedelta(minutes=drawn["length"] * 997)
        for accounts in (None, Account.objects.filter(plan=drawn["plan"] or "Starter")):
            rolled, raw = _both(
                selectors.account_counts,
                accounts=accounts,
                since=until - dt.timedelta(days=drawn["length"] % 90 + 1, hours=5),
                until=until,
                last_answer_since=until - dt.timedelta(days=120),
                category_since=until - dt.timedelta(days=60),
            )
            # The per-category times differ by design: the rollups' path gives only the
            # latest category's (all `latest_category` reads); a sum over no CES answer is
            # None in SQL and 0 from the rollups (both read as `or 0`).
            times = {key for _code, key in LATEST_BY_CATEGORY}

            def comparable(counts, times=times):
                return {
                    key: (value or 0) if key == "ces_total" else value
                    for key, value in counts.items()
                    if key not in times
                }

            for pk in set(rolled) | set(raw):
                mine, theirs = rolled.get(pk, _ACCOUNT_ZERO), raw.get(pk, _ACCOUNT_ZERO)
                assert comparable(mine) == comparable(theirs)
                assert selectors.latest_category(mine) == selectors.latest_category(theirs)

        # What the triggers kept is what a rebuild computes from the answers.
        kept = _rollup_rows()
        rollups.rebuild()
        assert _rollup_rows() == kept
