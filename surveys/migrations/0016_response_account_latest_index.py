# Each account's latest counted answers (the account lists' last answer and NPS category, one
# index probe per account). Built CONCURRENTLY: writes go on meanwhile on a live database.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("surveys", "0015_survey_stored_logo_thanks_negative"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="response",
            index=models.Index(
                condition=models.Q(("excluded", False)),
                fields=["account", "answered_at", "survey", "category"],
                name="response_account_latest",
            ),
        ),
    ]
