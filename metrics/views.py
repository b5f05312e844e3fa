import datetime as dt
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.models import Kind, Survey

from . import selectors


class ReportFilterForm(forms.Form):
    survey = forms.ModelChoiceField(
        label=_("Survey"), queryset=Survey.objects.order_by("name"), required=False,
        to_field_name="slug",
    )
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The end date is before the start date."))
        return data


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    tz = ZoneInfo(settings.TIME_ZONE)
    survey = None
    period = None
    if form.is_bound and form.is_valid():
        survey = form.cleaned_data["survey"]
        period = selectors.Period(form.cleaned_data["start"], form.cleaned_data["end"], tz)
    if survey is None:
        survey = Survey.objects.filter(kind=Kind.NPS).order_by("name").first() or Survey.objects.first()
    if period is None:
        today = timezone.localdate()
        period = selectors.Period(today - dt.timedelta(days=365), today, tz)
    context = {"form": form, "survey": survey, "period": period}
    if survey is not None:
        result = selectors.summary(survey=survey, period=period)
        trend = selectors.monthly_trend(survey=survey, period=period)
        distribution = selectors.distribution(survey=survey, period=period)
        peak = max((count for _score, count in distribution), default=0) or 1
        context.update(
            result=result,
            trend=trend,
            distribution=[(score, count, 100 * count / peak, survey.category_of(score))
                          for score, count in distribution],
            is_nps=survey.kind == Kind.NPS,
        )
    return render(request, "reports/dashboard.html", context)
