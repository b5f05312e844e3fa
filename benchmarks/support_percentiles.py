"""Benchmark: how fast exact ticket-time percentiles could be read if a rollup held histograms
of the times — the best case of the design in benchmarks/README.md ("Ten times the tickets"),
measured on the support benchmark's database without building it into the app.

    .venv/bin/python -m benchmarks.support_percentiles [--buckets-per-e 40 200] [--repeat 7]

Run `benchmarks.support` first (it seeds the database; BENCH_SUPPORT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/support_bench). For each resolution K (buckets per e-fold of
1 + minutes: each bucket about 1/K wide, relative), it builds, on that database only, and drops
again at the end (unless `--keep`):

- a histogram table, as a rollup would keep it: tickets per (UTC month of creation, channel,
  assignee, time, bucket), for the first reply and the resolution;
- an index per time on (bucket, created_at) including the time's timestamp, so one bucket of
  one period is an index-only range.

Then, for the 12 whole UTC months before the current one, interleaved, it times:

1. `histogram`: the period's histogram summed per time and bucket (what the API would read
   from the rollup);
2. `bucket reads`: the four order statistics of the API (median and p90 of both times) from
   it: for each, the bucket holding percentile_cont's rank, read and sorted to the rank (and
   its upper neighbour, from the next non-empty bucket when the rank is a bucket's last);
3. `rows`: percentile_cont over the period's rows, one statement (what the app runs today).

It checks that 1 + 2 give exactly the figures of 3 and prints the median, best and worst of
each, the histogram's rows in the period and the tickets in each bucket read. The page's
breakdowns would repeat 2 for every channel, assignee, plan and month; this measures the
cheapest case, the API's.
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

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/support_bench"
QUANTILES = (0.5, 0.9)
# Each time in minutes, written as the app's support statements write it (float8).
TIMES = {
    "reply": ("first_reply_at", "date_part('epoch', first_reply_at - created_at) / 60"),
    "resolution": ("solved_at", "date_part('epoch', solved_at - created_at) / 60"),
}


def _bucket(expr: str, k: int) -> str:
    """Monotone in the time: sorting by bucket, then by time, is sorting by time."""
    return f"floor(ln(1 + {expr}) * {k})::int"


def build(cursor, k: int) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS bench_time_histogram_{k}")
    parts = []
    for name, (_column, expr) in TIMES.items():
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS bench_{name}_bucket_{k} ON outcomes_ticket "
            f"(({_bucket(expr, k)}), created_at) INCLUDE ({_column})"
        )
        parts.append(
            f"SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month, channel,"
            f" assignee, '{name}' AS time, {_bucket(expr, k)} AS bucket, count(*) AS n"
            f" FROM outcomes_ticket WHERE {expr} IS NOT NULL GROUP BY 1, 2, 3, 5"
        )
    cursor.execute(f"CREATE UNLOGGED TABLE bench_time_histogram_{k} AS {' UNION ALL '.join(parts)}")
    cursor.execute(f"CREATE INDEX ON bench_time_histogram_{k} (month)")
    cursor.execute(f"VACUUM ANALYZE bench_time_histogram_{k}")
    cursor.execute("ANALYZE outcomes_ticket")


def drop(cursor, k: int) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS bench_time_histogram_{k}")
    for name in TIMES:
        cursor.execute(f"DROP INDEX IF EXISTS bench_{name}_bucket_{k}")


def histogram(cursor, k: int, lo: dt.date, hi: dt.date) -> dict[str, list[tuple[int, int]]]:
    cursor.execute(
        f"SELECT time, bucket, sum(n)::bigint FROM bench_time_histogram_{k}"
        " WHERE month >= %s AND month < %s GROUP BY 1, 2 ORDER BY 1, 2",
        [lo, hi],
    )
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in TIMES}
    for name, bucket, n in cursor.fetchall():
        out[name].append((bucket, n))
    return out


def targets(hist: dict[str, list[tuple[int, int]]]) -> list[tuple]:
    """(time, q, bucket, offset in it, next non-empty bucket, its size, rank fraction) per
    order statistic: percentile_cont interpolates between the values at ranks floor and ceil
    of q * (n - 1), counted from 0."""
    out = []
    for name, buckets in hist.items():
        n = sum(count for _bucket_no, count in buckets)
        for q in QUANTILES:
            position = q * (n - 1)
            rank = math.floor(position)
            seen = 0
            for i, (bucket, count) in enumerate(buckets):
                if seen + count > rank:
                    following = buckets[i + 1][0] if i + 1 < len(buckets) else None
                    out.append((name, q, bucket, rank - seen, following, count, position - rank))
                    break
                seen += count
    return out


def bucket_reads(cursor, k: int, wanted: list[tuple], lo_at, hi_at) -> dict:
    figures = {}
    for name, q, bucket, offset, following, _count, fraction in wanted:
        expr = TIMES[name][1]
        where = f"{_bucket(expr, k)} = %s AND created_at >= %s AND created_at < %s"
        cursor.execute(
            f"SELECT {expr} FROM outcomes_ticket WHERE {where} ORDER BY 1 OFFSET %s LIMIT 2",
            [bucket, lo_at, hi_at, offset],
        )
        values = [value for (value,) in cursor.fetchall()]
        if len(values) == 1 and following is not None:
            cursor.execute(
                f"SELECT min({expr}) FROM outcomes_ticket WHERE {where}",
                [following, lo_at, hi_at],
            )
            values.append(cursor.fetchone()[0])
        low, high = values[0], values[-1]
        figures[(name, q)] = low + (high - low) * fraction
    return figures


def rows(cursor, lo_at, hi_at) -> dict:
    figures = {}
    for name, (_column, expr) in TIMES.items():
        cursor.execute(
            f"SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY {expr})"
            " FROM outcomes_ticket WHERE created_at >= %s AND created_at < %s",
            [list(QUANTILES), lo_at, hi_at],
        )
        for q, value in zip(QUANTILES, cursor.fetchone()[0], strict=True):
            figures[(name, q)] = value
    return figures


def _line(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"  {label:<34}{statistics.median(ms):>9.1f}ms {min(ms):>9.1f}ms {max(ms):>9.1f}ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buckets-per-e", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the tables and indexes.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_SUPPORT_DATABASE_URL", DEFAULT_URL)
    first = dt.date.today().replace(day=1)
    lo = dt.date(first.year - 1, first.month, 1)
    lo_at = dt.datetime.combine(lo, dt.time.min, dt.UTC)
    hi_at = dt.datetime.combine(first, dt.time.min, dt.UTC)
    with psycopg.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute(
            "SELECT count(*) FROM outcomes_ticket WHERE created_at >= %s AND created_at < %s",
            [lo_at, hi_at],
        )
        tickets = cursor.fetchone()[0]
        print(
            f"database: {url.rsplit('/', 1)[-1]} · {tickets:,} tickets created {lo} to {first}"
            f" · load average {os.getloadavg()[0]:.1f} · {args.repeat} rounds"
        )
        for k in args.buckets_per_e:
            build(cursor, k)
            hist = histogram(cursor, k, lo, first)
            wanted = targets(hist)
            exact = rows(cursor, lo_at, hi_at)
            got = bucket_reads(cursor, k, wanted, lo_at, hi_at)
            for key, value in exact.items():
                assert math.isclose(got[key], value, rel_tol=1e-12), (key, got[key], value)
            cursor.execute(
                f"SELECT count(*) FROM bench_time_histogram_{k} WHERE month >= %s AND month < %s",
                [lo, first],
            )
            print(
                f"K={k}: histogram rows in the period {cursor.fetchone()[0]:,}; tickets in the"
                f" buckets read {', '.join(f'{w[5]:,}' for w in wanted)}; figures equal"
            )
            samples: dict[str, list[float]] = {"histogram": [], "bucket reads": [], "rows": []}
            for _round in range(args.repeat):
                for label, call in (
                    ("histogram", lambda: histogram(cursor, k, lo, first)),  # noqa: B023
                    ("bucket reads", lambda: bucket_reads(cursor, k, wanted, lo_at, hi_at)),  # noqa: B023
                    ("rows", lambda: rows(cursor, lo_at, hi_at)),
                ):
                    started = time.perf_counter()
                    call()
                    samples[label].append(time.perf_counter() - started)
            print(f"  {'':<34}{'median':>11} {'best':>10} {'worst':>10}")
            for label, values in samples.items():
                print(_line(label, values))
            both = [
                a + b for a, b in zip(samples["histogram"], samples["bucket reads"], strict=True)
            ]
            print(_line("histogram + bucket reads", both))
            if not args.keep:
                drop(cursor, k)


if __name__ == "__main__":
    main()
