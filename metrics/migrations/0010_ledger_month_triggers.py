# The triggers that keep the ledger months exact in the same transaction as every write to the
# ledger, then the rows of the events already stored (metrics.ledger_months). One atomic step:
# no event is written between the two without its trigger.

from django.db import migrations

from metrics import ledger_months


def fill(apps, schema_editor):
    ledger_months.rebuild(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0009_ledger_months"),
        ("outcomes", "0003_tickets_usage_onboarding"),
    ]

    operations = [
        migrations.RunSQL(ledger_months.install_sql(), ledger_months.uninstall_sql()),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
