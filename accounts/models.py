import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CURRENCY_CODES = [
    ("USD", "USD"),
    ("EUR", "EUR"),
    ("BRL", "BRL"),
    ("GBP", "GBP"),
    ("MXN", "MXN"),
    ("ARS", "ARS"),
    ("CLP", "CLP"),
    ("COP", "COP"),
    ("CAD", "CAD"),
    ("AUD", "AUD"),
]


# An account's id in the CRM or billing system. It is part of URLs (/reports/accounts/<id>/,
# /api/v1/accounts/<id>/scores), so "/", "?", "#", spaces and control characters are refused.
EXTERNAL_ID_CHARACTERS = _(
    "Use letters, digits and . _ : @ + - only, starting with a letter or a digit."
)
validate_external_id = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9._:@+-]*\Z", EXTERNAL_ID_CHARACTERS, code="external_id"
)


class ChurnReason(models.Model):
    """One entry of the staff-editable list of reasons an account churned."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive reasons stay on past churns only.")
    )

    class Meta:
        verbose_name = _("churn reason")
        verbose_name_plural = _("churn reasons")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A customer company. Its contacts answer surveys; reports join their answers to it."""

    class Status(models.TextChoices):
        TRIAL = "trial", _("Trial")
        ACTIVE = "active", _("Active")
        CHURNED = "churned", _("Churned")

    name = models.CharField(_("name"), max_length=200)
    external_id = models.CharField(
        _("external id"),
        max_length=100,
        unique=True,
        validators=[validate_external_id],
        help_text=_(
            "The account's id in your CRM or billing system: letters, digits and . _ : @ + -"
        ),
    )
    plan = models.CharField(_("plan"), max_length=100, blank=True, db_index=True)
    segment = models.CharField(_("segment"), max_length=100, blank=True, db_index=True)
    region = models.CharField(_("region"), max_length=100, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        limit_choices_to={"is_staff": True},
    )
    mrr = models.DecimalField(
        _("MRR"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Monthly recurring revenue."),
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CODES, default="USD")
    start_date = models.DateField(_("start date"), null=True, blank=True)
    renewal_date = models.DateField(_("renewal date"), null=True, blank=True, db_index=True)
    seats = models.PositiveIntegerField(
        _("licensed seats"),
        null=True,
        blank=True,
        help_text=_("Users the contract allows; adoption % = 30-day active users / seats."),
    )
    # Set from the subscription ledger when MRR falls to 0, or by staff (which appends a
    # zero-MRR event); cleared when the account pays again.
    churned_at = models.DateTimeField(_("churned at"), null=True, blank=True)
    churn_reason = models.ForeignKey(
        ChurnReason,
        verbose_name=_("churn reason"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
    )
    churn_note = models.TextField(_("churn note"), blank=True)
    stripe_customer_id = models.CharField(
        _("Stripe customer id"),
        max_length=255,
        blank=True,
        default="",
        help_text=_("cus_...: Stripe events of this customer update this account's MRR."),
    )
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="account_stripe_customer_unique",
            ),
        ]
        indexes = [
            # The admin's searches by part of a name (`icontains` is UPPER(name) LIKE ...).
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="account_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def arr(self) -> Decimal:
        """Annual recurring revenue, always derived: 12 x MRR."""
        return self.mrr * 12


class Contact(models.Model):
    """A person at an account who can be surveyed. Emails are unique regardless of case."""

    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    email = models.EmailField(_("email"), max_length=254)
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Empty: the browser's language on pages, the site default in email."),
    )
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    complained_at = models.DateTimeField(_("complained at"), null=True, blank=True)
    last_invited_at = models.DateTimeField(_("last invited at"), null=True, blank=True)
    # An erased contact is kept as an anonymous row (no email, name or properties) so that the
    # answers and invitations that count in reports keep their account and language.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["email"]
        constraints = [
            # upper(email) is what `email__iexact` compiles to on PostgreSQL, so every
            # case-insensitive lookup of a contact by email is an index scan of this index.
            models.UniqueConstraint(Upper("email"), name="contact_email_ci_unique"),
        ]
        indexes = [
            # The admin's searches by part of an address (`icontains` is UPPER(email) LIKE ...).
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="contact_email_trgm"),
        ]
        permissions = [
            ("export_contact_data", _("Can export a contact's personal data")),
            ("erase_contact", _("Can erase a contact's personal data")),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def is_mailable(self) -> bool:
        return not (self.unsubscribed_at or self.bounced_at or self.complained_at or self.erased_at)


class AuditLog(models.Model):
    """Who did what to whose data, when: exports, imports and data-subject requests.

    Rows are written by services and never edited. The actor's username is copied so the trail
    survives the user's deletion; erased contacts are referred to by id, never by email.
    """

    class Action(models.TextChoices):
        EXPORT_RESPONSES = "export_responses", _("Exported responses")
        IMPORT_CONTACTS = "import_contacts", _("Imported accounts and contacts")
        IMPORT_RESPONSES = "import_responses", _("Imported historical responses")
        EXPORT_CONTACT = "export_contact", _("Exported a contact's data")
        ERASE_CONTACT = "erase_contact", _("Erased a contact")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(_("who (name)"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices, db_index=True)
    target = models.CharField(_("target"), max_length=200, blank=True)
    filters = models.JSONField(_("filters and details"), default=dict, blank=True)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"


class ImportJob(models.Model):
    """A big CSV upload imported by a worker: its progress and result live here, so every web
    process shows the same page, whichever worker runs it. Claimed and swept like exports
    (accounts/jobs.py)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.CASCADE,
        related_name="import_jobs",
    )
    # The Celery task that imports this kind of file (a contact, response or ledger import).
    task = models.CharField(_("task"), max_length=100)
    dry_run = models.BooleanField(_("dry run"), default=False)
    upload = models.CharField(_("uploaded file"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    total_rows = models.PositiveIntegerField(_("rows expected"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows checked"), default=0)
    # Bad rows (line, reason), counts, whether it was applied, or the file's error.
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("handed to a worker again at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.public_id}"

    @property
    def percent(self) -> int:
        if self.status in (self.Status.DONE, self.Status.FAILED):
            return 100
        return min(99, 100 * self.processed_rows // max(self.total_rows, 1))


class StaffProfile(models.Model):
    """A staff member's own settings. Times on staff pages are shown in `time_zone`."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="staff_profile",
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("An IANA name such as America/Sao_Paulo. Empty: the site's time zone."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return str(self.user)
