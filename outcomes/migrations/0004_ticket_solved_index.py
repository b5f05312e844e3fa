# The health score's open tickets at an instant (the accounts list, snapshots, backtest): the
# unsolved tickets (solved_at IS NULL) and those solved at or after the instant, two ranges of
# one index, so the count reads the tickets that can be open rather than every ticket. Built
# CONCURRENTLY: writes go on meanwhile on a live database.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("outcomes", "0003_tickets_usage_onboarding"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                fields=["solved_at"], include=("account", "created_at"), name="ticket_solved"
            ),
        ),
    ]
