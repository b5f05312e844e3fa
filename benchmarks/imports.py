"""Benchmark: the contact and response imports at migration scale (rows/s and peak memory).

    .venv/bin/python -m benchmarks.imports [--rows 100000 1000000] [--keep-files DIR]
        [--only contacts|responses|usage tickets ledger] [--outcomes]

For each size, on a fresh PostgreSQL database of its own (BENCH_PG, default
postgres://postgres@127.0.0.1:5432; database npsapp_import_bench, dropped and created), runs the
management commands as an operator would, each in its own process:

1. `import_contacts` of N rows (N contacts of N/10 accounts, every row repeating its account's
   columns, as an export from a hosted tool does): everything is created;
2. the same file again: nothing changes (idempotent);
3. `import_responses` of N historical answers (3 surveys, 3 years, 12% with a comment; 90% of
   the emails are contacts from step 1, the rest new);
4. the same file again: nothing changes.

With `--outcomes`, the ticket, usage and ledger files (N rows each, of the contacts' accounts)
are each imported twice between steps 2 and 3; `--only tickets usage ledger` (any of them) runs
the contacts (which create the accounts) and then each of those imports twice.

Reports wall time, rows/second and the peak resident memory of the command's process (from
the kernel's accounting of the child, `wait4`). Targets: >= 5,000 rows/s at 1,000,000 rows,
peak memory <= 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import drop_database, migrate, recreate_database  # noqa: E402

PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_IMPORT_DB", "npsapp_import_bench")
SURVEYS = (("hosted-nps", "nps", 0, 10), ("hosted-csat", "csat", 1, 5), ("hosted-ces", "ces", 1, 7))
COMMENTS = ("Great support!", 'Too slow, "again"', "Pricing, as usual", "Ótimo produto")


def write_contacts(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["email", "name", "language", "external_id", "account_name", "plan", "segment",
             "region", "status", "mrr", "currency", "renewal_date", "property_role"]
        )  # fmt: skip
        for n in range(rows):
            account = n // 10
            out.writerow(
                [
                    f"Person{n}@Migrated.example.com",
                    f"Person {n}",
                    ("en", "pt-br", "es")[n % 3],
                    f"ACC-{account:07d}",
                    f"Account {account}",
                    ("Starter", "Business", "Enterprise")[account % 3],
                    ("SMB", "Mid-market")[account % 2],
                    ("Europe", "LATAM", "APAC")[account % 3],
                    "active",
                    f"{50 + account % 900}.00",
                    "USD",
                    "2027-03-31",
                    ("admin", "user")[n % 2],
                ]
            )


def write_responses(path: Path, rows: int, contacts: int) -> None:
    rng = random.Random(2026)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "survey", "score", "comment", "date"])
        for n in range(rows):
            person = n % contacts if n % 10 else contacts + n  # 10% unknown: new contacts
            slug, _kind, low, high = SURVEYS[n % 5 % 3]
            when = start + dt.timedelta(seconds=n * 90 + rng.randrange(60))
            out.writerow(
                [
                    f"person{person}@migrated.example.com",
                    slug,
                    rng.randint(low, high),
                    rng.choice(COMMENTS) if rng.random() < 0.12 else "",
                    when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ]
            )


def write_outcomes(directory: Path, rows: int) -> dict[str, Path]:
    """Tickets, daily usage and ledger events of the contact file's accounts, N rows each."""
    accounts = max(rows // 10, 1)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    paths = {name: directory / f"{name}-{rows}.csv" for name in ("tickets", "usage", "ledger")}
    if not paths["tickets"].exists():
        with paths["tickets"].open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(
                ["account", "external_id", "status", "created_at", "first_reply_at",
                 "solved_at", "agent_replies", "reopens", "channel", "assignee"]
            )  # fmt: skip
            for n in range(rows):
                created = start + dt.timedelta(minutes=n)
                out.writerow([f"ACC-{n % accounts:07d}", f"T-{n}", "solved", created.isoformat(),
                              (created + dt.timedelta(minutes=30)).isoformat(),
                              (created + dt.timedelta(hours=5)).isoformat(), 1 + n % 3, n % 7 // 6,
                              ("email", "chat", "web")[n % 3], f"agent{n % 30}"])  # fmt: skip
    if not paths["usage"].exists():
        with paths["usage"].open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["account", "day", "metric", "value"])
            for n in range(rows):
                day = dt.date(2024, 1, 1) + dt.timedelta(days=n // accounts)
                out.writerow([f"ACC-{n % accounts:07d}", day.isoformat(), "active_users", n % 97])
    if not paths["ledger"].exists():
        with paths["ledger"].open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["account", "external_id", "effective_at", "mrr", "currency"])
            for n in range(rows):
                when = start + dt.timedelta(minutes=n)
                out.writerow([f"ACC-{n % accounts:07d}", f"E-{n}", when.isoformat(),
                              f"{100 + n % 500}.00", "USD"])  # fmt: skip
    return paths


OUTCOME_COMMANDS = {
    "tickets": "import_tickets",
    "usage": "import_usage",
    "ledger": "import_subscription_events",
}


def _twice(command: str, path: Path) -> list[tuple[str, str, Path]]:
    return [
        (f"{command}, all new", command, path),
        (f"{command}, same file again", command, path),
    ]


def _create_surveys(env: dict) -> None:
    code = (
        "from surveys.models import Survey\n"
        f"for slug, kind, low, high in {SURVEYS!r}:\n"
        "    Survey.objects.create(name=slug, slug=slug, kind=kind, scale_min=low,"
        " scale_max=high)\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True
    )


def run_command(env: dict, *args: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `manage.py *args` in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # wait4 gives this child's own resource use (ru_maxrss in kB on Linux).
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{out}\n{err[-3000:]}")
    print("    " + " · ".join(line for line in out.splitlines() if ":" in line), flush=True)
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep-files", type=Path, default=None)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["contacts", "responses", "usage", "tickets", "ledger"],
        default=None,
        help=(
            "Run one import only, twice; or one or more of usage, tickets and ledger, each "
            "twice, after the contacts (which create their accounts)."
        ),
    )
    parser.add_argument(
        "--outcomes",
        action="store_true",
        help="Also time the ticket, usage and ledger imports (N rows each, after the contacts).",
    )
    args = parser.parse_args()

    url = f"{PG_SERVER}/{DB_NAME}"
    limit = str(max(args.rows) + 1)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "IMPORT_MAX_ROWS_STAGED": limit,
        "IMPORT_MAX_ROWS": limit,
    }
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        env.pop(var, None)
    directory = args.keep_files or Path(tempfile.mkdtemp(prefix="import-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    results = []
    try:
        for rows in args.rows:
            contacts_file = directory / f"contacts-{rows}.csv"
            responses_file = directory / f"responses-{rows}.csv"
            if not contacts_file.exists():
                write_contacts(contacts_file, rows)
            if not responses_file.exists():
                write_responses(responses_file, rows, rows)
            recreate_database(url)
            migrate(url)
            _create_surveys(env)
            steps = [
                ("import_contacts, all new", "import_contacts", contacts_file),
                ("import_contacts, same file again", "import_contacts", contacts_file),
                ("import_responses, all new", "import_responses", responses_file),
                ("import_responses, same file again", "import_responses", responses_file),
            ]
            if args.outcomes:
                paths = write_outcomes(directory, rows)
                steps[2:2] = [
                    *_twice("import_tickets", paths["tickets"]),
                    *_twice("import_usage", paths["usage"]),
                    *_twice("import_subscription_events", paths["ledger"]),
                ]
            outcomes = [name for name in OUTCOME_COMMANDS if name in (args.only or ())]
            if outcomes:
                paths = write_outcomes(directory, rows)
                steps = [
                    steps[0],
                    *(
                        step
                        for name in outcomes
                        for step in _twice(OUTCOME_COMMANDS[name], paths[name])
                    ),
                ]
            elif args.only == ["contacts"]:
                steps = steps[:2]
            elif args.only == ["responses"]:
                steps = steps[2:]
            for label, command, path in steps:
                extra = [] if command in ("import_contacts", "import_usage") else ["--tz", "UTC"]
                seconds, peak = run_command(env, command, str(path), *extra)
                results.append((rows, label, seconds, rows / seconds, peak))
                print(
                    f"{rows:>9,} {label:44} {seconds:8.1f}s {rows / seconds:9,.0f} rows/s "
                    f"{peak:7.0f} MB",
                    flush=True,
                )
    finally:
        drop_database(url)
    print(f"\n{'rows':>9} {'step':44} {'time':>9} {'rows/s':>15} {'peak RSS':>10}")
    for rows, label, seconds, rate, peak in results:
        print(f"{rows:>9,} {label:44} {seconds:8.1f}s {rate:9,.0f} rows/s {peak:7.0f} MB")
    ok = all(rate >= 5000 and peak <= 300 for rows, *_x, rate, peak in results if rows >= 10**6)
    print("targets met" if ok else "TARGETS MISSED (>= 5,000 rows/s and <= 300 MB at 1M rows)")


if __name__ == "__main__":
    main()
