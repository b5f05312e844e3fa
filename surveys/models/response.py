"""Answers: the one response of an invitation, and the colleagues promoters refer."""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact

from .invitation import Invitation
from .survey import Survey


class Response(models.Model):
    """The one answer to an invitation. Re-answering before expiry updates it."""

    class ConfirmedVia(models.TextChoices):
        SUBMIT = "submit", _("Submitted the form")
        TAP = "tap", _("Tapped a score in the page")
        PAGE = "page", _("Touched the page or pressed a key")
        VISIBLE = "visible", _("Page stayed visible (no longer accepted as a confirmation)")
        TYPING = "typing", _("Typed a comment")
        API = "api", _("API")
        IMPORT = "import", _("Imported")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    invitation = models.OneToOneField(
        Invitation,
        verbose_name=_("invitation"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="response",
    )
    survey = models.ForeignKey(
        Survey,
        verbose_name=_("survey"),
        on_delete=models.PROTECT,
        related_name="responses",
        db_index=False,  # response_survey_answered
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responses",
    )
    account = models.ForeignKey(
        Account,
        verbose_name=_("account at answer time"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responses",
        db_index=False,  # response_account_answered
    )
    score = models.SmallIntegerField(_("score"))
    category = models.SmallIntegerField(
        _("category"),
        help_text=_("+1 promoter or satisfied, 0 neutral, -1 detractor or unsatisfied."),
    )
    comment = models.TextField(_("comment"), blank=True, max_length=5000)
    answered_at = models.DateTimeField(_("answered at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    confirmed_via = models.CharField(
        _("confirmed via"), max_length=10, choices=ConfirmedVia.choices, default=ConfirmedVia.SUBMIT
    )
    excluded = models.BooleanField(
        _("excluded"),
        default=False,
        help_text=_(
            "Excluded responses count in no score, alert, follow-up, webhook or default export: "
            "staff excluded them, or they are quarantined."
        ),
    )
    reason = models.CharField(_("main reason"), max_length=200, blank=True)
    bot_signals = models.JSONField(_("bot signals"), default=dict, blank=True)
    suspected_bot = models.BooleanField(
        _("suspected bot"),
        default=False,
        help_text=_("Bot signals of the confirming request suggest a mail scanner."),
    )
    # A suspected bot's answer is quarantined when saved: excluded (so it counts nowhere) until
    # staff release it. Invariant: quarantined implies excluded.
    quarantined = models.BooleanField(
        _("quarantined"),
        default=False,
        help_text=_(
            "Suspected bot: held out of every score, alert, follow-up, webhook and default "
            "export until staff release it."
        ),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("released by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The outbox of `response_saved`: an answer is announced to the higher apps by a worker,
    # never in the respondent's request. `announced_at` is empty until the first announcement.
    announce_pending = models.BooleanField(_("announcement pending"), default=False)
    announced_at = models.DateTimeField(_("announced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["-answered_at"]
        indexes = [
            models.Index(fields=["survey", "answered_at"], name="response_survey_answered"),
            models.Index(fields=["account", "answered_at"], name="response_account_answered"),
            # Reports read only counted answers and these columns: index-only scans.
            # See "Benchmarks: reports".
            models.Index(
                fields=["survey", "answered_at", "category", "score", "account"],
                condition=Q(excluded=False),
                name="response_counted",
            ),
            # Each account's latest counted answer to each survey: the account lists' last
            # answer and NPS category, one short probe per account and survey
            # (metrics.selectors.account_counts).
            models.Index(
                fields=["account", "survey", "answered_at", "category"],
                condition=Q(excluded=False),
                name="response_account_latest",
            ),
            # Only excluded answers (few): the funnel's "answered" leaves them out.
            models.Index(
                fields=["invitation"], condition=Q(excluded=True), name="response_excluded"
            ),
            # Newest first, by time then id: the cursor pages of GET /api/v1/responses and the
            # admin's list read a range of this index instead of sorting the table.
            models.Index(fields=["answered_at", "id"], name="response_answered_id"),
            # The admin's comment search (`icontains` is UPPER(comment) LIKE ...): trigrams.
            GinIndex(OpClass(Upper("comment"), name="gin_trgm_ops"), name="response_comment_trgm"),
            # Only answers still to be announced: tiny however big the table grows.
            models.Index(
                fields=["id"], condition=Q(announce_pending=True), name="response_announce_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score}"

    @property
    def category_label(self) -> str:
        from surveys import scales  # scales reads these models; imported when first used

        return scales.category_label(self.survey.kind, self.category)


class Referral(models.Model):
    """A colleague a promoter suggested, for marketing to follow up."""

    response = models.ForeignKey(
        Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="referrals"
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"), max_length=254)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "email"], name="referral_unique_email_per_response"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
