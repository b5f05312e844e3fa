# Day rows for the group rollups (metrics.ticket_rollups, "Group rollups"): a `grain` column
# on both tables, the rows kept so far being month rows; keys with the grain; an index for a
# grain's runs of buckets over a range of periods; the triggers that also write day rows
# (counts, and the runs of buckets); the group rollups rebuilt month by month so the days of
# the tickets already stored are there (the rollups per channel are left as they are). 0016
# installs nothing any more: its triggers wrote month rows only, into tables without a grain. One
# atomic step: no ticket is written between the triggers and the fill without its trigger.

from django.db import migrations, models

from metrics import ticket_rollups

GRAIN_CHOICES = [("d", "day"), ("m", "month")]


def fill(apps, schema_editor):
    ticket_rollups.rebuild(using=schema_editor.connection.alias, channels=False)


def drop_days(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in (ticket_rollups.GROUP_TABLE, ticket_rollups.GROUP_BUCKETS):
            cursor.execute(f"DELETE FROM {table} WHERE grain = 'd'")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0018_ticket_channel_bucket_indexes"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="ticketgrouprollup", name="ticket_group_rollup_key"),
        migrations.RemoveConstraint(model_name="ticketgroupbucket", name="ticket_group_bucket_key"),
        migrations.AddField(
            model_name="ticketgrouprollup",
            name="grain",
            field=models.CharField(choices=GRAIN_CHOICES, default="m", max_length=1),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="ticketgroupbucket",
            name="grain",
            field=models.CharField(choices=GRAIN_CHOICES, default="m", max_length=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="ticketgrouprollup",
            name="period",
            field=models.DateField(help_text="The UTC day, or the first day of the UTC month."),
        ),
        migrations.AlterField(
            model_name="ticketgroupbucket",
            name="period",
            field=models.DateField(help_text="The UTC day, or the first day of the UTC month."),
        ),
        migrations.AddConstraint(
            model_name="ticketgrouprollup",
            constraint=models.UniqueConstraint(
                fields=("grain", "period", "dimension", "value"),
                name="ticket_group_rollup_grain_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="ticketgroupbucket",
            constraint=models.UniqueConstraint(
                fields=("level", "dimension", "value", "time", "bucket", "grain", "period"),
                include=("tickets",),
                name="ticket_group_bucket_grain_key",
            ),
        ),
        migrations.AddIndex(
            model_name="ticketgroupbucket",
            index=models.Index(
                fields=["grain", "level", "dimension", "period"],
                include=["value", "time", "bucket", "tickets"],
                name="ticket_group_bucket_runs",
            ),
        ),
        migrations.RunSQL(ticket_rollups.group_install_sql(), ticket_rollups.group_uninstall_sql()),
        migrations.RunPython(fill, drop_days),
    ]
