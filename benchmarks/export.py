"""Benchmark: exporting 1,000,000 responses with account columns, app vs PostgreSQL's COPY.

    .venv/bin/python -m benchmarks.export [--responses 1000000] [--xlsx-rows 100000]

Seeds (once) the reports benchmark database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/npsapp_bench; see benchmarks/seed.py). Each measurement runs
in its own child process, so its peak RSS (from wait4) is its own:

1. `app-csv`: `metrics.exports.csv_chunks` for every response (the code behind the export page
   and the background job: the report filters, the property-column lookup, formatting and
   formula escaping in SQL, COPY streamed through Django's connection), written to /dev/null;
2. `copy`: PostgreSQL's own `COPY (SELECT ...) TO STDOUT` of the same columns, rows and order,
   unformatted, read with psycopg and written to /dev/null: the baseline;
3. `app-xlsx`: `metrics.exports.write_xlsx` for about 100,000 rows (the newest days holding
   that many) to a file.

Targets: app CSV >= 0.5x COPY's rows/second with peak RSS <= 200 MB; XLSX peak RSS <= 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/npsapp_bench"

COPY_SQL = """
COPY (
    SELECT r.public_id, s.slug, s.name, s.kind, r.score, r.category, r.comment, r.reason,
           r.confirmed_via, r.answered_at, r.answered_at AT TIME ZONE 'UTC',
           c.email, c.name, c.language, a.external_id, a.name, a.plan, a.segment, a.region,
           u.username, a.status, a.mrr, a.mrr * 12, a.currency
    FROM surveys_response r
    JOIN surveys_survey s ON s.id = r.survey_id
    LEFT JOIN accounts_contact c ON c.id = r.contact_id
    LEFT JOIN accounts_account a ON a.id = r.account_id
    LEFT JOIN auth_user u ON u.id = a.owner_id
    WHERE NOT r.excluded
    ORDER BY r.answered_at, r.id
) TO STDOUT WITH (FORMAT csv)
"""


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def _all_time():
    from zoneinfo import ZoneInfo

    from metrics import selectors

    return selectors.Filters(period=selectors.Period(None, None, ZoneInfo("UTC")), kind="")


def child_app_csv(database_url: str) -> dict:
    _django(database_url)
    from metrics.exports import columns, files

    counter = [0]
    size = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for chunk in files.csv_chunks(_all_time(), columns.ExportOptions(tz="UTC"), counter):
            size += len(chunk)
            sink.write(chunk)
    return {"rows": counter[0], "seconds": time.perf_counter() - started, "bytes": size}


def child_copy(database_url: str) -> dict:
    import psycopg

    size = 0
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        with open(os.devnull, "wb") as sink, cursor.copy(COPY_SQL) as copy:
            for chunk in copy:
                size += len(chunk)
                sink.write(chunk)
        rows = cursor.rowcount
    return {"rows": rows, "seconds": time.perf_counter() - started, "bytes": size}


def child_xlsx(database_url: str, xlsx_rows: int) -> dict:
    _django(database_url)
    import datetime as dt
    from dataclasses import replace

    from metrics import selectors
    from metrics.exports import columns, files
    from surveys.models import Response

    # The newest whole days holding about `xlsx_rows` responses.
    newest = (
        Response.objects.filter(excluded=False)
        .order_by("-answered_at")
        .values_list("answered_at", flat=True)[xlsx_rows - 1 : xlsx_rows]
    )
    start = newest[0].astimezone(dt.UTC).date() + dt.timedelta(days=1)
    filters = _all_time()
    filters = replace(filters, period=selectors.Period(start, None, filters.period.tz))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.xlsx"
        started = time.perf_counter()
        rows = files.write_xlsx(filters, columns.ExportOptions(tz="America/Sao_Paulo"), path)
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    return {"rows": rows, "seconds": seconds, "bytes": size}


def run_child(mode: str, database_url: str, *extra: str) -> dict:
    """Run one measurement in a fresh process; add its peak RSS (MB) from wait4."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.export", "--child", mode, "--url", database_url, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {proc.returncode}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["rows_per_second"] = result["rows"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        children = {
            "app-csv": lambda: child_app_csv(args.url),
            "copy": lambda: child_copy(args.url),
            "app-xlsx": lambda: child_xlsx(args.url, args.xlsx_rows),
        }
        print(json.dumps(children[args.child]()))
        return

    from benchmarks.seed import ensure_seeded

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_seeded(url, responses=args.responses)

    # COPY first and last, so a cold cache does not favour either side.
    results = {"copy": run_child("copy", url)}
    results["app-csv"] = run_child("app-csv", url)
    second_copy = run_child("copy", url)
    if second_copy["seconds"] < results["copy"]["seconds"]:
        results["copy"] = second_copy
    second_app = run_child("app-csv", url)
    if second_app["seconds"] < results["app-csv"]["seconds"]:
        results["app-csv"]["seconds"] = second_app["seconds"]
        results["app-csv"]["rows_per_second"] = second_app["rows_per_second"]
    results["app-csv"]["peak_rss_mb"] = max(
        results["app-csv"]["peak_rss_mb"], second_app["peak_rss_mb"]
    )
    results["app-xlsx"] = run_child("app-xlsx", url, "--xlsx-rows", str(args.xlsx_rows))

    print(f"\n{'run':<12}{'rows':>11}{'seconds':>10}{'rows/s':>12}{'MB out':>9}{'peak RSS':>11}")
    for name, r in results.items():
        print(
            f"{name:<12}{r['rows']:>11,}{r['seconds']:>10.2f}{r['rows_per_second']:>12,.0f}"
            f"{r['bytes'] / 1e6:>9.1f}{r['peak_rss_mb']:>9.1f} MB"
        )
    ratio = results["app-csv"]["rows_per_second"] / results["copy"]["rows_per_second"]
    csv_ok = ratio >= 0.5 and results["app-csv"]["peak_rss_mb"] <= 200
    xlsx_ok = results["app-xlsx"]["peak_rss_mb"] <= 200
    print(
        f"\napp CSV / COPY rows per second: {ratio:.2f}x (target >= 0.5x), peak RSS "
        f"{results['app-csv']['peak_rss_mb']:.0f} MB (target <= 200): "
        f"{'PASS' if csv_ok else 'FAIL'}"
    )
    print(
        f"XLSX {results['app-xlsx']['rows']:,} rows: peak RSS "
        f"{results['app-xlsx']['peak_rss_mb']:.0f} MB (target <= 200): "
        f"{'PASS' if xlsx_ok else 'FAIL'}"
    )
    if results["app-csv"]["rows"] != results["copy"]["rows"]:
        print("row counts differ between the app and COPY", file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if csv_ok and xlsx_ok else 1)


if __name__ == "__main__":
    main()
