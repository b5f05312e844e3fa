# Each account's latest counted answer to each survey (the account lists' last answer and NPS
# category, one index probe per account and survey). Built CONCURRENTLY: writes go on meanwhile
# on a live database.

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
                fields=["account", "survey", "answered_at", "category"],
                name="response_account_latest",
            ),
        ),
    ]
