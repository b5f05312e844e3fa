# The triggers that keep each ticket's plan equal to its account's (outcomes.ticket_plan), then
# the plans of the tickets already stored, in one UPDATE. One atomic step, the triggers first:
# creating them locks the tickets and the accounts against writes until the end (waiting for
# those in progress), so no ticket or plan is written between the backfill's read and the
# triggers. The backfill runs with the tickets' triggers off: none but ours reads the plan, and
# the rollups' check for an update that changed no counted column is quadratic in one
# statement's rows.

from django.db import migrations

from outcomes import ticket_plan


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0005_ticket_plan"),
    ]

    operations = [
        migrations.RunSQL(ticket_plan.install_sql(), ticket_plan.uninstall_sql()),
        migrations.RunSQL(ticket_plan.backfill_with_triggers_off_sql(), migrations.RunSQL.noop),
    ]
