"""Admin: the subscription ledger (append-only, with a CSV import), the Stripe inbox, support
tickets and the Zendesk inbox, usage and onboarding milestones."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin_data import CsvImportAdminMixin

from . import imports, stripe_inbox, ticket_imports, usage_imports, zendesk_inbox
from .models import (
    Onboarding,
    StripeEvent,
    StripeSubscription,
    SubscriptionEvent,
    Ticket,
    UsageRecord,
    ZendeskEvent,
    ZendeskOrganization,
)


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


@admin.register(Ticket)
class TicketAdmin(CsvImportAdminMixin, admin.ModelAdmin):
    """Read-only rows: tickets come from the help desk (API, CSV, Zendesk); a correction is a
    new write from there."""

    list_display = [
        "created_at",
        "external_id",
        "account",
        "status",
        "channel",
        "assignee",
        "agent_replies",
        "reopens",
        "source",
    ]
    list_filter = ["source", "status", "channel"]
    search_fields = ["external_id", "subject", "account__name", "account__external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account"]
    readonly_fields = [f.name for f in Ticket._meta.fields]
    import_permissions = ("outcomes.add_ticket", "outcomes.change_ticket")
    import_title = _("Import support tickets")
    import_sample = "docs/samples/tickets.csv"
    import_help = _(
        "Columns: account (external id), external_id; then any of status, created_at, "
        "first_reply_at, first_solved_at, solved_at, agent_replies, reopens, subject, channel, "
        "requester_email, assignee. Times are ISO 8601, in UTC unless they carry an offset. An "
        "empty cell keeps the stored value. Every row is checked first; if one is bad nothing "
        "is written."
    )

    def run_import(self, request, source, dry_run):
        return ticket_imports.import_tickets(source=source, actor=request.user, dry_run=dry_run)

    def import_task(self):
        from .tasks import import_tickets_file

        return import_tickets_file

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ZendeskEvent)
class ZendeskEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "type", "ticket_id", "status", "note", "attempts"]
    list_filter = ["status", "type"]
    search_fields = ["event_id", "ticket_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in ZendeskEvent._meta.fields]
    actions = ["process_again"]

    @admin.action(description=_("Process again (failed)"), permissions=["change"])
    def process_again(self, request, queryset):
        count = zendesk_inbox.retry(inbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(n)s event queued.", "%(n)s events queued.", count) % {"n": count},
            messages.SUCCESS,
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ZendeskOrganization)
class ZendeskOrganizationAdmin(admin.ModelAdmin):
    """Organizations appear with their first ticket; choose the account their tickets belong
    to, and the tickets already stored move to it."""

    list_display = ["organization_id", "name", "account", "created_at"]
    list_filter = [("account", admin.EmptyFieldListFilter)]
    search_fields = ["organization_id", "name", "account__name", "account__external_id"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        moved = zendesk_inbox.map_organization(
            organization_id=obj.organization_id, account=obj.account
        )
        if moved:
            self.message_user(
                request,
                ngettext("%(n)s ticket moved.", "%(n)s tickets moved.", moved) % {"n": moved},
                messages.SUCCESS,
            )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(CsvImportAdminMixin, admin.ModelAdmin):
    list_display = ["day", "account", "metric", "value"]
    list_filter = ["metric"]
    search_fields = ["account__name", "account__external_id", "metric"]
    date_hierarchy = "day"
    list_select_related = ["account"]
    readonly_fields = [f.name for f in UsageRecord._meta.fields]
    import_permissions = ("outcomes.add_usagerecord", "outcomes.change_usagerecord")
    import_title = _("Import daily usage")
    import_sample = "docs/samples/usage.csv"
    import_help = _(
        "Columns: account (external id), day (YYYY-MM-DD), metric, value. active_users is the "
        "number of distinct users active in the 30 days ending that day. The same account, "
        "metric and day replaces the value. Every row is checked first; if one is bad nothing "
        "is written."
    )

    def run_import(self, request, source, dry_run):
        return usage_imports.import_usage(source=source, actor=request.user, dry_run=dry_run)

    def import_task(self):
        from .tasks import import_usage_file

        return import_usage_file

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Onboarding)
class OnboardingAdmin(admin.ModelAdmin):
    list_display = [
        "account",
        "kickoff_on",
        "go_live_on",
        "first_value_on",
        "implementation_display",
    ]
    search_fields = ["account__name", "account__external_id"]
    autocomplete_fields = ["account"]
    date_hierarchy = "kickoff_on"
    list_select_related = ["account"]
    readonly_fields = ["updated_at"]

    @admin.display(description=_("implementation (days)"))
    def implementation_display(self, obj: Onboarding):
        return obj.implementation_days
