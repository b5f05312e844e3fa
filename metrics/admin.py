import datetime as dt

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import health, health_views, scoring
from .models import HealthSegmentWeights, HealthSettings, HealthSettingsVersion, HealthSnapshot

WEIGHT_FIELDS = [f"weight_{name}" for name in scoring.HEALTH_COMPONENTS]


class SegmentWeightsInline(admin.TabularInline):
    model = HealthSegmentWeights
    fk_name = "health_settings"
    extra = 0
    fields = ["segment", *WEIGHT_FIELDS]
    verbose_name_plural = _("Segments with their own weights (the others use the default set)")


class BacktestForm(forms.Form):
    backtest_day = forms.DateField(
        label=_("Health on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("At least 90 days ago, so the churn that followed is known."),
    )
    source = forms.ChoiceField(
        label=_("Scores"),
        required=False,
        choices=[
            ("recomputed", _("recomputed with these settings")),
            ("snapshots", _("that day's snapshots (the settings then in force)")),
        ],
    )


@admin.register(HealthSettings)
class HealthSettingsAdmin(admin.ModelAdmin):
    """One row: the list page goes straight to it; it cannot be added twice or deleted. Each
    save records a settings version; the page shows the versions and the churn backtest."""

    change_form_template = "admin/metrics/healthsettings/change_form.html"
    inlines = [SegmentWeightsInline]
    fieldsets = [
        (
            _("Default weights"),
            {
                "description": _(
                    "Each component scores 0-100; the health score is their weighted mean. "
                    "A component without data (e.g. an account without tickets, seats or "
                    "usage) is left out and the other weights are scaled up. Segments below "
                    "can have weights of their own."
                ),
                "fields": WEIGHT_FIELDS,
            },
        ),
        (_("Thresholds"), {"fields": ["red_below", "green_from"]}),
        (
            _("Inputs"),
            {
                "fields": [
                    "window_days",
                    "recency_full_days",
                    "recency_zero_days",
                    "tickets_at_zero",
                    "revenue_days",
                    "revenue_drop_at_zero",
                ]
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not HealthSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        settings_row = HealthSettings.load()
        if settings_row._state.adding:
            settings_row.save()
        return HttpResponseRedirect(
            reverse("admin:metrics_healthsettings_change", args=[settings_row.pk])
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.__dict__.pop("segment_weights", None)  # the cached overrides
        health.current_version(health_settings=form.instance, user=request.user)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backtest_form = BacktestForm(request.GET or None)
        default_day = timezone.localdate() - dt.timedelta(days=health.BACKTEST_HORIZON_DAYS + 1)
        day, source = default_day, "recomputed"
        if backtest_form.is_bound and backtest_form.is_valid():
            day = backtest_form.cleaned_data["backtest_day"] or default_day
            source = backtest_form.cleaned_data["source"] or "recomputed"
        result = None
        if request.method == "GET" and (not backtest_form.is_bound or backtest_form.is_valid()):
            result = health.backtest(day=day, source=source)
            labels = health_views.component_labels()
            for row in result.components:
                row["label"] = labels[row["name"]]
        extra_context = {
            **(extra_context or {}),
            "backtest_form": backtest_form,
            "backtest": result,
            "versions": HealthSettingsVersion.objects.select_related("created_by")[:20],
            "components": [(name, name in scoring.LEADING) for name in scoring.HEALTH_COMPONENTS],
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(admin.ModelAdmin):
    list_display = ["day", "account", "score", "colour", "version"]
    list_filter = ["colour", "day"]
    search_fields = ["account__name", "account__external_id"]
    date_hierarchy = "day"
    list_select_related = ["account", "version"]
    readonly_fields = [f.name for f in HealthSnapshot._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
