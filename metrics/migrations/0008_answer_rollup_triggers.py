# The triggers that keep the answer rollups exact in the same transaction as every write to
# the answers, then the rollups of the answers already stored (metrics.rollups). One atomic
# step: no answer is written between the two without its trigger.

from django.db import migrations

from metrics import rollups


def fill(apps, schema_editor):
    rollups.rebuild(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0007_answer_rollups"),
        ("surveys", "0015_survey_stored_logo_thanks_negative"),
    ]

    operations = [
        # Room on each page for the triggers' updates to stay there (HOT updates, no index
        # entries): every answer adds to two rows.
        migrations.RunSQL(
            "ALTER TABLE metrics_answerrollup SET (fillfactor = 80)",
            "ALTER TABLE metrics_answerrollup RESET (fillfactor)",
        ),
        migrations.RunSQL(rollups.install_sql(), rollups.uninstall_sql()),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
