"""Staff roles: three groups and the checks every staff page, admin model and API endpoint makes.

Roles are Django groups holding model permissions, so the Django admin (ModelAdmin permissions),
the staff pages (`permission_required`) and the API (`RolePermission`) all ask the same question:
`user.has_perm(...)`. API tokens act with their user's permissions.

- CS staff: surveys, invitations, contacts, accounts, follow-ups, alert rules and reports;
  imports; data requests (export and erase a contact). No deletes, no integrations.
- Marketing: reports and exports; view-only on the survey and customer data.
- Administrators: every permission (as do superusers), including MANAGE_INTEGRATIONS.

Each role is an explicit allow-list (ROLE_PERMISSIONS): nothing is granted by default.

This module lives in `accounts`, the lowest app, so every app may import it. It names the other
apps' permissions as strings and imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

CS_STAFF = "CS staff"
MARKETING = "Marketing"
ADMINISTRATORS = "Administrators"
ROLES = (CS_STAFF, MARKETING, ADMINISTRATORS)

# Named capabilities, so call sites say what they need rather than which model it sits on.
VIEW_REPORTS = "metrics.view_reports"
EXPORT_RESPONSES = "metrics.add_exportjob"
TRIGGER_INVITATIONS = "surveys.add_invitation"
VIEW_OUTBOX = "surveys.change_invitation"
IMPORT_CONTACTS = "accounts.add_contact"
IMPORT_RESPONSES = "surveys.add_response"
EXPORT_CONTACT_DATA = "accounts.export_contact_data"
ERASE_CONTACT = "accounts.erase_contact"

# Managing where data leaves the app: webhook endpoints (every answer streamed to a URL),
# chat alert URLs and ESP settings. Administrators only by default.
MANAGE_INTEGRATIONS = "followups.manage_integrations"


def _model(app_model: str, *actions: str) -> set[str]:
    app_label, model = app_model.split(".")
    return {f"{app_label}.{action}_{model}" for action in actions}


# Explicit allow-lists: a role holds exactly these permissions (Administrators hold all). A model
# or an action added later is granted to nobody but Administrators until it is listed here.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    CS_STAFF: frozenset(
        {
            *_model("accounts.account", "view", "add", "change"),
            *_model("accounts.contact", "view", "add", "change"),
            *_model("accounts.churnreason", "view", "add", "change"),
            EXPORT_CONTACT_DATA,
            ERASE_CONTACT,
            *_model("surveys.survey", "view", "add", "change"),
            *_model("surveys.campaign", "view", "add", "change"),
            *_model("surveys.invitation", "view", "add", "change"),
            *_model("surveys.response", "view", "add", "change"),
            *_model("surveys.referral", "view"),
            # The subscription ledger is append-only: events are added, never changed; a
            # Stripe inbox row can be processed again.
            *_model("outcomes.subscriptionevent", "view", "add"),
            *_model("outcomes.stripeevent", "view", "change"),
            *_model("outcomes.stripesubscription", "view"),
            # Tickets and usage are upserted (add and change); a Zendesk event can be
            # processed again and an organization mapped to an account.
            *_model("outcomes.ticket", "view", "add", "change"),
            *_model("outcomes.zendeskevent", "view", "change"),
            *_model("outcomes.zendeskorganization", "view", "add", "change"),
            *_model("outcomes.usagerecord", "view", "add", "change"),
            *_model("outcomes.onboarding", "view", "add", "change"),
            *_model("followups.followup", "view", "add", "change"),
            *_model("followups.note", "view", "add"),
            *_model("followups.tag", "view", "add", "change"),
            *_model("followups.alertrule", "view", "add", "change", "delete"),
            *_model("followups.alertdelivery", "view"),
            *_model("followups.accountalert", "view"),
            *_model("followups.digestpreference", "view", "add", "change"),
            *_model("metrics.healthsettings", "view"),
            *_model("metrics.healthsegmentweights", "view"),
            *_model("metrics.healthsettingsversion", "view"),
            *_model("metrics.healthsnapshot", "view"),
            VIEW_REPORTS,
        }
    ),
    MARKETING: frozenset(
        {
            *_model("accounts.account", "view"),
            *_model("accounts.contact", "view"),
            *_model("accounts.churnreason", "view"),
            *_model("outcomes.subscriptionevent", "view"),
            *_model("outcomes.ticket", "view"),
            *_model("outcomes.usagerecord", "view"),
            *_model("outcomes.onboarding", "view"),
            *_model("surveys.survey", "view"),
            *_model("surveys.campaign", "view"),
            *_model("surveys.invitation", "view"),
            *_model("surveys.response", "view"),
            *_model("surveys.referral", "view"),
            *_model("followups.followup", "view"),
            *_model("followups.note", "view"),
            *_model("followups.tag", "view"),
            *_model("followups.alertrule", "view"),
            *_model("metrics.healthsettings", "view"),
            *_model("metrics.healthsegmentweights", "view"),
            *_model("metrics.healthsettingsversion", "view"),
            *_model("metrics.healthsnapshot", "view"),
            VIEW_REPORTS,
            # Exports are Marketing's; a job's list is filtered to the requester's own.
            *_model("metrics.exportjob", "view", "add"),
        }
    ),
}


def role_grants(role: str, app_label: str, model: str, codename: str) -> bool:
    """Whether a role holds a permission: the one rule both the migrations and post_migrate use."""
    if role == ADMINISTRATORS:
        return True
    return f"{app_label}.{codename}" in ROLE_PERMISSIONS.get(role, frozenset())


def sync_roles(apps=None, *, using: str = "default") -> None:
    """Create the role groups and give them their default permissions. Idempotent.

    Only adds: permissions an administrator granted a group in the admin are kept.
    """
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.using(using)
        .select_related("content_type")
        .values_list("pk", "content_type__app_label", "content_type__model", "codename")
    )
    for role in ROLES:
        group, _created = Group.objects.using(using).get_or_create(name=role)
        wanted = {
            pk
            for pk, app_label, model, codename in permissions
            if role_grants(role, app_label, model, codename)
        }
        current = set(group.permissions.values_list("pk", flat=True))
        if wanted - current:
            group.permissions.add(*(wanted - current))


def ensure_permissions_and_roles(using: str = "default", **kwargs) -> None:
    """post_migrate: new models get their permissions, then the groups are brought up to date."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        if app_config.models_module is not None:
            create_permissions(app_config, verbosity=0, using=using)
    sync_roles(using=using)


def is_administrator(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS).exists()


def role_names(user) -> list[str]:
    if user.is_superuser:
        return [ADMINISTRATORS]
    return sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def permission_required(*perms: str) -> Callable:
    """Staff page guard: anonymous users go to the login page; signed-in users without every
    permission get 403 (never a login loop)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.is_active or not user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_permissions = perms
        return wrapped

    return decorator


# API views without a queryset or a declaration: the metrics API is the reports, read-only.
APP_DEFAULT_PERMISSIONS = {"metrics": (VIEW_REPORTS,)}


class RolePermission(BasePermission):
    """The API's default: a view states `required_permissions` (per HTTP method or for all),
    otherwise the model permissions of its queryset apply, with `view` needed to read; a
    metrics view needs the reports permission. Anything else is open to superusers only."""

    method_actions = {
        "GET": "view",
        "HEAD": "view",
        "OPTIONS": "view",
        "POST": "add",
        "PUT": "change",
        "PATCH": "change",
        "DELETE": "delete",
    }

    def required(self, request, view) -> tuple[str, ...] | None:
        declared = getattr(view, "required_permissions", None)
        if isinstance(declared, dict):
            perms = declared.get(request.method)
            return tuple(perms) if perms is not None else None
        if declared is not None:
            return tuple(declared)
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            app_label = type(view).__module__.split(".", 1)[0]
            return APP_DEFAULT_PERMISSIONS.get(app_label)
        opts = queryset.model._meta
        action = self.method_actions.get(request.method)
        if action is None:
            return None
        return (f"{opts.app_label}.{action}_{opts.model_name}",)

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        perms = self.required(request, view)
        if perms is None:
            return user.is_superuser
        return user.has_perms(perms)
