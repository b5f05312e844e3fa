"""Staff pages for response exports: the export form, a job's progress, the download."""

from __future__ import annotations

import tempfile
from dataclasses import replace

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.roles import EXPORT_RESPONSES, is_administrator, permission_required
from surveys.models import Kind

from . import export_summary, selectors
from .exports import background, columns, files, storage
from .forms import ReportFilterForm
from .models import ExportJob


class ExportForm(ReportFilterForm):
    """The report filters, plus the file's format and an Excel-friendly option."""

    kind = forms.ChoiceField(
        label=gettext_lazy("Score"),
        choices=[("", gettext_lazy("All kinds")), *Kind.choices],
        required=False,
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"), choices=ExportJob.Format.choices, initial="csv"
    )
    excel = forms.BooleanField(
        label=gettext_lazy("Excel-friendly CSV (byte-order mark, semicolons)"), required=False
    )
    quarantined = forms.ChoiceField(
        label=gettext_lazy("Quarantined answers (suspected bots)"),
        required=False,
        choices=[
            ("exclude", gettext_lazy("Leave out, as the reports do")),
            ("include", gettext_lazy("Include, marked in the quarantined column")),
            ("only", gettext_lazy("Only them")),
        ],
        initial="exclude",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["granularity"]
        del self.fields["group_by"]
        del self.fields["window"]

    def filters(self) -> selectors.Filters:
        filters = super().filters()
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        if not data.get("survey") and not data.get("kind"):
            filters = replace(filters, kind="")
        return filters

    def options(self) -> columns.ExportOptions:
        filters = self.filters()
        return columns.ExportOptions(
            tz=str(filters.period.tz),
            excel=self.cleaned_data["excel"],
            quarantined=self.cleaned_data.get("quarantined") or "exclude",
        )


def _visible_jobs(request: HttpRequest):
    jobs = ExportJob.objects.select_related("requested_by")
    if not is_administrator(request.user):
        jobs = jobs.filter(requested_by=request.user)
    return jobs


def _download_name(fmt: str) -> str:
    return f"responses-{timezone.now():%Y%m%d-%H%M%S}.{fmt}"


@permission_required(EXPORT_RESPONSES)
@require_http_methods(["GET", "POST"])
def export_responses(request: HttpRequest) -> HttpResponse:
    """Small exports download at once; big ones become a job written by a worker."""
    # A link from the reports carries their filters in the query string: start from them.
    initial = {key: value for key, value in request.GET.items() if key in ExportForm.base_fields}
    form = ExportForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        filters = form.filters()
        options = form.options()
        fmt = form.cleaned_data["format"]
        row_count = files.count_rows(filters, options)
        try:
            if files.is_background(row_count):
                job = background.start_export_job(
                    user=request.user, filters=filters, options=options, fmt=fmt
                )
                messages.info(
                    request,
                    _(
                        "%(rows)s rows: the file is being written; "
                        "you will get an email with a link."
                    )
                    % {"rows": f"{row_count:,}"},
                )
                return redirect("reports:export-detail", job.public_id)
            background.log_export(
                user=request.user, filters=filters, options=options, fmt=fmt, row_count=row_count
            )
            if fmt == ExportJob.Format.XLSX:
                # Spooled to disk past 8 MB: openpyxl keeps rows out of memory, so do we.
                handle = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
                files.write_xlsx(filters, options, handle)
                handle.seek(0)
                return FileResponse(handle, as_attachment=True, filename=_download_name(fmt))
            response = StreamingHttpResponse(
                files.csv_chunks(filters, options), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{_download_name(fmt)}"'
            return response
        except columns.ExportError as exc:
            form.add_error(None, str(exc))
    jobs = _visible_jobs(request)[:20]
    return render(request, "reports/exports.html", {"form": form, "jobs": jobs})


@permission_required(EXPORT_RESPONSES)
def export_detail(request: HttpRequest, public_id) -> HttpResponse:
    job = get_object_or_404(_visible_jobs(request), public_id=public_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(export_progress(job))
    return render(
        request,
        "reports/export_detail.html",
        {"job": job, "filters_used": export_summary.filters_used(job)},
    )


def export_progress(job: ExportJob) -> dict:
    """What the page's script shows while a job runs, and the link once it is done."""
    ready = job.status == ExportJob.Status.DONE and job.file and not job.is_expired
    return {
        "status": job.status,
        "status_display": str(job.get_status_display()),
        "progress": job.progress,
        "rows": job.row_count,
        "processed": job.processed_rows,
        "total": job.total_rows,
        "download_url": reverse("reports:export-download", args=[job.public_id]) if ready else "",
        "error": job.error if job.status == ExportJob.Status.FAILED else "",
    }


@permission_required(EXPORT_RESPONSES)
def export_download(request: HttpRequest, public_id) -> HttpResponse:
    """Only the requester or an administrator, and only until the link expires."""
    job = get_object_or_404(ExportJob, public_id=public_id)
    if not storage.can_download(user=request.user, job=job):
        return HttpResponse(_("This export belongs to someone else."), status=403)
    if job.status != ExportJob.Status.DONE:
        return HttpResponse(_("This export is not ready."), status=409)
    if job.is_expired or not job.file:
        return HttpResponse(_("This link has expired; export again."), status=410)
    return FileResponse(storage.iter_file(job), as_attachment=True, filename=job.filename)
