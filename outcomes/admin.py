"""Admin: the subscription ledger (append-only, with a CSV import) and the Stripe inbox."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin_data import CsvImportAdminMixin

from . import imports, stripe_inbox
from .models import StripeEvent, StripeSubscription, SubscriptionEvent


@admin.register(SubscriptionEvent)
class SubscriptionEventAdmin(CsvImportAdminMixin, admin.ModelAdmin):
    """Read-only rows: the ledger is append-only. Corrections are new events."""

    list_display = ["effective_at", "account", "mrr", "currency", "plan", "source", "external_id"]
    list_filter = ["source", "currency"]
    search_fields = ["account__name", "account__external_id", "external_id"]
    date_hierarchy = "effective_at"
    list_select_related = ["account"]
    readonly_fields = [f.name for f in SubscriptionEvent._meta.fields]
    import_permissions = ("outcomes.add_subscriptionevent",)
    import_title = _("Import subscription events")
    import_sample = "docs/samples/subscription_events.csv"
    import_help = _(
        "Columns: account (external id), external_id, effective_at (YYYY-MM-DD or ISO 8601), "
        "mrr, currency; optional plan, quantity, renews_on. Every row is checked first; if one "
        "is bad nothing is written. Events already imported are skipped."
    )

    def run_import(self, request, source, dry_run):
        return imports.import_events(source=source, actor=request.user, dry_run=dry_run)

    def import_task(self):
        from .tasks import import_events_file

        return import_events_file

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["created", "type", "customer_id", "status", "account", "note", "attempts"]
    list_filter = ["status", "type"]
    search_fields = ["event_id", "customer_id", "subscription_id", "account__external_id"]
    date_hierarchy = "created"
    list_select_related = ["account"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields]
    actions = ["process_again"]

    @admin.action(description=_("Process again (failed or unmatched)"), permissions=["change"])
    def process_again(self, request, queryset):
        count = stripe_inbox.retry(inbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(n)s event queued.", "%(n)s events queued.", count) % {"n": count},
            messages.SUCCESS,
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeSubscription)
class StripeSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["subscription_id", "account", "status", "mrr", "currency", "plan"]
    list_filter = ["status", "currency"]
    search_fields = ["subscription_id", "customer_id", "account__external_id"]
    readonly_fields = [f.name for f in StripeSubscription._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
