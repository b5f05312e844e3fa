"""History starts the day the ledger ships: every existing account gets one event with the MRR
it has now, effective when the account was created (a churned account: a second event of 0 at
its last update, so it counts as churned then)."""

from django.db import migrations


def seed_ledger(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    SubscriptionEvent = apps.get_model("outcomes", "SubscriptionEvent")
    rows = []
    churned = []
    for account in Account.objects.all().iterator(chunk_size=1000):
        rows.append(
            SubscriptionEvent(
                account_id=account.pk,
                source="initial",
                external_id=f"initial-{account.pk}",
                effective_at=account.created_at,
                mrr=account.mrr,
                currency=account.currency,
                plan=account.plan,
                renews_on=account.renewal_date,
            )
        )
        if account.status == "churned":
            rows.append(
                SubscriptionEvent(
                    account_id=account.pk,
                    source="initial",
                    external_id=f"initial-churn-{account.pk}",
                    effective_at=max(account.updated_at, account.created_at),
                    mrr=0,
                    currency=account.currency,
                    plan=account.plan,
                )
            )
            churned.append(account.pk)
        if len(rows) >= 1000:
            SubscriptionEvent.objects.bulk_create(rows)
            rows = []
    SubscriptionEvent.objects.bulk_create(rows)
    # Churned accounts hold no MRR: the cache follows the ledger.
    for account in Account.objects.filter(pk__in=churned, churned_at__isnull=True):
        Account.objects.filter(pk=account.pk).update(mrr=0, churned_at=account.updated_at)


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0001_ledger_and_stripe_inbox")]

    operations = [migrations.RunPython(seed_ledger, migrations.RunPython.noop)]
