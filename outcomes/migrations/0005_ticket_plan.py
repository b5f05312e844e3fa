# Each ticket's copy of its account's plan (outcomes.ticket_plan): the column, the triggers that
# keep it, then the plans of the tickets already stored, in one UPDATE. One atomic step, and the
# triggers first: adding the column locks the tickets until the end, and installing the
# accounts' triggers waits for the accounts' writes in progress and holds back new ones, so no
# plan changes between the backfill's read and the triggers. The backfill runs with the tickets'
# triggers off (none but ours reads the plan; the rollups' update check is quadratic in the
# rows of one statement).

from django.db import migrations, models

from outcomes import ticket_plan


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0004_ticket_solved_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="plan",
            field=models.CharField(
                blank=True,
                default="",
                editable=False,
                help_text="The account's current plan (empty without an account), kept by the "
                "database.",
                max_length=100,
                verbose_name="account plan",
            ),
        ),
        migrations.RunSQL(ticket_plan.install_sql(), ticket_plan.uninstall_sql()),
        migrations.RunSQL(ticket_plan.backfill_with_triggers_off_sql(), migrations.RunSQL.noop),
    ]
