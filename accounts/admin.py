from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import services
from .admin_data import ContactImportMixin
from .models import Account, ChurnReason, Contact


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["email", "name", "language", "unsubscribed_at"]
    readonly_fields = ["unsubscribed_at"]
    extra = 0
    show_change_link = True


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "external_id",
        "plan",
        "segment",
        "region",
        "status",
        "owner",
        "mrr",
        "currency",
        "arr_display",
        "renewal_date",
    ]
    list_filter = ["status", "plan", "segment", "region", "currency", "owner", "churn_reason"]
    search_fields = ["name", "external_id", "stripe_customer_id"]
    date_hierarchy = "renewal_date"
    list_select_related = ["owner"]
    inlines = [ContactInline]
    readonly_fields = ["created_at", "updated_at", "arr_display"]

    @admin.display(description=_("ARR"), ordering="mrr")
    def arr_display(self, obj: Account) -> str:
        return f"{obj.arr:,.2f} {obj.currency}"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # A new MRR, currency, renewal date, churn or Stripe customer goes to the ledger.
        services.save_account_billing(account=obj, changed=set(form.changed_data), source="admin")


@admin.register(ChurnReason)
class ChurnReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "active"]
    list_editable = ["position", "active"]
    search_fields = ["name"]


@admin.register(Contact)
class ContactAdmin(ContactImportMixin, admin.ModelAdmin):
    list_display = [
        "email",
        "name",
        "account",
        "language",
        "unsubscribed_at",
        "bounced_at",
        "last_invited_at",
    ]
    list_filter = [
        "language",
        ("unsubscribed_at", admin.EmptyFieldListFilter),
        ("bounced_at", admin.EmptyFieldListFilter),
        "account__plan",
    ]
    search_fields = ["email", "name", "account__name", "account__external_id"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at", "updated_at", "last_invited_at"]
