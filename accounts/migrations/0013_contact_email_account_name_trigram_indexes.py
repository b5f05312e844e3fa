# Trigram indexes for the admin's searches by part of an email or an account name: the responses'
# and invitations' lists find the matching contacts and accounts first (surveys/admin_big_tables.py).
# Built CONCURRENTLY: on a live database, writes go on meanwhile.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations


def _trigram_index(model_name, table, column, name):
    # Written out: the expression with its operator class must not be parenthesised.
    return migrations.RunSQL(
        sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" '
        f'ON "{table}" USING gin (UPPER("{column}") gin_trgm_ops)',
        reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"',
        state_operations=[
            migrations.AddIndex(
                model_name=model_name,
                index=django.contrib.postgres.indexes.GinIndex(
                    django.contrib.postgres.indexes.OpClass(
                        django.db.models.functions.text.Upper(column), name="gin_trgm_ops"
                    ),
                    name=name,
                ),
            ),
        ],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0012_staff_profile_time_zone"),
    ]

    operations = [
        # pg_trgm may already be there (the responses' comment index); kept if this is undone.
        migrations.RunSQL(
            sql="CREATE EXTENSION IF NOT EXISTS pg_trgm", reverse_sql=migrations.RunSQL.noop
        ),
        _trigram_index("contact", "accounts_contact", "email", "contact_email_trgm"),
        _trigram_index("account", "accounts_account", "name", "account_name_trgm"),
        # Statistics of the indexed expressions, so the planner prices a search by them.
        migrations.RunSQL(
            sql="ANALYZE accounts_contact, accounts_account", reverse_sql=migrations.RunSQL.noop
        ),
    ]
