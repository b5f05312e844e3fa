# The trigram index of the admin's comment search (surveys/admin_big_tables.py), built
# CONCURRENTLY: on a live database with millions of answers, writes go on meanwhile.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0012_admin_search_indexes"),
    ]

    operations = [
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
        # Statistics of the indexed expression: without them the planner guesses that a common
        # word matches a few rows and reads them all through the trigram index, where walking
        # the newest answers first finds a page of them at once.
        migrations.RunSQL(sql="ANALYZE surveys_response", reverse_sql=migrations.RunSQL.noop),
    ]
