from django.contrib import admin
from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Invitation, Referral, Response, Survey


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "scale_min", "scale_max", "active", "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "slug", "question"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["contact", "survey", "status", "suppression_reason", "event_id", "created_at",
                    "sent_at", "send_count", "clicked_at", "answered_at", "expires_at"]
    list_filter = ["status", "suppression_reason", "survey", ("answered_at", admin.EmptyFieldListFilter)]
    search_fields = ["contact__email", "event_id", "public_id"]
    list_select_related = ["contact", "survey"]
    date_hierarchy = "created_at"
    raw_id_fields = ["contact"]
    readonly_fields = ["public_id", "created_at", "claimed_at", "sent_at", "send_count",
                       "clicked_at", "answered_at", "last_error"]
    exclude = ["token"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["answered_at", "survey", "score", "category_display", "contact", "account",
                    "short_comment", "reason", "confirmed_via", "suspected_bot", "excluded"]
    list_filter = ["survey", "category", "excluded", "suspected_bot", "confirmed_via",
                   "account__plan"]
    actions = ["exclude_responses", "restore_responses"]
    search_fields = ["contact__email", "comment", "account__name"]
    list_select_related = ["survey", "contact", "account"]
    date_hierarchy = "answered_at"
    raw_id_fields = ["invitation", "contact", "account"]
    readonly_fields = ["public_id", "score", "category", "updated_at", "answered_at",
                       "confirmed_via", "invitation", "survey", "reason", "suspected_bot",
                       "bot_signals_display"]
    exclude = ["bot_signals"]

    @admin.action(description=_("Exclude selected responses from every score"))
    def exclude_responses(self, request, queryset) -> None:
        changed = services.set_excluded(response_ids=list(queryset.values_list("pk", flat=True)),
                                        excluded=True)
        self.message_user(request, _("%(count)d responses excluded.") % {"count": changed})

    @admin.action(description=_("Restore selected responses to the scores"))
    def restore_responses(self, request, queryset) -> None:
        changed = services.set_excluded(response_ids=list(queryset.values_list("pk", flat=True)),
                                        excluded=False)
        self.message_user(request, _("%(count)d responses restored.") % {"count": changed})

    @admin.display(description=_("bot signals"))
    def bot_signals_display(self, obj: Response):
        signals = obj.bot_signals or {}
        if not signals:
            return "-"
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>",
            ((key, value) for key, value in signals.items()),
        )
        return format_html("<table>{}</table>", rows)

    def has_add_permission(self, request) -> bool:
        # Answers come from respondents, the API or imports, never typed in by staff.
        return False

    @admin.display(description=_("category"), ordering="category")
    def category_display(self, obj: Response) -> str:
        return obj.category_label

    @admin.display(description=_("comment"))
    def short_comment(self, obj: Response) -> str:
        return (obj.comment[:80] + "…") if len(obj.comment) > 80 else obj.comment


class ReferralInline(admin.TabularInline):
    model = Referral
    extra = 0
    fields = ["name", "email", "created_at"]
    readonly_fields = ["created_at"]


ResponseAdmin.inlines = [*ResponseAdmin.inlines, ReferralInline]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ["created_at", "name", "email", "referrer", "survey"]
    list_filter = ["response__survey"]
    search_fields = ["name", "email", "response__contact__email"]
    list_select_related = ["response__contact", "response__survey"]
    raw_id_fields = ["response"]
    date_hierarchy = "created_at"

    @admin.display(description=_("referred by"))
    def referrer(self, obj: Referral):
        return obj.response.contact

    @admin.display(description=_("survey"))
    def survey(self, obj: Referral):
        return obj.response.survey
