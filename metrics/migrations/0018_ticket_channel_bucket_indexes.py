# The support figures' exact percentiles read one time bucket of a period per channel (the
# page's channel breakdown) or of every channel (the summary, `channel = ANY(...)`): the
# bucket indexes keyed by channel too, as those by assignee and plan (0017), replacing the
# indexes of 0013 (bucket and creation only, the channel an included column read for every
# ticket of the bucket). Built and dropped CONCURRENTLY: writes go on meanwhile.

from django.db import migrations

from metrics.ticket_rollups import TICKETS, TIMES, bucket_sql

NAMES = {1: "reply", 2: "resolution"}


def _create(time: int) -> str:
    measured = TIMES[time]
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ticket_{NAMES[time]}_bucket_channel "
        f"ON {TICKETS} (({bucket_sql(measured)}), channel, created_at) INCLUDE ({measured}) "
        f"WHERE {measured} IS NOT NULL"
    )


def _create_before(time: int) -> str:
    measured = TIMES[time]
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ticket_{NAMES[time]}_bucket ON {TICKETS} "
        f"(({bucket_sql(measured)}), created_at) INCLUDE ({measured}, channel) "
        f"WHERE {measured} IS NOT NULL"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0017_ticket_group_bucket_indexes"),
    ]

    operations = [
        *(
            migrations.RunSQL(
                _create(time),
                f"DROP INDEX CONCURRENTLY IF EXISTS ticket_{NAMES[time]}_bucket_channel",
            )
            for time in TIMES
        ),
        *(
            migrations.RunSQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS ticket_{NAMES[time]}_bucket",
                _create_before(time),
            )
            for time in TIMES
        ),
    ]
