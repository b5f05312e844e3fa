"""Roles become explicit allow-lists (accounts.roles.ROLE_PERMISSIONS).

The earlier rule gave CS staff add/change/delete on every model of the data apps (webhook
endpoints and alert rules included) and Marketing view on all of them. This takes back from the
two groups what that rule granted and the allow-lists do not; permissions an administrator added
beyond the old defaults are kept.
"""

from django.db import migrations

DATA_APPS = ("accounts", "surveys", "followups", "metrics")
ADMIN_ONLY_MODELS = {("accounts", "auditlog")}


def _old_rule(role, app_label, model, codename):
    # The rule of accounts.roles before this migration, frozen here.
    if app_label not in DATA_APPS or (app_label, model) in ADMIN_ONLY_MODELS:
        return False
    action = codename.split("_", 1)[0]
    if app_label == "metrics":
        if codename == "view_reports":
            return True
        if model == "exportjob":
            return role == "Marketing" and action in ("add", "view")
        return action == "view"
    if role == "Marketing":
        return action == "view"
    return role == "CS staff"


def narrow_roles(apps, schema_editor):
    from accounts.roles import CS_STAFF, MARKETING, role_grants

    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    for role in (CS_STAFF, MARKETING):
        group = Group.objects.using(using).filter(name=role).first()
        if group is None:
            continue
        held = group.permissions.values_list(
            "pk", "content_type__app_label", "content_type__model", "codename"
        )
        revoke = [
            pk
            for pk, app_label, model, codename in held
            if _old_rule(role, app_label, model, codename)
            and not role_grants(role, app_label, model, codename)
        ]
        if revoke:
            group.permissions.remove(*revoke)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_contact_email_index_for_iexact"),
    ]

    operations = [migrations.RunPython(narrow_roles, migrations.RunPython.noop)]
