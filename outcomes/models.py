"""What customers do, as opposed to what they say: the subscription ledger and its inbox,
support tickets (with the Zendesk inbox), daily usage and onboarding milestones.

The ledger is append-only: each row says "from `effective_at`, this account pays `mrr` per
month in `currency`". An account's MRR at instant t is the `mrr` of its latest event with
`effective_at` < t (none: 0); `Account.mrr` is a cached copy of the latest event.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
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


# --- Support tickets ----------------------------------------------------------------------------


class TicketSource(models.TextChoices):
    API = "api", _("API")
    CSV = "csv", _("CSV import")
    ZENDESK = "zendesk", _("Zendesk")
    DEMO = "demo", _("Demo data")


class Ticket(models.Model):
    """One support ticket, after Zendesk's ticket metrics: first reply = first public agent
    reply - created; resolution = final solve - created; a reopen is solved -> unsolved.
    Upserted by (source, external_id); times are never before `created_at`."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SOLVED = "solved", _("Solved")
        CLOSED = "closed", _("Closed")

    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tickets",
        help_text=_("Empty for a Zendesk ticket whose organization is not mapped to an account."),
    )
    # Kept by triggers (outcomes.ticket_plan), whatever writes the ticket or the account.
    plan = models.CharField(
        _("account plan"),
        max_length=100,
        blank=True,
        default="",
        editable=False,
        help_text=_("The account's current plan (empty without an account), kept by the database."),
    )
    source = models.CharField(_("source"), max_length=10, choices=TicketSource.choices)
    external_id = models.CharField(_("external id"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    channel = models.CharField(_("channel"), max_length=50, blank=True)
    requester_email = models.EmailField(_("requester email"), max_length=254, blank=True)
    assignee = models.CharField(_("assignee"), max_length=200, blank=True)
    organization = models.CharField(
        _("organization"),
        max_length=100,
        blank=True,
        help_text=_("The help desk's organization id (Zendesk), mapped to an account."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    created_at = models.DateTimeField(_("created at"))
    first_reply_at = models.DateTimeField(_("first agent reply at"), null=True, blank=True)
    first_solved_at = models.DateTimeField(_("first solved at"), null=True, blank=True)
    solved_at = models.DateTimeField(
        _("solved at (final)"),
        null=True,
        blank=True,
        help_text=_("The latest solve; empty while the ticket is not solved."),
    )
    agent_replies = models.PositiveIntegerField(_("public agent replies"), default=0)
    reopens = models.PositiveIntegerField(_("reopens"), default=0)
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("support ticket")
        verbose_name_plural = _("support tickets")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="ticket_source_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(first_reply_at__isnull=True)
                | models.Q(first_reply_at__gte=models.F("created_at")),
                name="ticket_reply_after_created",
            ),
            models.CheckConstraint(
                condition=models.Q(solved_at__isnull=True)
                | models.Q(solved_at__gte=models.F("created_at")),
                name="ticket_solved_after_created",
            ),
            models.CheckConstraint(
                condition=models.Q(first_solved_at__isnull=True)
                | models.Q(first_solved_at__gte=models.F("created_at")),
                name="ticket_first_solved_after_created",
            ),
        ]
        indexes = [
            # The support reports: every figure of the tickets created in a period, read from
            # the index alone (an index-only scan of the period's range).
            models.Index(
                fields=["created_at"],
                include=[
                    "account",
                    "status",
                    "channel",
                    "first_reply_at",
                    "first_solved_at",
                    "solved_at",
                    "agent_replies",
                    "reopens",
                ],
                name="ticket_created_metrics",
            ),
            models.Index(fields=["account", "created_at"], name="ticket_account_created"),
            # The health score's open tickets at an instant, read without the tickets solved
            # before it: the unsolved ones (solved_at IS NULL) and those solved at or after
            # the instant, both ranges of this one index, answered from it alone.
            models.Index(
                fields=["solved_at"], include=["account", "created_at"], name="ticket_solved"
            ),
            # CSAT per ticket: an answer's ticket by its account and id.
            models.Index(fields=["account", "external_id"], name="ticket_account_external"),
            models.Index(
                fields=["organization"],
                condition=~models.Q(organization=""),
                name="ticket_organization",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class ZendeskOrganization(models.Model):
    """A Zendesk organization and the account its tickets belong to. Rows appear when a
    ticket of an unknown organization arrives; staff map them to accounts in the admin."""

    organization_id = models.CharField(_("Zendesk organization id"), max_length=100, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="zendesk_organizations",
    )
    created_at = models.DateTimeField(_("first seen at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Zendesk organization")
        verbose_name_plural = _("Zendesk organizations")
        ordering = ["organization_id"]

    def __str__(self) -> str:
        return self.name or self.organization_id


class ZendeskEvent(models.Model):
    """The Zendesk inbox: every verified webhook delivery (a ticket event), stored before a
    worker applies it. Idempotent on Zendesk's event id; a ticket is rebuilt from all of its
    stored events in time order, so replays and out-of-order deliveries change nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored (not a ticket event)")
        FAILED = "failed", _("Failed")

    event_id = models.CharField(_("Zendesk event id"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100)
    ticket_id = models.CharField(_("ticket"), max_length=100, blank=True, db_index=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    note = models.TextField(_("note"), blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("Zendesk event")
        verbose_name_plural = _("Zendesk inbox")
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


# --- Usage and onboarding -----------------------------------------------------------------------

validate_metric_name = RegexValidator(
    r"\A[a-z][a-z0-9_]{0,63}\Z",
    _("Use lower-case letters, digits and _ (starting with a letter), at most 64."),
    code="metric",
)


class UsageRecord(models.Model):
    """One account's value of one usage metric on one day (a daily rollup), upserted per
    (account, metric, day). `active_users` is the number of distinct users active in the 30
    days ending that day; other metrics (events, documents, ...) are counts of that day."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="usage"
    )
    day = models.DateField(_("day"))
    metric = models.CharField(_("metric"), max_length=64, validators=[validate_metric_name])
    value = models.FloatField(_("value"), validators=[MinValueValidator(0)])
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage")
        ordering = ["-day", "account_id", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "metric", "day"], name="usage_account_metric_day"
            ),
            models.CheckConstraint(condition=models.Q(value__gte=0), name="usage_not_negative"),
        ]
        indexes = [
            # Every account's metric over a window (adoption, trends), read from the index.
            models.Index(
                fields=["metric", "day"], include=["account", "value"], name="usage_metric_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.metric}={self.value:g}"


class Onboarding(models.Model):
    """An account's onboarding milestones. Implementation time = go-live - kickoff."""

    account = models.OneToOneField(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="onboarding"
    )
    kickoff_on = models.DateField(_("kickoff"), null=True, blank=True)
    go_live_on = models.DateField(_("go-live"), null=True, blank=True)
    first_value_on = models.DateField(_("first value"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("onboarding")
        verbose_name_plural = _("onboarding milestones")
        ordering = ["account__name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(go_live_on__isnull=True)
                | models.Q(kickoff_on__isnull=True)
                | models.Q(go_live_on__gte=models.F("kickoff_on")),
                name="onboarding_go_live_after_kickoff",
            ),
            models.CheckConstraint(
                condition=models.Q(first_value_on__isnull=True)
                | models.Q(kickoff_on__isnull=True)
                | models.Q(first_value_on__gte=models.F("kickoff_on")),
                name="onboarding_first_value_after_kickoff",
            ),
        ]

    def __str__(self) -> str:
        return str(self.account)

    def clean(self) -> None:
        errors = {}
        for name in ("go_live_on", "first_value_on"):
            day = getattr(self, name)
            if self.kickoff_on is not None and day is not None and day < self.kickoff_on:
                errors[name] = _("Before the kickoff.")
        if errors:
            raise ValidationError(errors)

    @property
    def implementation_days(self) -> int | None:
        if self.kickoff_on is None or self.go_live_on is None:
            return None
        return (self.go_live_on - self.kickoff_on).days
