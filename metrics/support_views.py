"""The support report (`/reports/support/`), the adoption report (`/reports/adoption/`) and the
account page's support and adoption cards. Reads only: numbers from `support_selectors` and
`support_scoring`."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pygal
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Account
from accounts.roles import VIEW_REPORTS, permission_required
from outcomes.models import Onboarding
from outcomes.usage import ACTIVE_USERS

from . import charts
from . import support_scoring as ss
from . import support_selectors as sel

ADOPTION_PER_PAGE = 50
TOP_ASSIGNEES = 25
RECURRENCE_MONTHS = 12


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `day`'s."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def reply_bucket_labels() -> dict[str, str]:
    return {
        "under_1h": _("Under 1 hour"),
        "1h_4h": _("1 to 4 hours"),
        "4h_24h": _("4 to 24 hours"),
        "over_24h": _("Over 24 hours"),
        ss.NO_REPLY: _("No reply"),
    }


class _PeriodForm(forms.Form):
    tz = forms.CharField(label=gettext_lazy("Time zone"), required=False, max_length=64)
    plan = forms.ChoiceField(label=gettext_lazy("Plan"), required=False)
    segment = forms.ChoiceField(label=gettext_lazy("Segment"), required=False)
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"), required=False, queryset=get_user_model().objects.none()
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        combos = set(
            Account.objects.using(settings.REPORTS_DATABASE)
            .values_list("plan", "segment")
            .order_by()
            .distinct()
        )
        for i, name in enumerate(("plan", "segment")):
            values = sorted({combo[i] for combo in combos if combo[i]})
            self.fields[name].choices = [("", _("All"))] + [(v, v) for v in values]
        self.fields["owner"].queryset = get_user_model().objects.filter(is_staff=True)

    def clean_tz(self) -> ZoneInfo:
        value = self.cleaned_data.get("tz") or settings.TIME_ZONE
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(_("Unknown time zone.")) from None


class SupportFilterForm(_PeriodForm):
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Until (exclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    channel = forms.CharField(label=gettext_lazy("Channel"), required=False, max_length=50)
    account = forms.CharField(label=gettext_lazy("Account id"), required=False, max_length=100)

    field_order = ["start", "end", "tz", "plan", "segment", "owner", "channel", "account"]

    def clean_account(self) -> Account | None:
        value = self.cleaned_data.get("account", "").strip()
        if not value:
            return None
        account = (
            Account.objects.using(settings.REPORTS_DATABASE).filter(external_id=value).first()
            if "\x00" not in value
            else None
        )
        if account is None:
            raise forms.ValidationError(_("No account with this external id."))
        return account

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", _("The end date must be after the start."))
        return data

    def support_filters(self) -> sel.SupportFilters | None:
        """The period asked for; by default the 12 months up to today (this month included).
        None when the form is invalid."""
        if self.is_bound and not self.is_valid():
            return None
        data = self.cleaned_data if self.is_bound else {}
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        today = timezone.now().astimezone(tz).date()
        end = data.get("end") or today + dt.timedelta(days=1)
        last_day = end - dt.timedelta(days=1)
        start = data.get("start") or add_months(last_day.replace(day=1), -11)
        if end <= start:
            return None
        owner = data.get("owner")
        account = data.get("account")
        return sel.SupportFilters(
            start=start,
            end=end,
            tz=tz,
            account=account.pk if account else None,
            plan=data.get("plan") or "",
            segment=data.get("segment") or "",
            owner=owner.pk if owner else None,
            channel=(data.get("channel") or "").strip().lower(),
        )


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else minutes / 60


def support_charts(months: list[tuple[dt.date, ss.SupportSummary]]) -> tuple:
    if len(months) < 2:
        return None, None
    labels = [month.strftime("%Y-%m") for month, _s in months]
    volume = pygal.Bar(**charts._config(title=_("Tickets created and solved per month")))
    volume.x_labels = labels
    volume.add(_("Created"), [s.created for _m, s in months])
    volume.add(_("Solved"), [s.solved for _m, s in months])
    times = pygal.Line(
        **charts._config(
            title=_("Median first reply and resolution (hours)"), dots_size=3, include_x_axis=True
        )
    )
    times.x_labels = labels
    times.add(_("First reply"), [ss.round2(_hours(s.first_reply.median)) for _m, s in months])
    times.add(_("Resolution"), [ss.round2(_hours(s.resolution.median)) for _m, s in months])
    return charts._render(volume), charts._render(times)


@permission_required(VIEW_REPORTS)
def support(request: HttpRequest) -> HttpResponse:
    form = SupportFilterForm(request.GET or None)
    filters = form.support_filters()
    if filters is None:
        return render(request, "reports/support.html", {"form": form, "invalid": True}, status=400)
    report = sel.support_report(filters=filters)
    csat = sel.csat_by_ticket(filters=filters)
    volume_chart, times_chart = support_charts(report.by["month"])
    labels = reply_bucket_labels()
    context = {
        "form": form,
        "filters": filters,
        "last_day": filters.end - dt.timedelta(days=1),
        "summary": report.summary,
        "by_channel": report.by["channel"],
        "by_assignee": report.by["assignee"][:TOP_ASSIGNEES],
        "assignees_total": len(report.by["assignee"]),
        "by_plan": report.by["plan"],
        "by_month": report.by["month"],
        "volume_chart": volume_chart,
        "times_chart": times_chart,
        "csat": csat,
        "csat_buckets": [(labels[key], share) for key, share in csat["reply_bucket"]],
    }
    return render(request, "reports/support.html", context)


class AdoptionFilterForm(_PeriodForm):
    as_of = forms.DateField(
        label=gettext_lazy("As of (last day)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort"),
        required=False,
        choices=[
            ("adoption", gettext_lazy("Adoption, lowest first")),
            ("trend", gettext_lazy("Usage trend, falling first")),
            ("name", gettext_lazy("Account")),
        ],
    )

    field_order = ["as_of", "tz", "plan", "segment", "owner", "sort"]

    def as_of_day(self) -> dt.date:
        data = self.cleaned_data if self.is_bound else {}
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        # The last complete day: daily rollups of today are usually not in yet.
        return data.get("as_of") or timezone.now().astimezone(tz).date() - dt.timedelta(days=1)


def _sorted_adoption(rows: list[dict], sort: str) -> list[dict]:
    def key(row):
        usage = row["usage"]
        if sort == "trend":
            value = usage.trend() if usage else None
        elif sort == "adoption":
            value = usage.adoption_pct if usage else None
        else:
            return (0, row["account"].name.lower())
        return (value is None, value if value is not None else 0, row["account"].name.lower())

    return sorted(rows, key=key)


@permission_required(VIEW_REPORTS)
def adoption(request: HttpRequest) -> HttpResponse:
    form = AdoptionFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "reports/adoption.html", {"form": form, "invalid": True}, status=400)
    data = form.cleaned_data if form.is_bound else {}
    as_of = form.as_of_day()
    accounts = Account.objects.using(settings.REPORTS_DATABASE).exclude(
        status=Account.Status.CHURNED
    )
    for name in ("plan", "segment"):
        if data.get(name):
            accounts = accounts.filter(**{name: data[name]})
    if data.get("owner"):
        accounts = accounts.filter(owner=data["owner"])
    accounts = list(accounts.select_related("owner").order_by("name", "pk"))
    usage = sel.account_usage(as_of=as_of)
    rows = [{"account": account, "usage": usage.get(account.pk)} for account in accounts]
    with_usage = [row for row in rows if row["usage"] and row["usage"].adoption_pct is not None]
    adoption_values = [row["usage"].adoption_pct for row in with_usage]
    trends = [
        row["usage"].trend() for row in rows if row["usage"] and row["usage"].trend() is not None
    ]
    page = Paginator(_sorted_adoption(rows, data.get("sort") or "adoption"), ADOPTION_PER_PAGE)
    page = page.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    prior_start, last_start, last_day = sel.usage_windows(as_of)
    context = {
        "form": form,
        "as_of": as_of,
        "last_start": last_start,
        "prior_start": prior_start,
        "page": page,
        "query": query.urlencode(),
        "accounts": len(rows),
        "with_seats": sum(1 for row in rows if row["account"].seats),
        "with_adoption": len(with_usage),
        "adoption": ss.time_stats(adoption_values),
        "below_half": sum(1 for value in adoption_values if value < 50),
        "falling": sum(1 for value in trends if value <= -30),
        "trend": ss.time_stats(trends),
        "metric": ACTIVE_USERS,
        "by_plan": sel.implementation_times(dimension="plan"),
        "by_owner": _owner_names(sel.implementation_times(dimension="owner")),
    }
    return render(request, "reports/adoption.html", context)


def _owner_names(rows: list[dict]) -> list[dict]:
    ids = [row["key"] for row in rows if row["key"] is not None]
    names = dict(
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list("pk", get_user_model().USERNAME_FIELD)
    )
    for row in rows:
        row["label"] = names.get(row["key"], "") if row["key"] is not None else ""
    return rows


def account_outcomes(account: Account) -> dict:
    """The account page's support card (last 90 days, monthly recurrence) and adoption card
    (seats, active users, trends, onboarding, a chart of daily active users)."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    recent = sel.support_summary(
        filters=sel.SupportFilters(
            start=today - dt.timedelta(days=89),
            end=today + dt.timedelta(days=1),
            tz=tz,
            account=account.pk,
        )
    )
    this_month = today.replace(day=1)
    months = [
        add_months(this_month, -back)
        for back in range(RECURRENCE_MONTHS + ss.TRAILING_MONTHS - 1, -1, -1)
    ]
    counts = sel.monthly_ticket_counts(account=account, months=months, tz=tz)
    recurrence = ss.recurrence(counts)[ss.TRAILING_MONTHS :]
    as_of = today - dt.timedelta(days=1)
    usage = sel.account_usage(as_of=as_of, account_ids=[account.pk]).get(account.pk)
    daily = sel.daily_usage(
        account=account, metric=ACTIVE_USERS, start=as_of - dt.timedelta(days=89), end=as_of
    )
    chart = None
    if len(daily) > 1:
        line = pygal.DateLine(
            **charts._config(
                title=_("Active users (30-day distinct), last 90 days"),
                show_legend=False,
                height=220,
                include_x_axis=True,
                x_value_formatter=lambda day: day.strftime("%Y-%m-%d"),
            )
        )
        line.add(_("Active users"), [(day, value) for day, value in daily])
        if account.seats:
            line.add(_("Seats"), [(daily[0][0], account.seats), (daily[-1][0], account.seats)])
        chart = charts._render(line)
    return {
        "support_recent": recent,
        "recurrence": recurrence,
        "recurrence_latest": recurrence[-1] if recurrence else None,
        "usage": usage,
        "usage_chart": chart,
        "usage_as_of": as_of,
        "onboarding": Onboarding.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account)
        .first(),
    }
