# The invitation funnel's rollups (metrics.InvitationRollup) and the record of the excluded
# answers they leave out; 0006 adds the triggers that keep them and fills them.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0004_health_history_segments_versions"),
        ("surveys", "0015_survey_stored_logo_thanks_negative"),
    ]

    operations = [
        migrations.CreateModel(
            name="InvitationRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "grain",
                    models.CharField(
                        choices=[("d", "UTC day"), ("m", "UTC month")],
                        max_length=1,
                        verbose_name="grain",
                    ),
                ),
                ("period", models.DateField(verbose_name="period")),
                ("invited", models.IntegerField(default=0, verbose_name="invited")),
                ("sent", models.IntegerField(default=0, verbose_name="sent")),
                ("clicked", models.IntegerField(default=0, verbose_name="clicked")),
                ("answered", models.IntegerField(default=0, verbose_name="answered")),
                ("bounced", models.IntegerField(default=0, verbose_name="bounced")),
                ("unsubscribed", models.IntegerField(default=0, verbose_name="unsubscribed")),
                (
                    "survey",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="surveys.survey",
                        verbose_name="survey",
                    ),
                ),
            ],
            options={
                "verbose_name": "invitation rollup",
                "verbose_name_plural": "invitation rollups",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("survey", "grain", "period"), name="invitation_rollup_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="InvitationRollupExclusion",
            fields=[
                (
                    "invitation_id",
                    models.BigIntegerField(
                        primary_key=True, serialize=False, verbose_name="invitation"
                    ),
                ),
                ("survey_id", models.BigIntegerField(verbose_name="survey")),
                (
                    "day",
                    models.DateField(db_index=True, verbose_name="UTC day of the invitation"),
                ),
                ("clicked", models.BooleanField(verbose_name="opened by a person")),
            ],
            options={
                "verbose_name": "excluded answer in the invitation rollups",
                "verbose_name_plural": "excluded answers in the invitation rollups",
            },
        ),
    ]
