# Day rows for the group rollups (metrics.ticket_rollups, "Group rollups"), the schema: a
# `grain` column on both tables, the rows kept so far being month rows; keys with the grain;
# an index for a grain's runs of buckets over a range of periods. 0020 installs the triggers
# that write day rows and rebuilds the group rollups. (Until it runs, the earlier triggers of
# 0016, on a database that ran it, no longer match these keys: ticket writes in between fail
# and can be retried.)

from django.db import migrations, models

GRAIN_CHOICES = [("d", "day"), ("m", "month")]


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
    ]
