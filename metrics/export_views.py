"""Staff pages for response exports: the export form, a job's progress, the download."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.roles import EXPORT_RESPONSES, is_administrator, permission_required
from accounts.templatetags.staff_time import staff_time
from surveys.models import Kind

from . import export_summary, selectors
from .exports import background, columns, storage
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


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept") == "application/json"


@permission_required(EXPORT_RESPONSES)
@require_http_methods(["GET", "POST"])
def export_responses(request: HttpRequest) -> HttpResponse:
    """Every export becomes a job that shows at once in "Recent exports" with its progress;
    a small one simply finishes quickly. The page's script posts the form and adds the job's
    row without a reload; without the script, the page comes back with the job on top."""
    # A link from the reports carries their filters in the query string: start from them.
    initial = {key: value for key, value in request.GET.items() if key in ExportForm.base_fields}
    form = ExportForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            job = background.start_export_job(
                user=request.user,
                filters=form.filters(),
                options=form.options(),
                fmt=form.cleaned_data["format"],
            )
        except columns.ExportError as exc:
            form.add_error(None, str(exc))
        else:
            if _wants_json(request):
                row = render_to_string("reports/_export_row.html", {"job": job}, request=request)
                return JsonResponse({**export_progress(job), "row": row}, status=201)
            messages.info(
                request,
                _("%(rows)s rows: the file is being written; its link appears below when ready.")
                % {"rows": f"{job.total_rows:,}"},
            )
            # Back to the same filters, so the page (and its URL) still says what was asked.
            query = urlencode(
                {key: value for key, value in request.POST.items() if key in ExportForm.base_fields}
            )
            return redirect(f"{reverse('reports:exports')}?{query}")
    if request.method == "POST" and _wants_json(request):
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    jobs = _visible_jobs(request)[:20]
    return render(request, "reports/exports.html", {"form": form, "jobs": jobs})


@permission_required(EXPORT_RESPONSES)
def export_detail(request: HttpRequest, public_id) -> HttpResponse:
    job = get_object_or_404(_visible_jobs(request), public_id=public_id)
    if _wants_json(request):
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
        "expires": staff_time(job.expires_at) or "—",
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
