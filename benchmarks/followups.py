"""Benchmark: alert evaluation per answer, and the follow-up queue on a large database.

    .venv/bin/python -m benchmarks.followups [--responses 1000000] [--rules 20] [--repeat 7]

Seeds (once) a PostgreSQL database of its own (BENCH_FOLLOWUPS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/npsapp_bench_followups; see benchmarks/seed.py), opens a
follow-up for every unhappy answer (INSERT ... SELECT, once), then times:

1. `fire_alerts` for one answer with N active rules (all evaluated in one aggregate query);
   the delivery rows it creates are rolled back, so every repeat does the same work;
2. the queue page's data for one owner: the first page of 50 open follow-ups and the
   90-day timing report (mean time to first action and to close);
3. the same for "everyone's" follow-ups;
4. the recovery sweeper over the last hour.

Targets: alert evaluation under 100 ms per answer (20 rules, most matching: one aggregate
query and one insert per match); the queue data under 500 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import ensure_seeded  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/npsapp_bench_followups"

# Answers older than 60 days have been worked and closed; recent ones are new, in progress or
# closed, as in a team that keeps up.
OPEN_FOLLOWUPS_SQL = """
INSERT INTO followups_followup (response_id, account_id, answered_at, category, status,
                                assignee_id, created_at, updated_at, first_action_at, closed_at)
SELECT r.id, r.account_id, r.answered_at, r.category, s.status, a.owner_id,
       r.answered_at, r.answered_at,
       CASE WHEN s.status <> 'new' THEN r.answered_at + (r.id % 48) * interval '1 hour' END,
       CASE WHEN s.status LIKE 'closed%' THEN r.answered_at + (r.id % 200) * interval '1 hour' END
FROM surveys_response r
LEFT JOIN accounts_account a ON a.id = r.account_id
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN r.answered_at < now() - interval '60 days'
            THEN CASE WHEN r.id % 2 = 0 THEN 'closed_won' ELSE 'closed_lost' END
        ELSE (ARRAY['new', 'in_progress', 'closed_won'])[1 + r.id % 3]
    END AS status
) s
WHERE r.category < 0 AND NOT r.excluded
ON CONFLICT (response_id) DO NOTHING
"""


def _time(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    url = os.environ.get("BENCH_FOLLOWUPS_DATABASE_URL", DEFAULT_URL)
    ensure_seeded(url, args.responses)
    os.environ["DATABASE_URL"] = url
    for var in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(var, None)  # eager tasks: nothing leaves the process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from followups import alerts, selectors, services
    from followups.models import AlertRule, FollowUp
    from surveys.models import Response, Survey

    if not FollowUp.objects.exists():
        with connection.cursor() as cursor:
            cursor.execute(OPEN_FOLLOWUPS_SQL)
            cursor.execute("ANALYZE followups_followup")
    survey = Survey.objects.order_by("pk").first()
    AlertRule.objects.filter(name__startswith="bench-").delete()
    for i in range(args.rules):
        AlertRule.objects.create(
            name=f"bench-{i}",
            survey=survey if i % 2 else None,
            on_negative=i % 3 == 0,
            score_at_most=6 if i % 3 == 1 else None,
            comment_words="cancel, expensive, slow" if i % 3 == 2 else "",
            mrr_above=Decimal(100 * i) if i % 4 == 0 else None,
            notify_owner=False,
            emails="bench@example.com",
        )
    response = Response.objects.filter(survey=survey, category=-1).order_by("-pk").first()
    owner = User.objects.filter(owned_accounts__isnull=False).order_by("pk").first()

    def fire() -> None:
        with transaction.atomic():
            alerts.fire_alerts(response=response)
            transaction.set_rollback(True)  # no delivery row, no email: same work each time

    def sweep() -> None:
        with transaction.atomic():
            services.sweep()
            transaction.set_rollback(True)

    def queue(scope: str):
        def run() -> None:
            list(selectors.queue(user=owner, scope=scope)[:50])
            since = timezone.now() - timedelta(days=90)
            selectors.timing_report(since=since, user=owner if scope != "all" else None)

        return run

    counts = (
        Response.objects.count(),
        FollowUp.objects.count(),
        FollowUp.objects.filter(status__in=FollowUp.OPEN).count(),
    )
    print(
        f"responses {counts[0]:,} · follow-ups {counts[1]:,} ({counts[2]:,} open) · "
        f"{args.rules} active rules"
    )
    for label, fn in (
        (f"fire_alerts, {args.rules} rules, one answer", fire),
        ("queue page data, one owner (50 rows + report)", queue("mine")),
        ("queue page data, everyone (50 rows + report)", queue("all")),
        ("sweeper, last hour", sweep),
    ):
        median, best = _time(fn, args.repeat)
        print(f"{label:50s} median {median * 1000:8.1f} ms   best {best * 1000:8.1f} ms")
    AlertRule.objects.filter(name__startswith="bench-").delete()


if __name__ == "__main__":
    main()
