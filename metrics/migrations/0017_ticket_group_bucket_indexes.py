# The indexes the support page's exact percentiles per assignee and per plan read
# (metrics.support_rollups): one group's tickets of one time bucket in a period, with the
# timestamp the time is measured to, as an index-only range. Their bucket expressions are
# metrics.ticket_rollups.bucket_sql, word for word. Built CONCURRENTLY: writes go on meanwhile.

from django.db import migrations

from metrics.ticket_rollups import GROUPS, TIMES, bucket_index_name, bucket_index_sql


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0016_ticket_group_rollup_triggers"),
    ]

    operations = [
        migrations.RunSQL(
            bucket_index_sql(time, column),
            f"DROP INDEX CONCURRENTLY IF EXISTS {bucket_index_name(time, column)}",
        )
        for time in TIMES
        for column in GROUPS
    ]
