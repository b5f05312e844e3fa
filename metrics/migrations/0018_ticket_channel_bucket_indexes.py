# The support figures' exact percentiles read one time bucket of a period per channel (the
# page's channel breakdown) or of every channel (the summary, `channel = ANY(...)`): the
# bucket indexes keyed by channel too, as those by assignee and plan (0017), replacing the
# indexes of 0013 (bucket and creation only, the channel an included column read for every
# ticket of the bucket). Built and dropped CONCURRENTLY: writes go on meanwhile.

from django.db import migrations

from metrics.ticket_rollups import TIMES, bucket_index_name, bucket_index_sql


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0017_ticket_group_bucket_indexes"),
    ]

    operations = [
        *(
            migrations.RunSQL(
                bucket_index_sql(time, "channel"),
                f"DROP INDEX CONCURRENTLY IF EXISTS {bucket_index_name(time, 'channel')}",
            )
            for time in TIMES
        ),
        *(
            migrations.RunSQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS {bucket_index_name(time)}",
                bucket_index_sql(time),
            )
            for time in TIMES
        ),
    ]
