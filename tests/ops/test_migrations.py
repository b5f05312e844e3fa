"""Migrations: models and migrations agree, installations upgrade through the squash, and new
migrations follow the rules for big tables (indexes built concurrently, data steps on their own)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.operations.base import Operation
from psycopg import sql

from tests.databases import database_url

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "surveys", "outcomes", "followups", "metrics")
SQUASH = "0005_squashed_0009_indexes_and_announcements"
OLD = [
    "0005_response_counted_cover_index",
    "0006_response_counted_index_without_include",
    "0007_invitation_funnel_index",
    "0008_response_announcement",
    "0009_drop_redundant_indexes",
]
# Tables that grow with every send, answer or event.
BIG_TABLES = {
    ("surveys", "invitation"),
    ("surveys", "response"),
    ("accounts", "contact"),
    ("accounts", "auditlog"),
    ("followups", "webhookdelivery"),
    ("followups", "alertdelivery"),
    ("followups", "followup"),
    ("outcomes", "subscriptionevent"),
    ("outcomes", "stripeevent"),
    ("outcomes", "ticket"),
}
# Migrations written before these rules (and the squash of some of them), left as they are:
# installations have run them.
GRANDFATHERED = (
    {
        ("accounts", name)
        for name in [
            "0001_initial",
            "0002_account_health_inputs",
            "0003_audit_log_and_data_request_permissions",
            "0004_staff_roles",
            "0005_contact_erased_at",
            "0006_contact_email_index_for_iexact",
            "0007_least_privilege_roles",
            "0008_external_id_characters",
            "0009_churn_and_stripe_customer",
        ]
    }
    | {
        ("surveys", name)
        for name in [
            "0001_initial",
            "0002_respondent_branding_followup_bot_signals",
            "0003_distribution_cadence_throttle_campaigns",
            "0004_survey_text_translations",
            *OLD,
            SQUASH,
            "0010_quarantine_and_invitation_outcomes",
        ]
    }
    | {
        ("followups", name)
        for name in [
            "0001_alerts_followups_webhooks",
            "0002_webhook_urls_http_only",
            "0003_followup_account_answered_at_category",
            "0004_webhook_ping_event",
            "0005_manage_integrations_permission",
            "0006_outbound_urls_public_only",
            "0007_short_delivery_errors",
        ]
    }
    | {
        ("outcomes", "0001_ledger_and_stripe_inbox"),
        ("outcomes", "0002_initial_ledger_events"),
        ("metrics", "0001_health_settings"),
        ("metrics", "0002_export_jobs"),
    }
)
DATA_OPERATIONS = ("RunPython", "RunSQL")


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """The same check CI runs (`make check-migrations`)."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def _migrations() -> list[tuple[str, str, object]]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app / "migrations").glob("[0-9]*.py")):
            module = importlib.import_module(f"{app}.migrations.{path.stem}")
            found.append((app, path.stem, module.Migration))
    return found


def _model_of(operation: Operation) -> str:
    return getattr(operation, "model_name", "") or ""


def test_new_migrations_build_indexes_on_big_tables_concurrently_and_keep_data_apart():
    problems = []
    for app, name, migration in _migrations():
        if (app, name) in GRANDFATHERED:
            continue
        kinds = {type(op).__name__ for op in migration.operations}
        if kinds & set(DATA_OPERATIONS) and kinds - set(DATA_OPERATIONS):
            problems.append(f"{app}.{name}: a data step beside schema changes")
        for op in migration.operations:
            kind = type(op).__name__
            if (app, _model_of(op).lower()) not in BIG_TABLES:
                continue
            if kind in ("AddIndex", "RemoveIndex", "AddConstraint"):
                problems.append(f"{app}.{name}: {kind} on a big table locks writes")
            if kind.endswith("Concurrently") and migration.atomic:
                problems.append(f"{app}.{name}: concurrent index in an atomic migration")
    assert problems == []


def test_the_rules_catch_a_plain_index_on_a_big_table():
    """The check above fails on what it is meant to catch (a 0009-like migration, new)."""
    module = importlib.import_module("surveys.migrations.0005_response_counted_cover_index")
    op = module.Migration.operations[0]
    assert type(op).__name__ == "AddIndex"
    assert ("surveys", _model_of(op).lower()) in BIG_TABLES
    module = importlib.import_module("surveys.migrations.0011_invitation_fetches_kept_index")
    assert type(module.Migration.operations[0]).__name__ == "AddIndexConcurrently"
    assert module.Migration.atomic is False


def test_the_squash_replaces_exactly_the_index_churn():
    module = importlib.import_module(f"surveys.migrations.{SQUASH}")
    assert module.Migration.replaces == [("surveys", name) for name in OLD]
    # The originals stay until every installation has passed 0009.
    for name in OLD:
        assert (ROOT / "surveys" / "migrations" / f"{name}.py").exists()


# --- Upgrading an installation migrated to the old 0009 -------------------------------------


def _schema(url: str) -> dict[str, set]:
    """Indexes, columns and constraints of the surveys tables."""
    with psycopg.connect(url) as conn:
        indexes = set(
            conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = 'public' AND tablename LIKE 'surveys%%'"
            ).fetchall()
        )
        columns = set(
            conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_name LIKE 'surveys%%'"
            ).fetchall()
        )
        constraints = set(
            conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE conrelid::regclass::text LIKE 'surveys%%'"
            ).fetchall()
        )
    return {"indexes": indexes, "columns": columns, "constraints": constraints}


def _migrate(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    keep = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**keep, "DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.django_db
def test_an_installation_at_the_old_0009_upgrades_to_the_same_schema(tmp_path):
    fresh_url = database_url(connection)  # the test database: migrated through the squash
    params = connection.get_connection_params()
    name = f"{params['dbname']}_upgrade"[:63]
    upgrade_url = fresh_url.replace(f"/{params['dbname']}?", f"/{name}?")
    admin_url = fresh_url.replace(f"/{params['dbname']}?", "/postgres?")

    # The surveys migrations as they were before the squash, as a package of their own.
    old = tmp_path / "old_surveys_migrations"
    shutil.copytree(
        ROOT / "surveys" / "migrations", old, ignore=shutil.ignore_patterns("__pycache__")
    )
    (old / f"{SQUASH}.py").unlink()
    settings_module = tmp_path / "old_migrations_settings.py"
    settings_module.write_text(
        "from config.settings import *  # noqa: F403\n"
        "MIGRATION_MODULES = {'surveys': 'old_surveys_migrations'}\n"
    )
    old_env = {
        "DJANGO_SETTINGS_MODULE": "old_migrations_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        before = _migrate(
            upgrade_url, "migrate", "surveys", "0009_drop_redundant_indexes", **old_env
        )
        assert before.returncode == 0, before.stderr
        with psycopg.connect(upgrade_url) as conn:
            applied = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM django_migrations WHERE app = 'surveys'"
                ).fetchall()
            }
        assert set(OLD) <= applied
        assert SQUASH not in applied
        assert "0010_quarantine_and_invitation_outcomes" not in applied

        after = _migrate(upgrade_url, "migrate", "--noinput")
        assert after.returncode == 0, after.stderr
        shown = _migrate(upgrade_url, "showmigrations", "surveys")
        assert f"[X] {SQUASH}" in shown.stdout
        assert "[ ]" not in shown.stdout

        upgraded, fresh = _schema(upgrade_url), _schema(fresh_url)
        assert upgraded["indexes"] == fresh["indexes"]
        assert upgraded["columns"] == fresh["columns"]
        assert upgraded["constraints"] == fresh["constraints"]
        index_names = {index for _table, index, _definition in fresh["indexes"]}
        assert {
            "response_counted",
            "invitation_funnel_outcomes",
            "invitation_fetches_kept",
        } <= index_names
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
