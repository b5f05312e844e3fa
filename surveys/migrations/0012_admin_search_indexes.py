# Indexes for the admin's searches over the big tables (surveys/admin_big_tables.py).
# Built CONCURRENTLY: on a live database with millions of rows, writes go on meanwhile.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0011_invitation_fetches_kept_index"),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name="invitation",
            index=models.Index(
                condition=models.Q(("event_id__isnull", False)),
                fields=["event_id"],
                name="invitation_event_id",
            ),
        ),
        # Written out: the expression with its operator class must not be parenthesised.
        migrations.RunSQL(
            sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS "response_comment_trgm" '
            'ON "surveys_response" USING gin (UPPER("comment") gin_trgm_ops)',
            reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "response_comment_trgm"',
            state_operations=[
                migrations.AddIndex(
                    model_name="response",
                    index=django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.indexes.OpClass(
                            django.db.models.functions.text.Upper("comment"),
                            name="gin_trgm_ops",
                        ),
                        name="response_comment_trgm",
                    ),
                ),
            ],
        ),
    ]
