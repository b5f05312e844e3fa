# Each ticket's copy of its account's plan (outcomes.ticket_plan): the column. Adding a column
# with a constant default changes no row; 0006 installs the triggers that keep it, then fills
# it.

from django.db import migrations, models


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
    ]
