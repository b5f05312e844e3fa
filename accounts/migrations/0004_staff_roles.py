"""Create the staff role groups (CS staff, Marketing, Administrators) with their permissions.

The rules live in accounts.roles; a post_migrate hook re-applies them after every migrate so
models added later are covered too.
"""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from accounts.roles import sync_roles

    using = schema_editor.connection.alias
    # Permissions are normally created after migrate; the groups need them now.
    for app_config in global_apps.get_app_configs():
        if app_config.models_module is not None:
            create_permissions(app_config, verbosity=0, using=using)
    sync_roles(apps, using=using)


def remove_roles(apps, schema_editor):
    from accounts.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0003_audit_log_and_data_request_permissions"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
