# pg_trgm and the indexes for the admin's searches over the big tables (surveys/admin_big_tables.py).
# Built CONCURRENTLY: on a live database with millions of rows, writes go on meanwhile.

from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0011_invitation_fetches_kept_index"),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name="invitation",
            index=models.Index(
                condition=models.Q(("event_id__isnull", False)),
                fields=["event_id"],
                name="invitation_event_id",
            ),
        ),
    ]
