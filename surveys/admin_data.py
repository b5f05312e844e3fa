"""Admin for data operations that need surveys: the historical response import and the
LGPD/GDPR actions on contacts (export as JSON, erase).

The contact admin is defined in `accounts`, which must not know about responses; this module
re-registers it with the two actions added (accounts' admin is loaded first, INSTALLED_APPS order).
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin import ContactAdmin as BaseContactAdmin
from accounts.admin_data import CsvImportAdminMixin
from accounts.models import Contact
from accounts.roles import ERASE_CONTACT, EXPORT_CONTACT_DATA

from . import imports, privacy


class ResponseImportMixin(CsvImportAdminMixin):
    import_permissions = ("surveys.add_response", "accounts.add_contact")
    import_title = gettext_lazy("Import historical responses")
    import_sample = "docs/samples/responses.csv"
    import_help = gettext_lazy(
        "Columns: email, survey (its slug), score, comment, date (YYYY-MM-DD or an ISO date and "
        "time; without an offset it is read in the site's time zone). Unknown emails become "
        "contacts. Importing the same file again adds nothing."
    )

    def run_import(self, request, source, dry_run):
        return imports.import_responses(source=source, actor=request.user, dry_run=dry_run)

    def import_task(self):
        from .tasks import import_responses_file

        return import_responses_file


@admin.action(
    description=gettext_lazy("Export personal data (JSON, LGPD/GDPR)"),
    permissions=["export_contact_data"],
)
def export_personal_data(modeladmin, request, queryset):
    if not request.user.has_perm(EXPORT_CONTACT_DATA):
        raise PermissionDenied
    data = [
        privacy.export_contact_data(contact=contact, actor=request.user)
        for contact in queryset.select_related("account")
    ]
    body = json.dumps(
        data[0] if len(data) == 1 else data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="personal-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(
    description=gettext_lazy("Erase personal data (LGPD/GDPR), keep scores anonymously"),
    permissions=["erase_contact"],
)
def erase_personal_data(modeladmin, request, queryset):
    if not request.user.has_perm(ERASE_CONTACT):
        raise PermissionDenied
    if request.POST.get("confirm") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "title": _("Erase personal data?"),
            "contacts": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/surveys/erase_confirmation.html", context)
    erased = 0
    for contact in list(queryset):
        privacy.erase_contact(contact=contact, actor=request.user)
        erased += 1
    messages.success(
        request,
        _("%(count)s contact(s) erased; their scores remain, anonymously.") % {"count": erased},
    )
    return None


admin.site.unregister(Contact)


@admin.register(Contact)
class ContactAdmin(BaseContactAdmin):
    actions = [*(BaseContactAdmin.actions or []), export_personal_data, erase_personal_data]

    def has_export_contact_data_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_CONTACT_DATA)

    def has_erase_contact_permission(self, request) -> bool:
        return request.user.has_perm(ERASE_CONTACT)
