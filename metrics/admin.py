from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .models import HealthSettings


@admin.register(HealthSettings)
class HealthSettingsAdmin(admin.ModelAdmin):
    """One row: the list page goes straight to it; it cannot be added twice or deleted."""

    fieldsets = [
        (
            _("Weights"),
            {
                "description": _(
                    "Each component scores 0-100; the health score is their weighted mean. "
                    "A component without data (e.g. no support-ticket count) is left out and "
                    "the other weights are scaled up."
                ),
                "fields": [
                    "weight_nps",
                    "weight_csat",
                    "weight_ces",
                    "weight_recency",
                    "weight_support",
                    "weight_adoption",
                ],
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
