from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.roles import MANAGE_INTEGRATIONS

from . import deliveries, outbound
from .models import (
    SUBSCRIBABLE_EVENTS,
    AccountAlert,
    AlertDelivery,
    AlertRule,
    DigestPreference,
    FollowUp,
    Note,
    Tag,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "survey",
        "active",
        "on_negative",
        "score_at_most",
        "mrr_above",
        "notify_owner",
        "created_at",
    ]
    list_filter = ["active", "survey", "on_negative", "notify_owner"]
    search_fields = ["name", "comment_words", "emails"]
    fieldsets = [
        (None, {"fields": ["name", "survey", "active"]}),
        (
            _("When every condition set here holds"),
            {"fields": ["on_negative", "score_at_most", "comment_words", "mrr_above"]},
        ),
        (
            _("Or, checked daily on accounts (not combined with the answer conditions)"),
            {
                "fields": [
                    "on_health_red",
                    "health_drop_points",
                    "usage_drop_pct",
                    "renewal_within_days",
                ]
            },
        ),
        (_("Notify"), {"fields": ["notify_owner", "emails", "chat_webhook_url"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if request.user.has_perm(MANAGE_INTEGRATIONS):
            return self.fieldsets
        # A chat webhook URL is a credential and a way out for the data: only users who manage
        # integrations set it or see it; others see where it points.
        return [
            (
                name,
                {
                    "fields": [
                        "chat_destination" if f == "chat_webhook_url" else f for f in opts["fields"]
                    ]
                },
            )
            for name, opts in self.fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(MANAGE_INTEGRATIONS):
            readonly.append("chat_destination")
        return readonly

    @admin.display(description=_("chat webhook URL"))
    def chat_destination(self, obj: AlertRule) -> str:
        return outbound.redact_url(obj.chat_webhook_url) if obj else ""


@admin.register(AccountAlert)
class AccountAlertAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "rule",
        "account",
        "day",
        "status",
        "attempts",
        "recipients",
        "email_sent_at",
        "chat_sent_at",
    ]
    list_filter = ["status", "rule"]
    list_select_related = ["rule", "account"]
    search_fields = ["account__name", "account__external_id"]
    readonly_fields = [f.name for f in AccountAlert._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "rule",
        "response",
        "status",
        "attempts",
        "recipients",
        "email_sent_at",
        "chat_sent_at",
    ]
    list_filter = ["status", "rule"]
    list_select_related = ["rule", "response__survey"]
    readonly_fields = [f.name for f in AlertDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


class NoteInline(admin.TabularInline):
    model = Note
    extra = 0
    readonly_fields = ["author", "created_at"]
    fields = ["body", "author", "created_at"]


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ["response", "status", "assignee", "created_at", "first_action_at", "closed_at"]
    list_filter = ["status", "tags", "assignee"]
    search_fields = ["response__contact__email", "response__account__name", "response__comment"]
    list_select_related = ["response__survey", "assignee"]
    raw_id_fields = ["response"]
    filter_horizontal = ["tags"]
    readonly_fields = ["created_at", "first_action_at", "closed_at"]
    inlines = [NoteInline]

    def save_formset(self, request, form, formset, change):
        # Notes typed in the admin take the signed-in user as their author.
        for note in formset.save(commit=False):
            if note.author_id is None:
                note.author = request.user
            note.save()
        for note in formset.deleted_objects:
            note.delete()


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(DigestPreference)
class DigestPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "frequency", "last_sent_at"]
    list_filter = ["frequency"]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=SUBSCRIBABLE_EVENTS, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["created_at", "event", "status", "attempts", "last_status_code", "last_error"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = WebhookEndpointForm
    list_display = [
        "destination",
        "description",
        "event_list",
        "state",
        "consecutive_failures",
        "created_at",
    ]
    list_filter = ["active"]
    readonly_fields = [
        "secret",
        "disabled_at",
        "disabled_reason",
        "consecutive_failures",
        "created_by",
        "created_at",
    ]
    actions = ["enable", "ping"]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and request.user.has_perm(MANAGE_INTEGRATIONS)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm(
            MANAGE_INTEGRATIONS
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and request.user.has_perm(
            MANAGE_INTEGRATIONS
        )

    def get_fields(self, request, obj=None):
        if not request.user.has_perm(MANAGE_INTEGRATIONS):
            # The URL (its path, query and user info) and the signing secret are credentials:
            # users who do not manage integrations see where deliveries go, nothing more.
            return ["destination", "description", "event_list", "state", "consecutive_failures"]
        fields = ["url", "description", "events", "active"]
        return fields + (list(self.readonly_fields) if obj else [])

    def get_readonly_fields(self, request, obj=None):
        if not request.user.has_perm(MANAGE_INTEGRATIONS):
            return self.get_fields(request, obj)
        return super().get_readonly_fields(request, obj)

    @admin.display(description=_("URL"), ordering="url")
    def destination(self, obj: WebhookEndpoint) -> str:
        return outbound.redact_url(obj.url)

    def get_inlines(self, request, obj):
        return [WebhookDeliveryInline] if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.active and change and "active" in form.changed_data:
            obj.disabled_at, obj.disabled_reason, obj.consecutive_failures = None, "", 0
        super().save_model(request, obj, form, change)

    @admin.display(description=_("events"))
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events or [])

    @admin.display(description=_("state"), ordering="active")
    def state(self, obj: WebhookEndpoint) -> str:
        if obj.active:
            return _("Active")
        return format_html('<span style="color:#cf222e">{}</span>', obj.disabled_reason or _("Off"))

    @admin.action(description=_("Enable again and reset the failure count"), permissions=["change"])
    def enable(self, request, queryset):
        count = sum(deliveries.enable_endpoint(endpoint=e) for e in queryset)
        self.message_user(request, _("%(n)s endpoints enabled.") % {"n": count}, messages.SUCCESS)

    @admin.action(description=_("Send a test ping"), permissions=["change"])
    def ping(self, request, queryset):
        count = sum(deliveries.send_ping(endpoint=e) for e in queryset)
        self.message_user(
            request,
            _("%(n)s test pings queued; see the deliveries below each endpoint.") % {"n": count},
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "delivered_at",
    ]
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["public_id", "key"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["redeliver"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm(
            MANAGE_INTEGRATIONS
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and request.user.has_perm(
            MANAGE_INTEGRATIONS
        )

    @admin.action(description=_("Deliver again (failed or skipped only)"), permissions=["change"])
    def redeliver(self, request, queryset):
        count = sum(deliveries.redeliver(delivery=d) for d in queryset)
        self.message_user(request, _("%(n)s deliveries queued.") % {"n": count}, messages.SUCCESS)
