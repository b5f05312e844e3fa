# The indexes the support summary's exact percentiles read (metrics.support_rollups): the
# tickets of one time bucket in a period, in order of creation, with the timestamp the time is
# measured to and the channel, so one bucket of one period is an index-only range. Their
# expressions are metrics.ticket_rollups.bucket_sql, word for word. Built CONCURRENTLY: writes
# go on meanwhile on a live database.

from django.db import migrations

from metrics.ticket_rollups import TICKETS, TIMES, bucket_sql

NAMES = {1: "ticket_reply_bucket", 2: "ticket_resolution_bucket"}


def _create(time: int) -> str:
    column = TIMES[time]
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAMES[time]} ON {TICKETS} "
        f"(({bucket_sql(column)}), created_at) INCLUDE ({column}, channel) "
        f"WHERE {column} IS NOT NULL"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0012_ticket_rollup_triggers"),
    ]

    operations = [
        migrations.RunSQL(_create(time), f"DROP INDEX CONCURRENTLY IF EXISTS {NAMES[time]}")
        for time in TIMES
    ]
