# The triggers that keep the ticket rollups exact in the same transaction as every write to the
# tickets, then the rows of the tickets already stored (metrics.ticket_rollups). One atomic
# step: no ticket is written between the two without its trigger.

from django.db import migrations

from metrics import ticket_rollups


def fill(apps, schema_editor):
    ticket_rollups.rebuild(using=schema_editor.connection.alias, groups=False)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0011_ticket_rollups"),
        ("outcomes", "0004_ticket_solved_index"),
    ]

    operations = [
        migrations.RunSQL(ticket_rollups.install_sql(), ticket_rollups.uninstall_sql()),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
