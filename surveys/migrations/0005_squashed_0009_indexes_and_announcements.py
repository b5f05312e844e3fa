# Squashes 0005-0009: the counted-answers index as it ended (0005 built it with INCLUDE, 0006
# rebuilt it without), the funnel index, the announcement outbox, and the foreign-key indexes
# 0009 dropped because other indexes lead with those columns.
#
# A database at 0004 runs this migration; one that ran any of 0005-0009 finishes with the
# originals, kept beside it until every installation has passed 0009. Either way the schema ends
# the same (tests/ops/test_migrations.py checks both paths).

import django.db.models.deletion
from django.db import migrations, models


def mark_announced(apps, schema_editor):
    """Answers saved before the outbox were announced when they were saved (from 0008)."""
    Response = apps.get_model("surveys", "Response")
    Response.objects.filter(invitation__isnull=False).update(announced_at=models.F("updated_at"))


class Migration(migrations.Migration):
    replaces = [
        ("surveys", "0005_response_counted_cover_index"),
        ("surveys", "0006_response_counted_index_without_include"),
        ("surveys", "0007_invitation_funnel_index"),
        ("surveys", "0008_response_announcement"),
        ("surveys", "0009_drop_redundant_indexes"),
    ]

    dependencies = [
        ("accounts", "0004_staff_roles"),
        ("surveys", "0004_survey_text_translations"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="response",
            index=models.Index(
                condition=models.Q(("excluded", False)),
                fields=["survey", "answered_at", "category", "score", "account"],
                name="response_counted",
            ),
        ),
        migrations.AddIndex(
            model_name="invitation",
            index=models.Index(
                fields=["survey", "created_at", "sent_at", "clicked_at", "answered_at", "contact"],
                name="invitation_funnel",
            ),
        ),
        migrations.AddField(
            model_name="response",
            name="announce_pending",
            field=models.BooleanField(default=False, verbose_name="announcement pending"),
        ),
        migrations.AddField(
            model_name="response",
            name="announced_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="announced at"),
        ),
        # The data step of 0008, kept for databases at 0004 with answers in them.
        migrations.RunPython(mark_announced, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(
                condition=models.Q(("announce_pending", True)),
                fields=["id"],
                name="response_announce_pending",
            ),
        ),
        migrations.AlterField(
            model_name="invitation",
            name="contact",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="invitations",
                to="accounts.contact",
                verbose_name="contact",
            ),
        ),
        migrations.AlterField(
            model_name="invitation",
            name="status",
            field=models.CharField(
                choices=[
                    ("scheduled", "Scheduled"),
                    ("queued", "Queued"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("suppressed", "Suppressed"),
                    ("revoked", "Revoked"),
                    ("expired", "Expired before sending"),
                ],
                default="queued",
                max_length=10,
                verbose_name="status",
            ),
        ),
        migrations.AlterField(
            model_name="invitation",
            name="survey",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="invitations",
                to="surveys.survey",
                verbose_name="survey",
            ),
        ),
        migrations.AlterField(
            model_name="response",
            name="account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="responses",
                to="accounts.account",
                verbose_name="account at answer time",
            ),
        ),
        migrations.AlterField(
            model_name="response",
            name="survey",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="responses",
                to="surveys.survey",
                verbose_name="survey",
            ),
        ),
    ]
