# Newest-first pages of answers (the API's cursor pages, the admin's list) read this index.
# Built CONCURRENTLY: on a live database with millions of answers, writes go on meanwhile.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0013_response_comment_trigram_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="response",
            index=models.Index(fields=["answered_at", "id"], name="response_answered_id"),
        ),
    ]
