# Day rows for the group rollups (metrics.ticket_rollups, "Group rollups"): the triggers that
# also write day rows (counts, and the runs of buckets), and the group rollups rebuilt month by
# month, so the days of the tickets already stored are there (the rollups per channel are left
# as they are). 0016 installs nothing any more: its triggers wrote month rows only, into
# tables without a grain. One atomic step: no ticket is written between the triggers and the
# fill without its trigger.

from django.db import migrations

from metrics import ticket_rollups


def fill(apps, schema_editor):
    ticket_rollups.rebuild(using=schema_editor.connection.alias, channels=False)


def drop_days(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in (ticket_rollups.GROUP_TABLE, ticket_rollups.GROUP_BUCKETS):
            cursor.execute(f"DELETE FROM {table} WHERE grain = 'd'")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0019_ticket_group_day_rows"),
    ]

    operations = [
        migrations.RunSQL(ticket_rollups.group_install_sql(), ticket_rollups.group_uninstall_sql()),
        migrations.RunPython(fill, drop_days),
    ]
