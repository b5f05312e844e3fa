# The invitations table is one of the big ones: the index is built without locking out writes
# (CREATE INDEX CONCURRENTLY), which cannot run inside a transaction.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0010_quarantine_and_invitation_outcomes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="invitation",
            index=models.Index(
                condition=models.Q(("link_fetches", {}), _negated=True),
                fields=["answered_at", "expires_at"],
                name="invitation_fetches_kept",
            ),
        ),
    ]
