"""Benchmark: the dashboard's data on 1,000,000 responses, selectors vs hand-written SQL.

    .venv/bin/python -m benchmarks.reports [--responses 1000000] [--tz UTC] [--repeat 7]

With `--responses 10000000` it seeds ten million answers (13 million invitations) the same way;
give each size its own database (BENCH_DATABASE_URL) to keep both.

Seeds (once) a PostgreSQL database of its own (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/npsapp_bench; see benchmarks/seed.py), then times, in the
same run and on the same connection:

1. `selectors.dashboard(...)`: summary, monthly trend, breakdown by plan and the 0-10
   distribution of the NPS survey over its 24 months, as the dashboard asks for them (one
   grouped query plus a few aggregate rows summed in Python, and the scoring math);
2. the same numbers through the separate selectors (summary, trend, breakdown: three queries);
3. one hand-written SQL statement (GROUPING SETS) computing the same counts, plus the scoring
   math on its rows.

It checks that all three give identical numbers, prints median and best times, and the ratio
selectors / hand-written SQL. Targets: ratio <= 1.5 and under 1 s for the dashboard data.
The selectors read the rollups (README "Rollups"); `--raw` also times every page with
REPORT_ROLLUPS off, interleaved, and `--rebuild` times a whole rebuild of the rollups first.
It also times the whole pages as staff open them (views called with a staff user): /reports/
with its default last 365 days and over the 24 months (every tile with its previous period,
the funnel and the revenue table), and /reports/accounts/ (every account scored, one page
shown), the account page of the account with the most answers, and the funnel of every survey
over the 24 months. Aim: under about 1 s each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import ensure_seeded  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/npsapp_bench"

HAND_SQL = """
SELECT date_trunc('month', r.answered_at AT TIME ZONE %(tz)s) AS month,
       a.plan AS plan,
       r.score AS score,
       GROUPING(date_trunc('month', r.answered_at AT TIME ZONE %(tz)s), a.plan, r.score) AS g,
       count(*) AS n,
       count(*) FILTER (WHERE r.category = 1) AS promoters,
       count(*) FILTER (WHERE r.category = 0) AS passives,
       count(*) FILTER (WHERE r.category = -1) AS detractors,
       sum(r.score) AS total,
       sum(r.score * r.score) AS squares
FROM surveys_response r
LEFT JOIN accounts_account a ON a.id = r.account_id
WHERE r.survey_id = %(survey)s AND NOT r.excluded
  AND r.answered_at >= %(lo)s AND r.answered_at < %(hi)s
GROUP BY GROUPING SETS ((), (1), (2), (3))
"""


# The same numbers from one plain GROUP BY at the (month, plan, score) grain, summed by hand:
# often faster than GROUPING SETS, so the run takes the faster of the two as the baseline.
HAND_SQL_FINE = """
SELECT date_trunc('month', r.answered_at AT TIME ZONE %(tz)s) AS month,
       a.plan AS plan,
       r.score AS score,
       r.category AS category,
       count(*) AS n
FROM surveys_response r
LEFT JOIN accounts_account a ON a.id = r.account_id
WHERE r.survey_id = %(survey)s AND NOT r.excluded
  AND r.answered_at >= %(lo)s AND r.answered_at < %(hi)s
GROUP BY 1, 2, 3, 4
"""


def _time_interleaved(fns: dict, repeat: int) -> dict[str, tuple[float, float, object]]:
    """{name: (median s, best s, last result)}; one warm-up each, then `repeat` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    for fn in fns.values():
        fn()  # warm-up: plans and caches, as on a dashboard that is in use
    for _round in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            results[name] = fn()
            samples[name].append(time.perf_counter() - started)
    return {
        name: (statistics.median(values), min(values), results[name])
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--tz", default="UTC")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--raw",
        action="store_true",
        help="Also time every page reading the answers themselves (REPORT_ROLLUPS off), "
        "interleaved with the pages reading the rollups: the before and after of one run.",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="Time `manage.py rebuild_rollups` over the whole database first.",
    )
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_seeded(url, args.responses)

    os.environ["DATABASE_URL"] = url
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        os.environ.pop(var, None)
    os.environ["STATIC_MANIFEST"] = "false"  # no collectstatic needed to render the page
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import gc

    import django

    django.setup()
    # As a web worker is when it serves (gunicorn.conf.py, post_worker_init): Django and the
    # app loaded, then moved out of the cyclic collector's reach, so a full collection during
    # a page scans the page's objects, not every module, class and this script's setup.
    gc.freeze()

    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Count
    from django.test import RequestFactory, override_settings

    from metrics import funnel_rollups, rollups, scoring, selectors, views
    from surveys.models import Kind, Response, Survey

    if args.rebuild:
        for label, module in (("answer", rollups), ("invitation", funnel_rollups)):
            started = time.perf_counter()
            rows = module.rebuild()
            print(
                f"rebuild_rollups, {label} rollups: {rows:,} rows "
                f"in {time.perf_counter() - started:.1f} s "
                f"(load average {os.getloadavg()[0]:.1f}; {Response.objects.count():,} answers)"
            )

    tz = ZoneInfo(args.tz)
    survey = Survey.objects.get(slug="bench-nps")
    first, last = (
        Response.objects.filter(survey=survey).order_by("answered_at").first().answered_at,
        Response.objects.filter(survey=survey).order_by("answered_at").last().answered_at,
    )
    period = selectors.Period(first.astimezone(tz).date(), last.astimezone(tz).date(), tz)
    filters = selectors.Filters(period=period, kind=Kind.NPS, surveys=(survey.pk,))
    lo, hi = period.bounds()
    total = Response.objects.count()
    counted = Response.objects.filter(survey=survey).count()
    print(
        f"database: {connection.settings_dict['NAME']} · {total:,} responses in all, "
        f"{counted:,} in the NPS survey · {period.start} to {period.end} ({args.tz})"
    )

    def through_dashboard_selector():
        return selectors.dashboard(filters=filters, granularity="month", dimension="plan")

    year = selectors.Period(period.end - dt.timedelta(days=364), period.end, tz)
    year_filters = filters.with_period(year)

    def through_dashboard_selector_year():
        return selectors.dashboard(filters=year_filters, granularity="month", dimension="plan")

    def through_separate_selectors():
        return (
            selectors.score_summary(filters=filters),
            selectors.trend(filters=filters, granularity="month"),
            selectors.breakdown(filters=filters, dimension="plan"),
        )

    def through_hand_sql():
        with connection.cursor() as cursor:
            cursor.execute(HAND_SQL, {"tz": args.tz, "survey": survey.pk, "lo": lo, "hi": hi})
            rows = cursor.fetchall()
        summary, trend, plans, histogram = None, {}, {}, {}
        for month, plan, score, g, n, promoters, passives, detractors, _total, _sq in rows:
            result = scoring.nps(promoters, passives, detractors)
            if g == 0b111:
                summary = result
            elif g == 0b011:
                trend[month.date()] = result
            elif g == 0b101:
                plans[plan] = result
            else:
                histogram[score] = n
        return summary, trend, plans, histogram

    def through_hand_sql_fine():
        with connection.cursor() as cursor:
            cursor.execute(HAND_SQL_FINE, {"tz": args.tz, "survey": survey.pk, "lo": lo, "hi": hi})
            rows = cursor.fetchall()
        overall = [0, 0, 0]
        months: dict = {}
        plans: dict = {}
        histogram: dict = {}
        for month, plan, score, category, n in rows:
            slot = 1 - category  # promoters, passives, detractors
            overall[slot] += n
            months.setdefault(month.date(), [0, 0, 0])[slot] += n
            plans.setdefault(plan, [0, 0, 0])[slot] += n
            histogram[score] = histogram.get(score, 0) + n
        return (
            scoring.nps(*overall),
            {key: scoring.nps(*value) for key, value in months.items()},
            {key: scoring.nps(*value) for key, value in plans.items()},
            histogram,
        )

    # Interleaved rounds, so load from other processes hits every variant alike.
    timings = _time_interleaved(
        {
            "dashboard": through_dashboard_selector,
            "dashboard_year": through_dashboard_selector_year,
            "separate": through_separate_selectors,
            "hand": through_hand_sql,
            "hand_fine": through_hand_sql_fine,
        },
        args.repeat,
    )
    board = timings["dashboard"][2]
    separate = timings["separate"][2]

    # Same numbers, every way.
    summary, trend, plans, histogram = timings["hand"][2]
    assert timings["hand_fine"][2] == timings["hand"][2], "the hand-written statements disagree"
    assert board.summary["nps"] == summary == separate[0]["nps"], "summary differs"
    assert {row["bucket"]: row["nps"] for row in board.trend} == trend, "trend differs"
    assert {row["bucket"]: row["nps"] for row in separate[1]} == trend, "trend differs"
    assert {row["group"]: row["nps"] for row in board.breakdown} == plans, "breakdown differs"
    assert {row["group"]: row["nps"] for row in separate[2]} == plans, "breakdown differs"
    assert board.distribution == histogram, "distribution differs"

    # A superuser: passes any permission guard of the pages without a database row.
    staff = User(username="bench", is_staff=True, is_active=True, is_superuser=True)

    def page(view, path, params):
        request = RequestFactory().get(path, params)
        request.user = staff

        def render():
            response = view(request)
            assert response.status_code == 200
            return response

        return render

    months = {"start": str(period.start), "end": str(period.end), "tz": args.tz}
    largest = (
        Response.objects.filter(account__isnull=False)
        .values("account__external_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()["account__external_id"]
    )

    def account_page(request_path):
        request = RequestFactory().get(request_path)
        request.user = staff

        def render():
            response = views.account_detail(request, external_id=largest)
            assert response.status_code == 200
            return response

        return render

    def funnel_24_months():
        return selectors.funnel(filters=replace(filters, kind="", surveys=()))

    page_fns = {
        "page_survey": page(
            views.dashboard, "/reports/", {"kind": "nps", "survey": survey.slug, **months}
        ),
        "page_default": page(views.dashboard, "/reports/", {}),
        "page_months": page(views.dashboard, "/reports/", {"kind": "nps", **months}),
        "page_accounts": page(views.account_list, "/reports/accounts/", {}),
        "page_account": account_page(f"/reports/accounts/{largest}/"),
        "funnel": funnel_24_months,
    }
    if args.raw:

        def from_answers(fn):
            def run():
                with override_settings(REPORT_ROLLUPS=False):
                    return fn()

            return run

        page_fns.update({f"{key} raw": from_answers(fn) for key, fn in list(page_fns.items())})
    pages = _time_interleaved(page_fns, max(3, args.repeat // 2))

    nps = board.summary["nps"]
    print(
        f"NPS {nps.score:.2f} ± {nps.margin:.2f} (n={nps.n:,}), {len(board.trend)} months, "
        f"{len(board.breakdown)} plans; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    labels = {
        "dashboard": "selectors.dashboard (1 query)",
        "dashboard_year": "selectors.dashboard, default last 365 days",
        "separate": "separate selectors (3 queries)",
        "hand": "hand-written SQL, GROUPING SETS",
        "hand_fine": "hand-written SQL, plain GROUP BY",
    }
    print(f"{'':46} {'median':>9} {'best':>9}")
    for key, label in labels.items():
        median, best, _result = timings[key]
        print(f"{label:46} {median * 1000:7.0f}ms {best * 1000:7.0f}ms")
    page_labels = {
        "page_survey": "whole /reports/ page, NPS survey, 24 months",
        "page_default": "whole /reports/ page, default last 365 days",
        "page_months": "whole /reports/ page, all NPS, 24 months",
        "page_accounts": "whole /reports/accounts/ page (5,000 scored)",
        "page_account": "whole account page, the largest account",
        "funnel": "funnel of every survey, 24 months (selector)",
    }
    for key, label in page_labels.items():
        median, best, _result = pages[key]
        line = f"{label:46} {median * 1000:7.0f}ms {best * 1000:7.0f}ms"
        if f"{key} raw" in pages:
            raw_median, raw_best, _result = pages[f"{key} raw"]
            line += f"   from the answers: {raw_median * 1000:7.0f}ms {raw_best * 1000:7.0f}ms"
        print(line)
    slow_pages = [key for key in page_labels if pages[key][0] >= 1.0]
    baseline = min(timings["hand"][0], timings["hand_fine"][0])
    ratio = timings["dashboard"][0] / baseline
    print(
        f"ratio selectors.dashboard / fastest hand-written SQL (medians): {ratio:.2f}x "
        f"(target <= 1.5x); separate selectors: {timings['separate'][0] / baseline:.2f}x"
    )
    print(f"pages at or over 1 s: {', '.join(slow_pages) or 'none'}")
    ok = ratio <= 1.5 and timings["dashboard"][0] < 1.0 and not slow_pages
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
