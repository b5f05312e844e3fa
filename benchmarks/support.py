"""Benchmark: the support API and the whole support page on 5,000 accounts, 500,000 tickets and
two years of daily usage for 3 metrics, against hand-written SQL for the same figures.

    .venv/bin/python -m benchmarks.support [--repeat 7] [--extras] [--tickets-per-account 100]

`--tickets-per-account N` seeds N tickets per account instead of 100 (1000: 5,000,000 tickets;
use another database, e.g. BENCH_SUPPORT_DATABASE_URL=.../support_bench_x10, which may be a copy
of the first made with CREATE DATABASE ... TEMPLATE: only its tickets are then replaced, the
usage is kept). `--parts` also times the hand-written statements split into their counts and
means (what a daily rollup could answer) and their exact percentiles (what only the rows can).

Uses its own PostgreSQL database (BENCH_SUPPORT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/support_bench): `benchmarks.seed.ensure_seeded` with 100,000
answers (accounts, contacts, the NPS/CSAT/CES surveys), then, once, inside PostgreSQL:
500,000 tickets over the last 730 days (100 per account; 5 channels, 30 assignees; first
replies and resolutions spread like real ones, 8% reopened, some unsolved or unanswered), every
CSAT answer's invitation naming a ticket of its account (`properties.ticket`), licensed seats,
and 5,000 x 730 x 3 = 10,950,000 daily usage values (active_users, events, reports).

Then, interleaved in the same run, for the last 365 days:
1. `GET /api/v1/metrics/support` (the view in-process with a staff user, JSON rendered; its
   summary from the ticket rollups, `metrics.support_rollups`);
2. hand-written SQL for the API's figures (one statement, written independently, no
   subquery), the API's baseline;
3. the whole `/reports/support/` page (summary, breakdowns by channel, assignee, plan and
   month, CSAT per ticket, two charts, template);
4. hand-written SQL for the page's figures (one statement: the breakdowns as UNION ALL of
   GROUP BYs and the CSAT join), the page's baseline;
and, for the record (no target), the adoption page and the accounts list (health from the
tickets, usage and ledger). It checks that the API's figures equal the hand-written
statement's and prints median, best and worst. Targets: API and page under 1 s and <= 1.5x
their baseline (ratio of medians).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks.seed import ensure_seeded  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/support_bench"
ACCOUNTS = 5_000
TICKETS_PER_ACCOUNT = 100
DAYS = 730
METRICS = ("active_users", "events", "reports")

TICKETS_SQL = """
WITH base AS (
    SELECT n, (SELECT min(id) FROM accounts_account) + n %% 5000 AS account_id,
           now() - (n::float / %(tickets)s) * interval '730 days'
               - random() * interval '1 hour' AS created,
           -- "+ 0 * n" makes each call depend on the row, so random() is drawn per ticket.
           -ln(1 - random() + 0 * n) * 110 AS reply,
           -ln(1 - random() + 0 * n) * 1300 AS work,
           random() + 0 * n AS u_solved, random() + 0 * n AS u_reopen,
           random() + 0 * n AS u_reply, random() + 0 * n AS u_replies
    FROM generate_series(0, %(tickets)s - 1) AS n
),
t AS (
    SELECT base.*,
           CASE WHEN u_reply < 0.03 THEN NULL ELSE created + reply * interval '1 minute' END
               AS first_reply_at,
           CASE WHEN u_solved < 0.92 THEN created + (reply + work) * interval '1 minute' END
               AS solved_at,
           u_reopen < 0.08 AS reopened,
           CASE WHEN u_reply < 0.03 THEN 0
                ELSE 1 + floor(-ln(1 - u_replies) * 1.3)::int END AS replies
    FROM base
)
INSERT INTO outcomes_ticket
    (account_id, source, external_id, subject, channel, requester_email, assignee, organization,
     status, created_at, first_reply_at, first_solved_at, solved_at, agent_replies, reopens,
     raw, recorded_at, updated_at)
SELECT account_id, 'api', 'b-' || n, '',
       (ARRAY['email', 'chat', 'web', 'phone', 'api'])[1 + n %% 5], '', 'agent-' || (n %% 30), '',
       CASE WHEN solved_at IS NULL OR solved_at > now() THEN 'open'
            WHEN solved_at < now() - interval '4 days' THEN 'closed' ELSE 'solved' END,
       created,
       CASE WHEN first_reply_at <= now() THEN first_reply_at END,
       CASE WHEN solved_at <= now() THEN
            CASE WHEN reopened THEN created + (solved_at - created) / 3 ELSE solved_at END END,
       CASE WHEN solved_at <= now() THEN solved_at END,
       CASE WHEN first_reply_at <= now() THEN replies ELSE 0 END,
       CASE WHEN reopened AND solved_at <= now() THEN 1 ELSE 0 END,
       '{}'::jsonb, now(), now()
FROM t
"""

CSAT_LINK_SQL = """
UPDATE surveys_invitation i
SET properties = i.properties || jsonb_build_object(
    'ticket', 'b-' || ((r.account_id - (SELECT min(id) FROM accounts_account))
                       + 5000 * (r.id %% %(per_account)s)))
FROM surveys_response r JOIN surveys_survey s ON s.id = r.survey_id
WHERE r.invitation_id = i.id AND s.kind = 'csat' AND r.account_id IS NOT NULL
"""

USAGE_SQL = """
INSERT INTO outcomes_usagerecord (account_id, day, metric, value, updated_at)
SELECT a.id, d::date, m.metric,
       CASE m.metric
           WHEN 'active_users' THEN round(a.seats * (0.3 + 0.6 * ((a.id * 37) %% 100) / 100.0)
                                          * (0.9 + 0.2 * random()))
           WHEN 'events' THEN round(a.seats * 12 * random())
           ELSE round(5 * random()) END,
       now()
FROM accounts_account a,
     generate_series(current_date - %(days)s, current_date - 1, interval '1 day') AS d,
     (VALUES ('active_users'), ('events'), ('reports')) AS m(metric)
"""

# The API's figures, hand-written: every aggregate in one pass over the period's tickets
# (times as float8 with date_part, the fast form).
HAND_API = """
SELECT count(*),
       count(*) FILTER (WHERE solved_at IS NOT NULL),
       count(*) FILTER (WHERE solved_at IS NOT NULL OR first_solved_at IS NOT NULL
                        OR reopens > 0),
       count(*) FILTER (WHERE reopens > 0),
       count(*) FILTER (WHERE solved_at IS NOT NULL AND agent_replies <= 1 AND reopens = 0),
       avg(date_part('epoch', first_reply_at - created_at) / 60),
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY date_part('epoch', first_reply_at - created_at) / 60),
       avg(date_part('epoch', solved_at - created_at) / 60),
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY date_part('epoch', solved_at - created_at) / 60)
FROM outcomes_ticket
WHERE created_at >= %(lo)s AND created_at < %(hi)s
"""

_FIGURES = """
    count(*), count(*) FILTER (WHERE solved_at IS NOT NULL),
    count(*) FILTER (WHERE solved_at IS NOT NULL AND agent_replies <= 1 AND reopens = 0),
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
        ORDER BY date_part('epoch', first_reply_at - created_at)),
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
        ORDER BY date_part('epoch', solved_at - created_at))
"""

# The page's figures, hand-written: the summary and each breakdown as a GROUP BY, and CSAT per
# ticket by first-reply bucket, channel and assignee, in one statement.
HAND_PAGE = f"""
WITH t AS (
    SELECT t.*, date_trunc('month', t.created_at AT TIME ZONE 'UTC') AS month
    FROM outcomes_ticket t
    WHERE t.created_at >= %(lo)s AND t.created_at < %(hi)s
),
c AS (
    SELECT r.category, t.channel, t.assignee,
           CASE WHEN t.first_reply_at IS NULL THEN 'none'
                WHEN t.first_reply_at - t.created_at < interval '1 hour' THEN 'a'
                WHEN t.first_reply_at - t.created_at < interval '4 hours' THEN 'b'
                WHEN t.first_reply_at - t.created_at < interval '24 hours' THEN 'c'
                ELSE 'd' END AS bucket
    FROM surveys_response r
    JOIN surveys_invitation i ON i.id = r.invitation_id
    JOIN outcomes_ticket t ON t.account_id = r.account_id
          AND t.external_id = COALESCE(i.properties ->> 'ticket', i.event_id)
    WHERE NOT r.excluded AND r.survey_id IN (SELECT id FROM surveys_survey WHERE kind = 'csat')
          AND t.created_at >= %(lo)s AND t.created_at < %(hi)s
)
SELECT 'all', NULL, {_FIGURES} FROM t
UNION ALL SELECT 'channel', channel, {_FIGURES} FROM t GROUP BY channel
UNION ALL SELECT 'assignee', assignee, {_FIGURES} FROM t GROUP BY assignee
UNION ALL SELECT 'plan', plan, {_FIGURES} FROM t GROUP BY plan
UNION ALL SELECT 'month', month::text, {_FIGURES} FROM t GROUP BY month
UNION ALL SELECT 'csat_' || kind, key, count(*), count(*) FILTER (WHERE category = 1),
                 NULL, NULL, NULL
FROM (SELECT 'bucket' AS kind, bucket AS key, category FROM c
      UNION ALL SELECT 'channel', channel, category FROM c
      UNION ALL SELECT 'assignee', assignee, category FROM c) x
GROUP BY kind, key
"""  # noqa: S608 - constants only


# --parts: the statements split into what a rollup of counts and sums per day could answer
# (counts and means) and what only the rows can (the exact percentiles), to show which part
# grows with the tickets. Not compared with the app; timed beside it.
HAND_API_COUNTS = """
SELECT count(*),
       count(*) FILTER (WHERE solved_at IS NOT NULL),
       count(*) FILTER (WHERE solved_at IS NOT NULL OR first_solved_at IS NOT NULL
                        OR reopens > 0),
       count(*) FILTER (WHERE reopens > 0),
       count(*) FILTER (WHERE solved_at IS NOT NULL AND agent_replies <= 1 AND reopens = 0),
       avg(date_part('epoch', first_reply_at - created_at) / 60),
       avg(date_part('epoch', solved_at - created_at) / 60)
FROM outcomes_ticket
WHERE created_at >= %(lo)s AND created_at < %(hi)s
"""

HAND_API_PERCENTILES = """
SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY date_part('epoch', first_reply_at - created_at) / 60),
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY date_part('epoch', solved_at - created_at) / 60)
FROM outcomes_ticket
WHERE created_at >= %(lo)s AND created_at < %(hi)s
"""

_PAGE_SOURCE = """
    SELECT t.channel, t.assignee, t.plan,
           date_trunc('month', t.created_at AT TIME ZONE 'UTC') AS month,
           t.solved_at IS NOT NULL AS solved,
           (t.solved_at IS NOT NULL AND t.agent_replies <= 1 AND t.reopens = 0) AS fcr,
           date_part('epoch', t.first_reply_at - t.created_at) / 60 AS reply,
           date_part('epoch', t.solved_at - t.created_at) / 60 AS resolution
    FROM outcomes_ticket t
    WHERE t.created_at >= %(lo)s AND t.created_at < %(hi)s
"""
_PAGE_SETS = "GROUPING SETS ((), (channel), (assignee), (plan), (month))"

HAND_PAGE_COUNTS = f"""
SELECT channel, assignee, plan, month, count(*), count(*) FILTER (WHERE solved),
       count(*) FILTER (WHERE fcr), count(reply), avg(reply), count(resolution), avg(resolution)
FROM ({_PAGE_SOURCE}) t GROUP BY {_PAGE_SETS}
"""  # noqa: S608 - constants only

HAND_PAGE_PERCENTILES = f"""
SELECT channel, assignee, plan, month,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY reply),
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY resolution)
FROM ({_PAGE_SOURCE}) t GROUP BY {_PAGE_SETS}
"""  # noqa: S608 - constants only


def ensure_outcomes(url: str, per_account: int) -> tuple[int, int]:
    """Seed the tickets (per_account for each of the 5,000 accounts) and the usage, each only
    when its count differs: a database copied from another (CREATE DATABASE ... TEMPLATE) keeps
    its usage and only has its tickets replaced."""
    tickets_wanted = ACCOUNTS * per_account
    usage_wanted = ACCOUNTS * DAYS * len(METRICS)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        tickets = conn.execute("SELECT count(*) FROM outcomes_ticket").fetchone()[0]
        usage = conn.execute("SELECT count(*) FROM outcomes_usagerecord").fetchone()[0]
        if tickets == tickets_wanted and usage == usage_wanted:
            return tickets, usage
        conn.execute("SELECT setseed(0.12)")
        if tickets != tickets_wanted:
            conn.execute("TRUNCATE outcomes_ticket RESTART IDENTITY")
            conn.execute("UPDATE accounts_account SET seats = 10 + (id * 7) %% 190", {})
            conn.execute(TICKETS_SQL, {"tickets": tickets_wanted})
            conn.execute(CSAT_LINK_SQL, {"per_account": per_account})
            print(f"[seed] tickets in {time.perf_counter() - started:.0f}s", flush=True)
        if usage != usage_wanted:
            conn.execute("TRUNCATE outcomes_usagerecord RESTART IDENTITY")
            conn.execute(USAGE_SQL, {"days": DAYS})
        tickets = conn.execute("SELECT count(*) FROM outcomes_ticket").fetchone()[0]
        usage = conn.execute("SELECT count(*) FROM outcomes_usagerecord").fetchone()[0]
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("outcomes_ticket", "outcomes_usagerecord", "surveys_invitation"):
            conn.execute(f"VACUUM ANALYZE {table}")
    print(
        f"[seed] {tickets:,} tickets and {usage:,} usage values in "
        f"{time.perf_counter() - started:.0f}s",
        flush=True,
    )
    return tickets, usage


def _time_interleaved(fns: dict, repeat: int) -> dict[str, tuple[list[float], object]]:
    samples: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    for fn in fns.values():
        fn()  # warm-up
    for _round in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            results[name] = fn()
            samples[name].append(time.perf_counter() - started)
    return {name: (samples[name], results[name]) for name in fns}


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.006)


def _same_report(a, b) -> bool:
    def figures(summary):
        times = (summary.first_reply, summary.resolution)
        counts = (summary.created, summary.solved, summary.ever_solved, summary.reopened)
        return counts + (summary.fcr,), [(t.n, t.mean, t.median, t.p90) for t in times]

    def same(x, y) -> bool:
        (counts_x, times_x), (counts_y, times_y) = figures(x), figures(y)
        return counts_x == counts_y and all(
            n == m and all(_close(u, v) for u, v in zip(rest, other, strict=True))
            for (n, *rest), (m, *other) in zip(times_x, times_y, strict=True)
        )

    return same(a.summary, b.summary) and all(
        [key for key, _s in a.by[name]] == [key for key, _s in b.by[name]]
        and all(same(x, y) for (_k, x), (_l, y) in zip(a.by[name], b.by[name], strict=True))
        for name in b.by
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--extras", action="store_true", help="Also time adoption and accounts.")
    parser.add_argument(
        "--rows",
        action="store_true",
        help="Also time the page read from the tickets (REPORT_ROLLUPS off), alternating.",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="Also time the hand-written statements split into counts/means and percentiles.",
    )
    parser.add_argument(
        "--tickets-per-account",
        type=int,
        default=TICKETS_PER_ACCOUNT,
        help="Tickets seeded for each of the 5,000 accounts (100: 500,000 tickets).",
    )
    args = parser.parse_args()

    url = os.environ.get("BENCH_SUPPORT_DATABASE_URL", DEFAULT_URL)
    ensure_seeded(url, 100_000)
    tickets, usage = ensure_outcomes(url, args.tickets_per_account)

    os.environ["DATABASE_URL"] = url
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        os.environ.pop(var, None)
    os.environ["STATIC_MANIFEST"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import RequestFactory, override_settings
    from rest_framework.test import APIRequestFactory, force_authenticate

    from metrics import support_api, support_views, views

    today = dt.date.today()
    start, end = today - dt.timedelta(days=365), today
    params = {"start": str(start), "end": str(end), "tz": "UTC"}
    staff = User(username="bench", is_staff=True, is_active=True, is_superuser=True)
    api_view = support_api.SupportMetricsView.as_view()

    def api():
        request = APIRequestFactory().get("/api/v1/metrics/support", params)
        force_authenticate(request, user=staff)
        response = api_view(request)
        assert response.status_code == 200
        response.render()
        return response.data

    def page(view, path, query):
        def run():
            request = RequestFactory().get(path, query)
            request.user = staff
            response = view(request)
            assert response.status_code == 200
            return response.content

        return run

    def from_rows(run):
        def without_rollups():
            with override_settings(REPORT_ROLLUPS=False):
                return run()

        return without_rollups

    lo = dt.datetime.combine(start, dt.time.min, dt.UTC)
    hi = dt.datetime.combine(end, dt.time.min, dt.UTC)

    def hand(statement):
        def run():
            # The app's statement settings (JIT off, sorts in memory), so both sides run alike.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
                )
                cursor.execute(statement, {"lo": lo, "hi": hi})
                return cursor.fetchall()

        return run

    fns = {
        "api": api,
        "hand_api": hand(HAND_API),
        "page": page(support_views.support, "/reports/support/", params),
        "page_default": page(support_views.support, "/reports/support/", {}),
        "hand_page": hand(HAND_PAGE),
    }
    if args.rows:
        fns["page_rows"] = from_rows(fns["page"])
    if args.parts:
        fns["hand_api_counts"] = hand(HAND_API_COUNTS)
        fns["hand_api_percentiles"] = hand(HAND_API_PERCENTILES)
        fns["hand_page_counts"] = hand(HAND_PAGE_COUNTS)
        fns["hand_page_percentiles"] = hand(HAND_PAGE_PERCENTILES)
    if args.extras:
        fns["adoption"] = page(support_views.adoption, "/reports/adoption/", {})
        fns["accounts"] = page(views.account_list, "/reports/accounts/", {})
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    timings = _time_interleaved(fns, args.repeat)

    # The same figures: the API against the hand-written statement.
    got = timings["api"][1]
    (row,) = timings["hand_api"][1]
    created, solved, ever, reopened, fcr, rmean, (rmed, rp90), smean, (smed, sp90) = row
    assert (got["tickets_created"], got["tickets_solved"]) == (created, solved)
    assert _close(got["solve_rate_pct"], 100 * solved / created)
    assert _close(got["fcr_pct"], 100 * fcr / solved)
    assert _close(got["reopen_pct"], 100 * reopened / ever)
    for key, values in (("first_reply_minutes", (rmean, rmed, rp90)),
                        ("resolution_minutes", (smean, smed, sp90))):  # fmt: skip
        for name, value in zip(("mean", "median", "p90"), values, strict=True):
            assert _close(got[key][name], value), (key, name, got[key][name], value)

    if args.rows:
        # The same figures on the page, group for group, from the rollups and the tickets.
        from metrics import support_selectors

        filters = support_views.SupportFilterForm(params).support_filters()
        from_rollups = support_selectors.support_report(filters=filters)
        with override_settings(REPORT_ROLLUPS=False):
            from_tickets = support_selectors.support_report(filters=filters)
        assert _same_report(from_rollups, from_tickets)

    print(
        f"database: {connection.settings_dict['NAME']} · 5,000 accounts · {tickets:,} tickets "
        f"({created:,} created in the year) · {usage:,} usage values · {start} to {end} · "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs · {args.repeat} rounds"
    )
    labels = {
        "api": "GET /api/v1/metrics/support, one year",
        "hand_api": "hand-written SQL, the API's figures",
        "page": "whole /reports/support/ page, one year",
        "page_default": "  the page's default period (to date)",
        "hand_page": "hand-written SQL, the page's figures",
        "page_rows": "  the page from the tickets (no rollups)",
        "hand_api_counts": "  the API's counts and means only",
        "hand_api_percentiles": "  the API's two percentile sorts only",
        "hand_page_counts": "  the page's counts and means only",
        "hand_page_percentiles": "  the page's ten percentile sorts only",
        "adoption": "whole /reports/adoption/ page",
        "accounts": "whole /reports/accounts/ page (health)",
    }
    print(f"{'':42} {'median':>9} {'best':>9} {'worst':>9}")
    for key in fns:
        values = timings[key][0]
        print(
            f"{labels[key]:42} {statistics.median(values) * 1000:7.0f}ms "
            f"{min(values) * 1000:7.0f}ms {max(values) * 1000:7.0f}ms"
        )
    medians = {key: statistics.median(timings[key][0]) for key in fns}
    api_ratio = medians["api"] / medians["hand_api"]
    page_ratio = medians["page"] / medians["hand_page"]
    print(
        f"ratios of medians: API {api_ratio:.2f}x its baseline, page {page_ratio:.2f}x its "
        "baseline (targets <= 1.5x and under 1 s)"
    )
    ok = api_ratio <= 1.5 and page_ratio <= 1.5 and medians["api"] < 1 and medians["page"] < 1
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
