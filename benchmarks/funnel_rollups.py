"""The funnel of every survey over 24 months: from the rollups and from the rows, interleaved,
and the time of a full rebuild of the invitation rollups.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of the benchmark database> \\
        .venv/bin/python -m benchmarks.funnel_rollups [--tz Asia/Kolkata] [--repeat 7]

The database must be migrated (the migration fills the rollups). Nothing but the rollups is
written: `--rebuild` recounts them once, timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from zoneinfo import ZoneInfo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tz", default="UTC")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="also time a full rebuild")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        os.environ.pop(var, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.db import connection

    from metrics import funnel_rollups, selectors
    from surveys.models import Invitation

    tz = ZoneInfo(args.tz)
    last = Invitation.objects.order_by("-created_at").first().created_at.astimezone(tz).date()
    period = selectors.Period(last - dt.timedelta(days=730), last, tz)
    filters = selectors.Filters(period=period, kind="")
    print(
        f"database: {connection.settings_dict['NAME']} · {Invitation.objects.count():,} "
        f"invitations · funnel of every survey, {period.start} to {period.end} ({args.tz})"
    )

    if args.rebuild:
        started = time.perf_counter()
        rows = funnel_rollups.rebuild()
        print(f"rebuild: {rows:,} rollup rows in {time.perf_counter() - started:.1f} s")

    paths = {
        "rollups": lambda: selectors.funnel(filters=filters),
        "rows": lambda: selectors.funnel(filters=filters, use_rollups=False),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    results = {name: fn() for name, fn in paths.items()}  # warm-up
    assert results["rollups"] == results["rows"], "the two paths disagree"
    for _round in range(args.repeat):
        for name, fn in paths.items():
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    for name, values in samples.items():
        print(
            f"{name:8} median {statistics.median(values) * 1000:8.1f} ms · "
            f"best {min(values) * 1000:8.1f} ms · worst {max(values) * 1000:8.1f} ms"
        )
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
