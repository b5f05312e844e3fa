# The indexes the support page's exact percentiles per assignee and per plan read
# (metrics.support_rollups): one group's tickets of one time bucket in a period, with the
# timestamp the time is measured to, as an index-only range. Their bucket expressions are
# metrics.ticket_rollups.bucket_sql, word for word. Built CONCURRENTLY: writes go on meanwhile.

from django.db import migrations

from metrics.ticket_rollups import GROUPS, TICKETS, TIMES, bucket_sql

NAMES = {1: "reply", 2: "resolution"}


def _name(time: int, column: str) -> str:
    return f"ticket_{NAMES[time]}_bucket_{column}"


def _create(time: int, column: str) -> str:
    measured = TIMES[time]
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_name(time, column)} ON {TICKETS} "
        f"(({bucket_sql(measured)}), {column}, created_at) INCLUDE ({measured}) "
        f"WHERE {measured} IS NOT NULL"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0016_ticket_group_rollup_triggers"),
    ]

    operations = [
        migrations.RunSQL(
            _create(time, column), f"DROP INDEX CONCURRENTLY IF EXISTS {_name(time, column)}"
        )
        for time in TIMES
        for column in GROUPS
    ]
