# The group rollups' triggers and fill once stood here; they now come with the tables' day
# rows in 0020, whose triggers write a `grain` these tables get in 0019. A database that ran
# this step before keeps its triggers until 0020 replaces them and rebuilds the rows.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0015_ticket_group_rollups"),
    ]

    operations = []
