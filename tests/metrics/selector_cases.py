"""Selectors against scoring on random datasets.

The reference side works from the raw answers in Python (the way a spreadsheet would); the
selectors side must give the same numbers from SQL aggregates.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest

from metrics import scoring, selectors
from surveys.models import Kind, Response
from tests.factories import AccountFactory, ContactFactory, CsatSurveyFactory, SurveyFactory

UTC = dt.UTC
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # UTC-3, no DST since 2019
TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9


def build_dataset(seed: int, size: int = 120):
    """Random answers over ~14 months for an NPS and a CSAT survey, two plans, some excluded."""
    rng = random.Random(seed)
    nps = SurveyFactory()
    csat = CsatSurveyFactory()
    accounts = [AccountFactory(plan=plan) for plan in ("Starter", "Business", "Starter")]
    contacts = [
        ContactFactory(account=accounts[i % 3], language=["en", "es"][i % 2]) for i in range(6)
    ]
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for _i in range(size):
        survey = nps if rng.random() < 0.7 else csat
        contact = rng.choice(contacts)
        score = rng.choice(list(survey.scale))
        if rng.random() < 0.05:
            score = survey.scale_min  # make sure zeros (NPS) and ones (CSAT) show up
        rows.append(
            Response(
                survey=survey,
                contact=contact,
                account=contact.account,
                score=score,
                category=survey.category_of(score),
                answered_at=start + dt.timedelta(minutes=rng.randrange(60 * 24 * 425)),
                excluded=rng.random() < 0.1,
            )
        )
    Response.objects.bulk_create(rows)
    return nps, csat, rows


def _reference(kind, answers):
    if kind == Kind.NPS:
        promoters = sum(1 for r in answers if r.category == 1)
        detractors = sum(1 for r in answers if r.category == -1)
        return scoring.nps(promoters, len(answers) - promoters - detractors, detractors)
    return scoring.proportion(sum(1 for r in answers if r.category == 1), len(answers))


def _headline(kind, result):
    return result["nps"] if kind == Kind.NPS else result["share"]


def _month(moment: dt.datetime, tz) -> dt.date:
    return moment.astimezone(tz).date().replace(day=1)


def check_selectors_match_scoring(seed: int) -> None:
    nps, csat, rows = build_dataset(seed)
    for tz in (UTC, SAO_PAULO, TOKYO):
        period = selectors.Period(dt.date(2025, 2, 1), dt.date(2025, 12, 31), tz)
        lo, hi = period.bounds()
        for survey in (nps, csat):
            filters = selectors.Filters(period=period, kind=survey.kind, surveys=(survey.pk,))
            counted = [
                r
                for r in rows
                if r.survey_id == survey.pk and not r.excluded and lo <= r.answered_at < hi
            ]
            summary = selectors.score_summary(filters=filters)
            assert summary["n"] == len(counted)
            assert _headline(survey.kind, summary) == _reference(survey.kind, counted)
            scores = [r.score for r in counted]
            mean = scoring.mean(len(scores), sum(scores), sum(s * s for s in scores))
            assert summary["mean"].mean == pytest.approx(mean.mean)
            assert summary["mean"].sd == pytest.approx(mean.sd)

            by_month = defaultdict(list)
            for r in counted:
                by_month[_month(r.answered_at, tz)].append(r)
            trend = selectors.trend(filters=filters, granularity="month")
            assert [row["bucket"] for row in trend] == sorted(by_month)
            for row in trend:
                assert row["n"] == len(by_month[row["bucket"]])
                assert _headline(survey.kind, row) == _reference(
                    survey.kind, by_month[row["bucket"]]
                )

            by_plan = defaultdict(list)
            for r in counted:
                by_plan[r.account.plan].append(r)
            breakdown = {
                row["group"]: row for row in selectors.breakdown(filters=filters, dimension="plan")
            }
            assert set(breakdown) == set(by_plan)
            for plan, answers in by_plan.items():
                assert _headline(survey.kind, breakdown[plan]) == _reference(survey.kind, answers)

            # The one-query dashboard gives exactly the same numbers as the separate selectors.
            board = selectors.dashboard(filters=filters, granularity="month", dimension="plan")
            assert _headline(survey.kind, board.summary) == _headline(survey.kind, summary)
            assert board.summary["mean"].mean == pytest.approx(summary["mean"].mean)
            assert [(r["bucket"], r["n"]) for r in board.trend] == [
                (r["bucket"], r["n"]) for r in trend
            ]
            assert {r["group"]: _headline(survey.kind, r) for r in board.breakdown} == {
                g: _headline(survey.kind, r) for g, r in breakdown.items()
            }
            histogram = defaultdict(int)
            for r in counted:
                histogram[r.score] += 1
            assert board.distribution == dict(histogram)

            english = [r for r in counted if r.contact.language == "en"]
            filtered = selectors.score_summary(
                filters=selectors.Filters(
                    period=period, kind=survey.kind, surveys=(survey.pk,), language="en"
                )
            )
            assert _headline(survey.kind, filtered) == _reference(survey.kind, english)


def check_month_edges_in_time_zone() -> None:
    """23:30 local on the last day of a month stays in that month; 00:30 is the next one."""
    survey = SurveyFactory()
    contact = ContactFactory()

    def answer(local: dt.datetime, score: int) -> None:
        Response.objects.create(
            survey=survey,
            contact=contact,
            account=contact.account,
            score=score,
            category=survey.category_of(score),
            answered_at=local,
        )

    answer(dt.datetime(2026, 1, 31, 23, 30, tzinfo=SAO_PAULO), 10)  # 2026-02-01 02:30 UTC
    answer(dt.datetime(2026, 2, 1, 0, 30, tzinfo=SAO_PAULO), 0)  # 2026-02-01 03:30 UTC
    answer(dt.datetime(2026, 1, 31, 23, 30, tzinfo=TOKYO), 8)  # 2026-01-31 14:30 UTC
    answer(dt.datetime(2026, 2, 1, 8, 0, tzinfo=TOKYO), 9)  # 2026-01-31 23:00 UTC

    def months(tz):
        filters = selectors.Filters(
            period=selectors.Period(None, None, tz), kind=Kind.NPS, surveys=(survey.pk,)
        )
        return [(row["bucket"], row["n"]) for row in selectors.trend(filters=filters)]

    jan, feb = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    assert months(SAO_PAULO) == [(jan, 3), (feb, 1)]
    assert months(UTC) == [(jan, 2), (feb, 2)]
    assert months(TOKYO) == [(jan, 1), (feb, 3)]

    january_sp = selectors.Filters(
        period=selectors.Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31), SAO_PAULO),
        kind=Kind.NPS,
        surveys=(survey.pk,),
    )
    assert selectors.score_summary(filters=january_sp)["n"] == 3
    board = selectors.dashboard(
        filters=january_sp.with_period(selectors.Period(None, None, SAO_PAULO))
    )
    assert [(row["bucket"], row["n"]) for row in board.trend] == [(jan, 3), (feb, 1)]
    days = selectors.trend(filters=january_sp, granularity="day")
    assert [(row["bucket"], row["n"]) for row in days] == [(dt.date(2026, 1, 31), 3)]
