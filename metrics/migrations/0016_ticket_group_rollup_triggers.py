# The group rollups' triggers, then the rows of the tickets already stored (with the rollups
# of 0011: a full rebuild of the ticket rollups). One atomic step: no ticket is written between
# the triggers and the fill without its trigger.

from django.db import migrations

from metrics import ticket_rollups


def fill(apps, schema_editor):
    ticket_rollups.rebuild(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0015_ticket_group_rollups"),
    ]

    operations = [
        migrations.RunSQL(ticket_rollups.group_install_sql(), ticket_rollups.group_uninstall_sql()),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
