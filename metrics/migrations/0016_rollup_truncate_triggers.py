# A TRUNCATE of the answers or the tickets fires no delete trigger: the rollups kept from them
# get a truncate trigger each that empties them (metrics.statement_triggers.signed_install_sql).
# The functions and triggers are installed again (CREATE OR REPLACE). The ticket rollups were
# just rebuilt (0014); answers truncated before this migration need `manage.py rebuild_rollups`.

from django.db import migrations

from metrics import rollups, statement_triggers, ticket_rollups

FAMILIES = (
    ("metrics_answer_rollup", rollups.ANSWERS),
    ("metrics_ticket_rollup", ticket_rollups.TICKETS),
    ("metrics_ticket_group_rollup", ticket_rollups.TICKETS),
)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0015_ticket_group_bucket_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "\n".join(
                (rollups.install_sql(), ticket_rollups.install_sql(), ticket_rollups.group_install_sql())
            ),
            "\n".join(
                statement_triggers.uninstall_sql(prefix, table, ("truncate",))
                for prefix, table in FAMILIES
            ),
        ),
    ]
