"""Closing the loop on an answer: alert rules, the follow-up workflow, and outbound webhooks."""

import re
import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    URLValidator,
    validate_email,
)
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from surveys.models import Response, Survey

from .outbound import redact_url, validate_public_url

# Outbound posts go to web URLs only (no ftp://, file://, ...), never to internal networks.
http_url = URLValidator(schemes=["http", "https"])


def split_list(text: str) -> list[str]:
    """Items of a comma- or newline-separated list, stripped, empty ones dropped."""
    return [item.strip() for item in re.split(r"[,\n;]", text or "") if item.strip()]


class AlertRule(models.Model):
    """Notify people when an answer matches every condition set on the rule."""

    name = models.CharField(_("name"), max_length=200)
    survey = models.ForeignKey(
        Survey,
        verbose_name=_("survey"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text=_("Empty: every survey."),
    )
    active = models.BooleanField(_("active"), default=True)
    # Conditions: every one that is set must hold (AND).
    on_negative = models.BooleanField(
        _("detractor or unsatisfied"),
        default=False,
        help_text=_("NPS 0-6, CSAT in the bottom boxes, CES disagreeing."),
    )
    score_at_most = models.SmallIntegerField(
        _("score at most"), null=True, blank=True, help_text=_("E.g. 2 for CSAT ≤ 2.")
    )
    comment_words = models.TextField(
        _("comment contains any of"),
        blank=True,
        help_text=_("Words or phrases, one per line or comma-separated; case is ignored."),
    )
    mrr_above = models.DecimalField(
        _("account MRR above"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    # Account conditions, checked daily on the health snapshots (never combined with the
    # answer conditions above; the account's MRR may narrow either kind).
    on_health_red = models.BooleanField(
        _("health turns red"),
        default=False,
        help_text=_("The account's daily health snapshot is red and the day before's was not."),
    )
    health_drop_points = models.PositiveSmallIntegerField(
        _("health drops by at least (points in 30 days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    usage_drop_pct = models.PositiveSmallIntegerField(
        _("usage down by at least (%)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Active users, the last 30 days against the 30 before (e.g. 30)."),
    )
    renewal_within_days = models.PositiveSmallIntegerField(
        _("renewal within (days) while detractor or red"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # Who hears about it.
    notify_owner = models.BooleanField(_("email the account owner"), default=True)
    emails = models.TextField(
        _("also email"), blank=True, help_text=_("Addresses, one per line or comma-separated.")
    )
    chat_webhook_url = models.URLField(
        _("chat webhook URL"),
        max_length=500,
        blank=True,
        validators=[http_url, validate_public_url],
        help_text=_('A Slack-compatible incoming webhook; receives {"text": ...}.'),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def words(self) -> list[str]:
        return split_list(self.comment_words)

    @property
    def email_list(self) -> list[str]:
        return split_list(self.emails)

    @property
    def is_account_rule(self) -> bool:
        """A rule on accounts (health, usage, renewal), checked daily, not on answers."""
        return bool(
            self.on_health_red
            or self.health_drop_points is not None
            or self.usage_drop_pct is not None
            or self.renewal_within_days is not None
        )

    def has_answer_condition(self) -> bool:
        return bool(self.on_negative or self.score_at_most is not None or self.words)

    def has_condition(self) -> bool:
        """An answer rule with a condition: what each new answer is matched against."""
        if self.is_account_rule:
            return False
        return self.has_answer_condition() or self.mrr_above is not None

    def condition_q(self) -> Q:
        """The rule as a filter on responses, so matching is one query and never drifts."""
        q = Q()
        if self.survey_id:
            q &= Q(survey_id=self.survey_id)
        if self.on_negative:
            q &= Q(category=-1)
        if self.score_at_most is not None:
            q &= Q(score__lte=self.score_at_most)
        if self.words:
            any_word = Q()
            for word in self.words:
                any_word |= Q(comment__icontains=word)
            q &= any_word
        if self.mrr_above is not None:
            q &= Q(account__mrr__gt=self.mrr_above)
        return q

    def clean(self) -> None:
        errors = {}
        if not (self.has_condition() or self.is_account_rule):
            errors["on_negative"] = _("Set at least one condition.")
        if self.is_account_rule and (self.has_answer_condition() or self.survey_id):
            errors["on_negative"] = _(
                "Answer conditions (survey, detractor, score, words) and account conditions "
                "(health, usage, renewal) cannot be combined in one rule: make two rules."
            )
        bad = []
        for address in self.email_list:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            errors["emails"] = _("Not an email address: %(addresses)s") % {
                "addresses": ", ".join(bad)
            }
        if not (self.notify_owner or self.email_list or self.chat_webhook_url):
            errors["notify_owner"] = _(
                "Choose who is notified: the owner, addresses or a chat webhook."
            )
        if errors:
            raise ValidationError(errors)


class AlertDelivery(models.Model):
    """One rule fired for one response. The unique pair is what makes an alert fire once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    rule = models.ForeignKey(
        AlertRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="deliveries"
    )
    response = models.ForeignKey(
        Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="alerts"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    recipients = models.TextField(_("emailed to"), blank=True)
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)
    chat_sent_at = models.DateTimeField(_("chat sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("alert sent")
        verbose_name_plural = _("alerts sent")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "response"], name="alert_once_per_response"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} → {self.response_id}"


class AccountAlert(models.Model):
    """One account rule fired for one account on one day. An account rule fires for an
    account at most once in ACCOUNT_ALERT_COOLDOWN_DAYS, so a condition that holds for weeks
    is announced once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    rule = models.ForeignKey(
        AlertRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="account_alerts"
    )
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="alerts"
    )
    day = models.DateField(_("day"))
    reasons = models.JSONField(_("reasons"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    recipients = models.TextField(_("emailed to"), blank=True)
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)
    chat_sent_at = models.DateTimeField(_("chat sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("account alert sent")
        verbose_name_plural = _("account alerts sent")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "account", "day"], name="account_alert_once_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} → {self.account_id} {self.day}"


class DigestPreference(models.Model):
    """A staff user's optional summary email of the detractors on their accounts."""

    class Frequency(models.TextChoices):
        OFF = "off", _("Off")
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly (Mondays)")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="digest_preference",
    )
    frequency = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.OFF
    )
    last_sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("digest preference")
        verbose_name_plural = _("digest preferences")

    def __str__(self) -> str:
        return f"{self.user}: {self.get_frequency_display()}"


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class FollowUp(models.Model):
    """The work on one response: who owns it, where it stands, and how long it took."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_PROGRESS = "in_progress", _("In progress")
        CLOSED_WON = "closed_won", _("Closed – won back")
        CLOSED_LOST = "closed_lost", _("Closed – lost")

    OPEN = (Status.NEW, Status.IN_PROGRESS)
    CLOSED = (Status.CLOSED_WON, Status.CLOSED_LOST)

    response = models.OneToOneField(
        Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="followup"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        limit_choices_to={"is_staff": True},
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="followups")
    # Copies of the response's account and answer time (both fixed once answered), so the queue
    # and the timing report filter and sort on this table's own indexes (see benchmarks).
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    answered_at = models.DateTimeField(_("answered at"), default=timezone.now)
    # The response's category, kept in step when a re-answer changes it: unhappy ones sort first.
    category = models.SmallIntegerField(_("category"), default=-1)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    first_action_at = models.DateTimeField(
        _("first action at"),
        null=True,
        blank=True,
        help_text=_("The first status change, note, tag or reassignment by a person."),
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status", "category", "answered_at"], name="followup_queue_order"),
            models.Index(fields=["answered_at"], name="followup_answered"),
        ]

    def __str__(self) -> str:
        return f"{self.response} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class Note(models.Model):
    """An internal note on a follow-up; never shown to the respondent."""

    followup = models.ForeignKey(
        FollowUp, verbose_name=_("follow-up"), on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="followup_notes",
    )
    body = models.TextField(_("note"), max_length=5000)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.body[:60]


class Reply(models.Model):
    """An email from staff to the respondent, written on a follow-up and sent by a worker.

    It answers the invitation's thread (In-Reply-To/References). Never sent to a contact who
    cannot be mailed (unsubscribed, bounced, complained, erased), checked again at send time.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SUPPRESSED = "suppressed", _("Not sent: the contact cannot be mailed")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    followup = models.ForeignKey(
        FollowUp, verbose_name=_("follow-up"), on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="followup_replies",
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"), max_length=5000)
    language = models.CharField(_("language"), max_length=10)
    recipient = models.CharField(_("sent to"), max_length=254, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reply to the respondent")
        verbose_name_plural = _("replies to respondents")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.subject

    @property
    def message_id(self) -> str:
        domain = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        return f"<reply-{self.public_id}@{domain or 'localhost'}>"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class Event(models.TextChoices):
    RESPONSE_CREATED = "response.created", _("Response created")
    RESPONSE_UPDATED = "response.updated", _("Response updated")
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed", _("Contact unsubscribed")
    ACCOUNT_ALERT = "account.alert", _("Account alert (health, usage, renewal)")
    PING = "ping", _("Test ping (sent on request, never subscribed)")


SUBSCRIBABLE_EVENTS = [(value, label) for value, label in Event.choices if value != Event.PING]


class WebhookEndpoint(models.Model):
    """A URL that receives signed JSON for the events it subscribed to."""

    url = models.URLField(_("URL"), max_length=500, validators=[http_url, validate_public_url])
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(
        _("events"), default=list, blank=True, help_text=_("Event names this endpoint receives.")
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_secret,
        help_text=_("HMAC-SHA256 key; receivers verify the X-Webhook-Signature header with it."),
    )
    active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        _("consecutive failed deliveries"), default=0
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["url"]
        permissions = [
            (
                "manage_integrations",
                _("Can manage integrations (webhook endpoints, chat alert URLs, ESP settings)"),
            )
        ]

    def __str__(self) -> str:
        # Shown wherever an endpoint is named (deliveries, filters): never the whole URL.
        return self.description or redact_url(self.url)

    def clean(self) -> None:
        valid = {value for value, _label in SUBSCRIBABLE_EVENTS}
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": _("Choose at least one event.")})
        unknown = [e for e in self.events if e not in valid]
        if unknown:
            raise ValidationError(
                {
                    "events": _("Unknown events: %(events)s")
                    % {"events": ", ".join(map(str, unknown))}
                }
            )


class WebhookDelivery(models.Model):
    """One event for one endpoint: the exact body, and how each attempt went."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (endpoint disabled)")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.CharField(_("event"), max_length=40, choices=Event.choices)
    # The event's identity (e.g. response id and update time): a replayed event is not resent.
    key = models.CharField(_("event key"), max_length=200)
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="webhook_event_once"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_status_next")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"
