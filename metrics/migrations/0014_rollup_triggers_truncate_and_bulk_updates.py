# The answer and ticket rollups' triggers, installed again (CREATE OR REPLACE) with two mends
# (metrics.statement_triggers): a TRUNCATE of the answers or the tickets, which fires no delete
# trigger, now empties their rollups; and an update's "nothing counted changed" test is a set
# difference, linear in the rows, where a join of the transition tables had taken the square
# of a bulk update's rows (20,000 tickets: 47 s). Rollups of a table truncated before this need
# `manage.py rebuild_rollups` (the ticket rollups get it in 0015).

from django.db import migrations

from metrics import rollups, statement_triggers, ticket_rollups

FAMILIES = (
    ("metrics_answer_rollup", rollups.ANSWERS),
    ("metrics_ticket_rollup", ticket_rollups.TICKETS),
)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0013_ticket_bucket_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "\n".join((rollups.install_sql(), ticket_rollups.install_sql())),
            "\n".join(
                statement_triggers.uninstall_sql(prefix, table, ("truncate",))
                for prefix, table in FAMILIES
            ),
        ),
    ]
