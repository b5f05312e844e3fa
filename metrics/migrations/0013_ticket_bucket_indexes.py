# The indexes the support summary's exact percentiles read (metrics.support_rollups): the
# tickets of one time bucket in a period, in order of creation, with the timestamp the time is
# measured to and the channel, so one bucket of one period is an index-only range. Their
# expressions are metrics.ticket_rollups.bucket_sql, word for word. Built CONCURRENTLY: writes
# go on meanwhile on a live database. (Replaced by the per-channel indexes of 0018.)

from django.db import migrations

from metrics.ticket_rollups import TIMES, bucket_index_name, bucket_index_sql


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0012_ticket_rollup_triggers"),
    ]

    operations = [
        migrations.RunSQL(
            bucket_index_sql(time), f"DROP INDEX CONCURRENTLY IF EXISTS {bucket_index_name(time)}"
        )
        for time in TIMES
    ]
