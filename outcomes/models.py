"""What customers do, as opposed to what they say: the subscription ledger and its inbox.

The ledger is append-only: each row says "from `effective_at`, this account pays `mrr` per
month in `currency`". An account's MRR at instant t is the `mrr` of its latest event with
`effective_at` < t (none: 0); `Account.mrr` is a cached copy of the latest event.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account


class Source(models.TextChoices):
    API = "api", _("API")
    CSV = "csv", _("CSV import")
    STRIPE = "stripe", _("Stripe")
    ACCOUNT_API = "account_api", _("Account upsert (invitations API)")
    CONTACT_IMPORT = "contact_import", _("Contact import")
    ADMIN = "admin", _("Admin")
    INITIAL = "initial", _("MRR before the ledger")
    DEMO = "demo", _("Demo data")


class SubscriptionEvent(models.Model):
    """One change of an account's recurring revenue. Idempotent on (source, external_id)."""

    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="subscription_events",
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    external_id = models.CharField(_("external id"), max_length=255)
    effective_at = models.DateTimeField(_("effective at"))
    mrr = models.DecimalField(
        _("MRR"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Monthly recurring revenue from this instant: annual / 12, net of discounts."),
    )
    currency = models.CharField(_("currency"), max_length=3)
    plan = models.CharField(_("plan"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    renews_on = models.DateField(
        _("renews on"),
        null=True,
        blank=True,
        help_text=_("The contract's next renewal date as known at this event."),
    )
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription ledger")
        ordering = ["-effective_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="subscription_event_source_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(mrr__gte=0), name="subscription_event_mrr_not_negative"
            ),
        ]
        indexes = [
            # MRR at an instant: the latest event of an account before it. Covering, so the
            # revenue reports read the ledger from the index alone.
            models.Index(
                fields=["account", "effective_at", "id"],
                include=["mrr", "currency"],
                name="subscription_event_timeline",
            ),
            models.Index(fields=["effective_at"], name="subscription_event_effective"),
            # The renewal date as known at an instant: only the events that carry one.
            models.Index(
                fields=["account", "effective_at"],
                include=["renews_on"],
                condition=models.Q(renews_on__isnull=False),
                name="subscription_event_renewals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.effective_at:%Y-%m-%d} {self.mrr} {self.currency}"


class StripeEvent(models.Model):
    """The Stripe inbox: every verified webhook delivery, stored before it is processed.

    A worker applies it to the ledger; unmatched events wait here until staff map the customer
    to an account, then are applied. Never dropped, replayable, idempotent on Stripe's event id.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        UNMATCHED = "unmatched", _("Unmatched customer")
        SUPERSEDED = "superseded", _("Superseded by a newer event")
        IGNORED = "ignored", _("Ignored (not a subscription event)")
        FAILED = "failed", _("Failed")

    event_id = models.CharField(_("Stripe event id"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100)
    created = models.DateTimeField(_("created at Stripe"))
    customer_id = models.CharField(_("customer"), max_length=255, blank=True, db_index=True)
    subscription_id = models.CharField(_("subscription"), max_length=255, blank=True)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    note = models.TextField(_("note"), blank=True)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe inbox")
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class StripeSubscription(models.Model):
    """The latest known state of one Stripe subscription: an account's MRR is the sum over its
    live subscriptions, and an event older than the state here (by `created`) changes nothing."""

    subscription_id = models.CharField(_("subscription"), max_length=255, unique=True)
    customer_id = models.CharField(_("customer"), max_length=255, db_index=True)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="stripe_subscriptions",
    )
    status = models.CharField(_("status"), max_length=30)
    mrr = models.DecimalField(_("MRR"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    plan = models.CharField(_("plan"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    last_event_created = models.DateTimeField(_("state as of"))
    last_event_id = models.CharField(_("last event"), max_length=255)

    class Meta:
        verbose_name = _("Stripe subscription")
        verbose_name_plural = _("Stripe subscriptions")

    def __str__(self) -> str:
        return self.subscription_id
