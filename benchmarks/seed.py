"""Seed a PostgreSQL database with a realistic volume of survey data for benchmarks.

`ensure_seeded(database_url, responses=1_000_000)` creates the database if it is missing, runs
the migrations against it, and, unless a previous run already seeded the same number of
responses, fills it (all rows are generated inside PostgreSQL by INSERT ... SELECT over
generate_series, which is far faster than shipping rows from Python):

- 20 staff users who own the accounts,
- 5,000 accounts (plans, segments, regions, statuses, MRR in USD/EUR/BRL, renewal dates,
  open tickets and adoption when the columns exist),
- 50,000 contacts (10 per account, about 1% without an account, some bounced or unsubscribed),
- 3 surveys: NPS 0-10 (60% of answers), CSAT 1-5 (20%), CES 2.0 1-7 (20%),
- one invitation per response plus 30% unanswered invitations (sent, failed, suppressed),
- the responses, spread over the last 24 months, about 1% excluded, 12% with a comment.

Account "mood" drives the scores, so accounts differ (some mostly detractors, some mostly
promoters). The random generator is seeded, so two runs produce the same distribution. The
answers and invitations are loaded without their indexes, which are built once afterwards.

Idempotent and safe to call concurrently: an advisory lock serialises callers and a marker table
(`benchmark_seed`) records what was seeded. Usable from any script:

    from benchmarks.seed import ensure_seeded
    ensure_seeded("postgres://postgres@127.0.0.1:5432/npsapp_bench")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = 5_000
CONTACTS = 50_000
OWNERS = 20
MONTHS = 24
UNANSWERED_SHARE = 0.30
LOCK_KEY = 727_001  # arbitrary, constant: serialises concurrent seeders of one database

# Fallback values for NOT NULL columns added by later migrations that this script does not
# know about, so a new column does not break the benchmarks.
_FILL_BY_TYPE = {
    "character varying": "''",
    "text": "''",
    "integer": "0",
    "smallint": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "uuid": "gen_random_uuid()",
    "date": "current_date",
    "timestamp with time zone": "now()",
}


def _log(message: str) -> None:
    print(f"[seed] {message}", file=sys.stderr, flush=True)


def _maintenance(database_url: str) -> tuple[str, str]:
    """(the database's name, a URL of the server's `postgres` database)."""
    parsed = urlparse(database_url)
    return parsed.path.lstrip("/"), urlunparse(parsed._replace(path="/postgres"))


def drop_database(database_url: str) -> None:
    name, maintenance = _maintenance(database_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        conn.execute(drop)


def recreate_database(database_url: str) -> str:
    """An empty database at `database_url` (dropped first if it exists); returns the URL."""
    drop_database(database_url)
    name, maintenance = _maintenance(database_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_database(database_url: str) -> None:
    name, maintenance = _maintenance(database_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                _log(f"created database {name}")
            except psycopg.errors.DuplicateDatabase:
                pass


def migrate(database_url: str) -> None:
    """Apply the project's migrations to the database (a separate process: own settings)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        env.pop(var, None)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "migrate",
            "--noinput",
            "--skip-checks",
            "-v",
            "0",
        ],
        check=True,
        cwd=ROOT,
        env=env,
    )


def rebuild_rollups(database_url: str) -> None:
    """Recompute the report rollups: the seed writes with triggers off (replica role)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        env.pop(var, None)
    command = [sys.executable, str(ROOT / "manage.py"), "rebuild_rollups", "--skip-checks"]
    subprocess.run(command, check=True, cwd=ROOT, env=env)


def _columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool, bool]]:
    rows = conn.execute(
        """
        SELECT column_name, data_type, is_nullable = 'YES',
               column_default IS NOT NULL OR is_identity = 'YES'
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = %s
        """,
        [table],
    ).fetchall()
    return {name: (dtype, nullable, has_default) for name, dtype, nullable, has_default in rows}


def _insert(conn: psycopg.Connection, table: str, values: dict[str, str], source: str) -> int:
    """INSERT INTO table (cols) SELECT exprs FROM source, filling unknown NOT NULL columns."""
    columns = _columns(conn, table)
    values = {name: expr for name, expr in values.items() if name in columns}
    for name, (dtype, nullable, has_default) in columns.items():
        if name not in values and not nullable and not has_default:
            values[name] = _FILL_BY_TYPE.get(dtype, "DEFAULT")
    names = ", ".join(f'"{name}"' for name in values)
    exprs = ",\n       ".join(values.values())
    statement = f"INSERT INTO {table} ({names})\nSELECT {exprs}\n{source}"  # noqa: S608
    return conn.execute(statement).rowcount


def _reset_sequence(conn: psycopg.Connection, table: str) -> None:
    conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
        f"COALESCE((SELECT max(id) FROM {table}), 1))"
    )


def _seeded(conn: psycopg.Connection) -> int | None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS benchmark_seed "
        "(responses bigint NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())"
    )
    row = conn.execute("SELECT responses FROM benchmark_seed LIMIT 1").fetchone()
    return row[0] if row else None


BIG_TABLES = ("surveys_invitation", "surveys_response")


def _drop_indexes(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop every index of `tables` but the primary keys (unique constraints with their
    index) and return the statements that build them again: loading millions of rows and then
    building each index once is many times faster than updating a dozen indexes per row."""
    rebuild = []
    for table in tables:
        rows = conn.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname,
                   pg_get_constraintdef(c.oid)
            FROM pg_index i
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype = 'u'
            WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
            """,
            [table],
        ).fetchall()
        for index, definition, constraint, constraint_definition in rows:
            if constraint:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(table), sql.Identifier(constraint)
                    )
                )
                rebuild.append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                        sql.Identifier(table), sql.Identifier(constraint)
                    )
                    + sql.SQL(constraint_definition)
                )
            else:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
                rebuild.append(sql.SQL(definition))
    return rebuild


def _seed(conn: psycopg.Connection, responses: int) -> None:
    invitations = responses + int(responses * UNANSWERED_SHARE)
    conn.execute("SET LOCAL synchronous_commit = off")
    superuser = conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()[0]
    if superuser:
        # Rows are consistent by construction; skipping the deferred foreign-key triggers
        # saves minutes at COMMIT (about 7 million checks).
        conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    conn.execute("SELECT setseed(0.2026)")
    conn.execute(
        "TRUNCATE surveys_response, surveys_invitation, surveys_survey, accounts_contact, "
        "accounts_account RESTART IDENTITY CASCADE"
    )
    conn.execute("DELETE FROM auth_user WHERE username LIKE 'bench-owner-%'")
    indexes = _drop_indexes(conn, BIG_TABLES)

    started = time.perf_counter()
    _insert(
        conn,
        "auth_user",
        {
            "password": "'!'",
            "is_superuser": "false",
            "username": "'bench-owner-' || g",
            "first_name": "'Owner'",
            "last_name": "g::text",
            "email": "'owner' || g || '@example.com'",
            "is_staff": "true",
            "is_active": "true",
            "date_joined": "now()",
        },
        f"FROM generate_series(1, {OWNERS}) AS g",
    )
    account_columns = _columns(conn, "accounts_account")
    account_values = {
        "id": "g",
        "name": "'Account ' || g",
        "external_id": "'bench-' || lpad(g::text, 5, '0')",
        "plan": "(ARRAY['Starter', 'Business', 'Enterprise'])[1 + g % 3]",
        "segment": "(ARRAY['SMB', 'Mid-market', 'Enterprise'])[1 + (g / 3) % 3]",
        "region": "(ARRAY['North America', 'Europe', 'LATAM', 'APAC'])[1 + g % 4]",
        "status": "CASE WHEN g % 20 = 0 THEN 'churned' WHEN g % 20 = 1 THEN 'trial' "
        "ELSE 'active' END",
        "owner_id": f"(SELECT min(id) FROM auth_user WHERE username LIKE 'bench-owner-%') "
        f"+ g % {OWNERS}",
        "mrr": "round(((ARRAY[50, 400, 3000])[1 + g % 3] * (0.5 + random()))::numeric, 2)",
        "currency": "CASE WHEN g % 10 < 7 THEN 'USD' WHEN g % 10 < 9 THEN 'EUR' ELSE 'BRL' END",
        "start_date": "current_date - (365 + g % 1000)",
        "renewal_date": "current_date + (g * 7) % 365",
        "properties": "jsonb_build_object('csm_tier', g % 3)",
        "created_at": "now()",
        "updated_at": "now()",
    }
    if "open_tickets" in account_columns:
        account_values["open_tickets"] = "CASE WHEN g % 4 = 0 THEN NULL ELSE g % 9 END"
    if "adoption_pct" in account_columns:
        account_values["adoption_pct"] = "CASE WHEN g % 5 = 0 THEN NULL ELSE (g * 37) % 101 END"
    _insert(conn, "accounts_account", account_values, f"FROM generate_series(1, {ACCOUNTS}) AS g")
    _insert(
        conn,
        "accounts_contact",
        {
            "id": "g",
            "account_id": f"CASE WHEN g % 97 = 0 THEN NULL ELSE 1 + (g - 1) % {ACCOUNTS} END",
            "email": "'person' || g || '@bench.example.com'",
            "name": "'Person ' || g",
            "language": "(ARRAY['en', 'en', 'pt-br', 'es'])[1 + g % 4]",
            "properties": "jsonb_build_object('role', "
            "(ARRAY['admin', 'user', 'billing'])[1 + g % 3])",
            "unsubscribed_at": "CASE WHEN g % 33 = 0 THEN now() - interval '30 days' END",
            "bounced_at": "CASE WHEN g % 51 = 0 THEN now() - interval '60 days' END",
            "created_at": "now()",
            "updated_at": "now()",
        },
        f"FROM generate_series(1, {CONTACTS}) AS g",
    )
    _insert(
        conn,
        "surveys_survey",
        {
            "id": "s.id",
            "name": "s.name",
            "slug": "s.slug",
            "kind": "s.kind",
            "company_name": "'ACME'",
            "question": "''",
            "question_translations": "'{}'::jsonb",
            "scale_min": "s.lo",
            "scale_max": "s.hi",
            "follow_up_question": "''",
            "sender_name": "''",
            "active": "true",
            "created_at": f"now() - interval '{MONTHS} months'",
        },
        "FROM (VALUES (1, 'Relational NPS', 'bench-nps', 'nps', 0, 10),"
        " (2, 'Support CSAT', 'bench-csat', 'csat', 1, 5),"
        " (3, 'Support CES', 'bench-ces', 'ces', 1, 7)) AS s(id, name, slug, kind, lo, hi)",
    )
    _log(f"users, accounts, contacts, surveys in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    # Row g: survey by g % 5 (NPS 3/5, CSAT 1/5, CES 1/5); answered rows are g <= responses.
    _insert(
        conn,
        "surveys_invitation",
        {
            "id": "g",
            "public_id": "gen_random_uuid()",
            "survey_id": "CASE WHEN g % 5 < 3 THEN 1 WHEN g % 5 = 3 THEN 2 ELSE 3 END",
            "contact_id": f"1 + (g::bigint * 7919) % {CONTACTS}",
            "token": "replace(gen_random_uuid()::text, '-', '') "
            "|| replace(gen_random_uuid()::text, '-', '')",
            "status": f"CASE WHEN g <= {responses} THEN 'sent' WHEN g % 20 = 0 THEN 'failed' "
            f"WHEN g % 20 = 1 THEN 'suppressed' ELSE 'sent' END",
            "suppression_reason": f"CASE WHEN g > {responses} AND g % 20 = 1 "
            "THEN 'throttled' ELSE '' END",
            "properties": "'{}'::jsonb",
            "created_at": "t.created",
            "sent_at": f"CASE WHEN g > {responses} AND g % 20 IN (0, 1) THEN NULL "
            "ELSE t.created + interval '1 minute' END",
            "send_count": f"CASE WHEN g > {responses} AND g % 20 IN (0, 1) THEN 0 ELSE 1 END",
            "clicked_at": f"CASE WHEN g <= {responses} THEN t.answered "
            f"WHEN g % 5 = 2 THEN t.created + interval '2 hours' END",
            "answered_at": f"CASE WHEN g <= {responses} THEN t.answered END",
            "expires_at": "t.created + interval '30 days'",
            "last_error": "''",
        },
        f"""FROM (
            SELECT a.g, a.answered - random() * interval '72 hours' AS created, a.answered
            FROM (
                SELECT g, now() - random() * interval '{MONTHS * 30 + 10} days' AS answered
                FROM generate_series(1, {invitations}) AS g
            ) AS a
        ) AS t""",
    )
    _log(f"{invitations:,} invitations in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    # Account mood m in [0, 1] shifts its contacts' scores; the category follows category_of.
    _insert(
        conn,
        "surveys_response",
        {
            "id": "x.id",
            "public_id": "gen_random_uuid()",
            "invitation_id": "x.id",
            "survey_id": "x.survey_id",
            "contact_id": "x.contact_id",
            "account_id": "x.account_id",
            "score": "x.score",
            "category": "CASE x.survey_id "
            "WHEN 1 THEN CASE WHEN x.score >= 9 THEN 1 WHEN x.score >= 7 THEN 0 ELSE -1 END "
            "WHEN 2 THEN CASE WHEN x.score >= 4 THEN 1 WHEN x.score <= 2 THEN -1 ELSE 0 END "
            "ELSE CASE WHEN x.score >= 5 THEN 1 WHEN x.score <= 3 THEN -1 ELSE 0 END END",
            "comment": "CASE WHEN random() < 0.12 THEN (ARRAY['Great support team!', "
            "'Reports could be faster.', 'Too many bugs lately.', 'Pricing is too high.', "
            "'Ótimo atendimento.', 'El soporte tarda mucho.'])[1 + floor(random() * 6)::int] "
            "ELSE '' END",
            "answered_at": "x.answered_at",
            "updated_at": "x.answered_at",
            "confirmed_via": "CASE WHEN x.id % 10 = 0 THEN 'tap' ELSE 'submit' END",
            "excluded": "random() < 0.01",
        },
        f"""FROM (
            SELECT i.id, i.survey_id, i.contact_id, c.account_id, i.answered_at,
                   CASE i.survey_id
                     WHEN 1 THEN least(10, greatest(0, floor(3 + m.m * 6 + random() * 4)))
                     WHEN 2 THEN least(5, greatest(1, floor(1 + m.m * 3 + random() * 2.5)))
                     ELSE least(7, greatest(1, floor(1 + m.m * 4.5 + random() * 3)))
                   END::smallint AS score
            FROM surveys_invitation i
            JOIN accounts_contact c ON c.id = i.contact_id
            CROSS JOIN LATERAL (
                SELECT ((coalesce(c.account_id, 0) * 7919) % 11) / 10.0 AS m
            ) AS m
            WHERE i.id <= {responses}
        ) AS x""",
    )
    _log(f"{responses:,} responses in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
    for statement in indexes:
        conn.execute(statement)
    _log(
        f"{len(indexes)} indexes of the answers and invitations "
        f"in {time.perf_counter() - started:.1f}s"
    )
    for table in (
        "auth_user",
        "accounts_account",
        "accounts_contact",
        "surveys_survey",
        "surveys_invitation",
        "surveys_response",
    ):
        _reset_sequence(conn, table)
    conn.execute("DELETE FROM benchmark_seed")
    conn.execute("INSERT INTO benchmark_seed (responses) VALUES (%s)", [responses])


def ensure_seeded(database_url: str, responses: int = 1_000_000) -> None:
    """Create, migrate and seed the benchmark database. Idempotent: skips if already seeded."""
    _ensure_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            migrate(database_url)
            with psycopg.connect(database_url) as conn:
                if _seeded(conn) == responses:
                    conn.commit()
                    _log(f"already seeded with {responses:,} responses; skipping")
                    return
                conn.commit()
                started = time.perf_counter()
                with conn.transaction():
                    _seed(conn, responses)
                conn.commit()
            if (ROOT / "metrics" / "management" / "commands" / "rebuild_rollups.py").exists():
                rebuild_rollups(database_url)
            # VACUUM sets the visibility map, so report queries can use index-only scans.
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
                _log(f"seeded {responses:,} responses in {time.perf_counter() - started:.1f}s")
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


if __name__ == "__main__":
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/npsapp_bench")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ensure_seeded(url, count)
