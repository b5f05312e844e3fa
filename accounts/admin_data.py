"""Admin pages for data operations: the contact import page and the (read-only) audit log."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import imports
from .models import AuditLog, ImportJob

IMPORT_PERMISSIONS = (
    "accounts.add_contact",
    "accounts.change_contact",
    "accounts.add_account",
    "accounts.change_account",
)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8, comma or semicolon separated, with a header line."),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Dry run: check and preview, write nothing"),
        required=False,
        initial=True,
    )


class CsvImportAdminMixin:
    """Adds an "Import CSV" page to a ModelAdmin's change list."""

    import_permissions: tuple[str, ...] = IMPORT_PERMISSIONS
    import_title = gettext_lazy("Import from CSV")
    import_sample = ""
    import_help = ""
    change_list_template = "admin/csv_import_change_list.html"

    def run_import(self, request: HttpRequest, source: bytes, dry_run: bool):
        raise NotImplementedError

    def import_task(self):
        """The Celery task that imports a big file: task(job_id, name, user_id, dry_run)."""
        raise NotImplementedError

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_import"
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=name),
            path(
                "import/<str:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name=f"{name}_job",
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(self.import_permissions)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        result = None
        file_error = ""
        if request.method == "POST" and form.is_valid():
            dry_run = form.cleaned_data["dry_run"]
            source = form.cleaned_data["file"].read()
            if imports.is_big(source):
                job = imports.start_import_job(
                    source=source, actor=request.user, dry_run=dry_run, task=self.import_task()
                )
                opts = self.model._meta
                return redirect(
                    f"admin:{opts.app_label}_{opts.model_name}_import_job", job.public_id.hex
                )
            try:
                result = self.run_import(request, source, dry_run)
            except imports.ImportFileError as exc:
                file_error = str(exc)
            else:
                if result.ok and result.applied:
                    messages.success(
                        request,
                        _("%(rows)s rows imported: %(counts)s.")
                        % {
                            "rows": result.rows,
                            "counts": ", ".join(
                                f"{k.replace('_', ' ')} {v}" for k, v in result.counts.items()
                            ),
                        },
                    )
                    opts = self.model._meta
                    return redirect(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": self.import_title,
            "form": form,
            "result": result,
            "file_error": file_error,
            "sample": self.import_sample,
            "help": self.import_help,
        }
        return TemplateResponse(request, "admin/csv_import.html", context)

    def import_job_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        """Progress of a big import, then its result (bad rows or counts)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        try:
            public_id = uuid.UUID(hex=job_id)
        except ValueError:
            raise Http404 from None
        job = ImportJob.objects.filter(
            public_id=public_id, requested_by=request.user, task=self.import_task().name
        ).first()
        if job is None:
            raise Http404
        finished = job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED)
        state = {
            "status": "done" if finished else job.status,
            "rows": job.processed_rows,
            "total": job.total_rows,
            "dry_run": job.dry_run,
            # Every row checked, the writes (one transaction) under way.
            "writing": job.status == ImportJob.Status.RUNNING
            and job.processed_rows >= job.total_rows,
            **job.result,
        }
        if job.status == ImportJob.Status.FAILED:
            state["file_error"] = job.error or _("The import failed; nothing was written.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": self.import_title,
            "state": state,
            "percent": job.percent,
        }
        return TemplateResponse(request, "admin/csv_import_job.html", context)


class ContactImportMixin(CsvImportAdminMixin):
    import_title = gettext_lazy("Import accounts and contacts")
    import_sample = "docs/samples/contacts.csv"
    import_help = gettext_lazy(
        "Columns: email, name, language, external_id, account_name, plan, segment, region, "
        "status, owner, mrr, currency, start_date, renewal_date, stripe_customer_id, seats, and "
        "property_<name>. A row with "
        "an email upserts a contact; with only an external_id, an account. Empty cells keep "
        "existing values."
    )

    def run_import(self, request, source, dry_run):
        return imports.import_contacts(source=source, actor=request.user, dry_run=dry_run)

    def import_task(self):
        from .tasks import import_contacts_file

        return import_contacts_file


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only for everyone: entries are written by the services, never by hand."""

    list_display = ["created_at", "actor_name", "action", "target", "row_count"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
