"""Report filters. They validate GET parameters, so every filter lives in the URL."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.models import CURRENCY_CODES, Account
from surveys.models import Kind, Survey

from . import selectors

DEFAULT_DAYS = 365
ROLLING = selectors.ROLLING_WINDOWS


def _blank(choices) -> list[tuple[str, str]]:
    return [("", _("All")), *choices]


def _distinct_account_values() -> dict[str, list[str]]:
    """Plans, segments and regions in use: one query."""
    values: dict[str, set[str]] = {"plan": set(), "segment": set(), "region": set()}
    for plan, segment, region in (
        Account.objects.using(settings.REPORTS_DATABASE)
        .order_by()
        .values_list("plan", "segment", "region")
        .distinct()
    ):
        values["plan"].add(plan)
        values["segment"].add(segment)
        values["region"].add(region)
    return {key: sorted(v for v in found if v) for key, found in values.items()}


@functools.cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA time zone name the system knows, sorted (loaded once per process)."""
    names = zoneinfo.available_timezones() - {"localtime", "Factory"}
    return [(name, name.replace("_", " ")) for name in sorted(names)]


class TimeZoneInput(forms.TextInput):
    """A text box that suggests IANA time zone names as one types (a datalist: no script), so
    "sao" finds America/Sao_Paulo among some 600 names."""

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}-zones"
        attrs = {**(attrs or {}), "list": list_id, "autocomplete": "off", "spellcheck": "false"}
        box = super().render(name, value, attrs, renderer)
        zones = ((zone,) for zone, _label in time_zone_choices())
        options = format_html_join("", '<option value="{}">', zones)
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class TimeZoneField(forms.ChoiceField):
    """A searchable box of IANA time zone names; the cleaned value is the ZoneInfo."""

    widget = TimeZoneInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": _("Unknown time zone %(value)s: choose one from the list.")},
        )
        super().__init__(choices=lambda: [("", _("Default")), *time_zone_choices()], **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], params={"value": value}
            ) from None


# A trend with more points than this is unreadable (and slow): choose weeks or months.
MAX_TREND_POINTS = 1200


class ReportDateField(forms.DateField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
        kwargs.setdefault(
            "error_messages",
            {"invalid": _("Enter a date as YYYY-MM-DD, e.g. 2025-01-31.")},
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value is not None and not selectors.date_in_range(value):
            raise forms.ValidationError(selectors.DATE_RANGE_ERROR)
        return value


class AccountFieldsMixin:
    """Plan, segment, region choices from the data; owner choices from staff users."""

    def _add_account_choices(self) -> None:
        values = _distinct_account_values()
        for name in ("plan", "segment", "region"):
            self.fields[name].choices = _blank([(v, v) for v in values[name]])
        owners = (
            get_user_model()
            .objects.filter(is_staff=True, owned_accounts__isnull=False)
            .distinct()
            .order_by("username")
            .values_list("pk", "username")
        )
        self.fields["owner"].choices = _blank([(str(pk), name) for pk, name in owners])


class ReportFilterForm(AccountFieldsMixin, forms.Form):
    kind = forms.ChoiceField(label=_("Score"), choices=Kind.choices, required=False)
    survey = forms.ModelChoiceField(
        label=_("Survey"),
        queryset=Survey.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        empty_label=_("All surveys of this kind"),
    )
    start = ReportDateField(label=_("From"), required=False)
    end = ReportDateField(label=_("To"), required=False)
    tz = TimeZoneField(label=_("Time zone"), required=False)
    granularity = forms.ChoiceField(
        label=_("Trend by"),
        required=False,
        choices=[("month", _("Month")), ("week", _("Week")), ("day", _("Day"))],
    )
    window = forms.TypedChoiceField(
        label=_("Trend window"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[
            ("", _("Each period alone")),
            *((str(days), _("Rolling %(days)s days") % {"days": days}) for days in ROLLING),
        ],
        help_text=_(
            "Rolling: each point scores the days up to it, so a thin month does not swing."
        ),
    )
    group_by = forms.ChoiceField(
        label=_("Breakdown by"),
        required=False,
        choices=[(key, label) for key, (_lookup, label) in selectors.DIMENSIONS.items()],
    )
    plan = forms.ChoiceField(label=_("Plan"), required=False)
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    owner = forms.TypedChoiceField(label=_("Owner"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label=_("Account status"), required=False, choices=_blank(Account.Status.choices)
    )
    language = forms.ChoiceField(
        label=_("Contact language"), required=False, choices=_blank(settings.LANGUAGES)
    )
    prop = forms.CharField(
        label=_("Property"),
        required=False,
        max_length=200,
        help_text=_(
            "key=value for an invitation property (channel=chat), "
            "account.key=value for an account property."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._add_account_choices()
        # Empty means the site's zone: say which, so the select always shows what is used.
        current = timezone.get_current_timezone_name()
        self.fields["tz"].widget.attrs["placeholder"] = _("Default (%(tz)s)") % {"tz": current}

    def clean_prop(self) -> tuple[str, str] | None:
        value = self.cleaned_data.get("prop", "").strip()
        if not value:
            return None
        parsed = selectors.parse_property_filter(value)
        if parsed is None:
            raise forms.ValidationError(selectors.PROPERTY_FILTER_ERROR)
        return parsed

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The end date is before the start date."))
        survey = data.get("survey")
        if survey and data.get("kind") and data["kind"] != survey.kind:
            self.add_error("survey", _("This survey is not of the chosen kind."))
        if "granularity" in self.fields and not self.errors:
            granularity = data.get("granularity") or "month"
            points = selectors.bucket_count(self.filters().period, granularity)
            if points > MAX_TREND_POINTS:
                self.add_error(
                    "granularity",
                    _(
                        "A trend by %(granularity)s over this period has %(points)s points "
                        "(at most %(max)s): choose a coarser one or a shorter period."
                    )
                    % {
                        "granularity": dict(self.fields["granularity"].choices)[granularity],
                        "points": points,
                        "max": MAX_TREND_POINTS,
                    },
                )
        return data

    def filters(self) -> selectors.Filters:
        """The selectors' filters from valid data, with the defaults for what is left empty.

        Only for a valid form (or an unbound one: every default). An invalid form has no
        filters: a page must show its errors and no numbers, never numbers for other filters
        than the ones it displays.
        """
        if self.is_bound and self.errors:
            raise ValueError("An invalid report form has no filters; show its errors.")
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        tz = data.get("tz") or timezone.get_current_timezone()
        today = timezone.localtime(timezone.now(), tz).date()
        start, end = data.get("start"), data.get("end")
        if start is None and end is None:
            start, end = today - dt.timedelta(days=DEFAULT_DAYS - 1), today
        survey = data.get("survey")
        kind = survey.kind if survey else (data.get("kind") or Kind.NPS)
        prop = data.get("prop") or ("", "")
        return selectors.Filters(
            period=selectors.Period(start, end, tz),
            kind=kind,
            surveys=(survey.pk,) if survey else (),
            plan=data.get("plan") or "",
            segment=data.get("segment") or "",
            region=data.get("region") or "",
            owner=data.get("owner"),
            status=data.get("status") or "",
            language=data.get("language") or "",
            property_key=prop[0],
            property_value=prop[1],
        )


SORTS = {
    "name": _("Name"),
    "nps": _("NPS"),
    "health": _("Health"),
    "arr": _("ARR"),
    "renewal": _("Renewal date"),
    "last_answer": _("Last answer"),
    "owner": _("Owner"),
}


class AccountListForm(AccountFieldsMixin, forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    plan = forms.ChoiceField(label=_("Plan"), required=False)
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    owner = forms.TypedChoiceField(label=_("Owner"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_blank(Account.Status.choices)
    )
    currency = forms.ChoiceField(
        label=_("Currency"), required=False, choices=_blank(CURRENCY_CODES)
    )
    health = forms.ChoiceField(
        label=_("Health"),
        required=False,
        choices=_blank([("red", _("Red")), ("yellow", _("Yellow")), ("green", _("Green"))]),
    )
    at_risk = forms.BooleanField(label=_("Detractor or red health only"), required=False)
    renewing_days = forms.IntegerField(
        label=_("Renewing in the next N days"), required=False, min_value=0, max_value=3650
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=list(SORTS.items()))
    desc = forms.BooleanField(label=_("Descending"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._add_account_choices()

    def account_filters(self) -> selectors.AccountFilters:
        """The filters of a valid (or unbound) form; an invalid one has none (see
        `ReportFilterForm.filters`)."""
        if self.is_bound and self.errors:
            raise ValueError("An invalid account form has no filters; show its errors.")
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        return selectors.AccountFilters(
            plan=data.get("plan") or "",
            segment=data.get("segment") or "",
            region=data.get("region") or "",
            status=data.get("status") or "",
            owner=data.get("owner"),
            currency=data.get("currency") or "",
            search=(data.get("q") or "").strip(),
            renewing_within_days=data.get("renewing_days"),
        )
