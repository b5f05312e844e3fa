from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Invitation, Response, Survey


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "scale_min", "scale_max", "active", "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "slug", "question"]
    prepopulated_fields = {"slug": ["name"]}


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
                    "short_comment", "confirmed_via", "excluded"]
    list_filter = ["survey", "category", "excluded", "confirmed_via", "account__plan"]
    search_fields = ["contact__email", "comment", "account__name"]
    list_select_related = ["survey", "contact", "account"]
    date_hierarchy = "answered_at"
    raw_id_fields = ["invitation", "contact", "account"]
    readonly_fields = ["public_id", "score", "category", "updated_at", "answered_at",
                       "confirmed_via", "invitation", "survey"]

    def has_add_permission(self, request) -> bool:
        # Answers come from respondents, the API or imports, never typed in by staff.
        return False

    @admin.display(description=_("category"), ordering="category")
    def category_display(self, obj: Response) -> str:
        return obj.category_label

    @admin.display(description=_("comment"))
    def short_comment(self, obj: Response) -> str:
        return (obj.comment[:80] + "…") if len(obj.comment) > 80 else obj.comment
