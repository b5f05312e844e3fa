"""Surveys and campaigns: what is asked, of whom, on which scale, and how it is sent."""

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _


def new_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe. Reveals nothing about the contact."""
    return secrets.token_urlsafe(32)


def contrast_on_white(color: str) -> float:
    """WCAG 2 contrast ratio of a #rrggbb colour against white."""
    try:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    except (ValueError, IndexError):
        return 0.0
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


class Kind(models.TextChoices):
    NPS = "nps", _("NPS (0-10)")
    CSAT = "csat", _("CSAT (satisfaction)")
    CES = "ces", _("CES 2.0 (1-7, agreement)")
    CES1 = "ces1", _("CES 1.0 (1-5, effort; lower is better)")


# The scale each kind uses unless the survey says otherwise; CSAT also allows 1-3, 1-7, 1-10.
DEFAULT_SCALES = {Kind.NPS: (0, 10), Kind.CSAT: (1, 5), Kind.CES: (1, 7), Kind.CES1: (1, 5)}
ALLOWED_SCALES = {
    Kind.NPS: {(0, 10)},
    Kind.CSAT: {(1, 3), (1, 5), (1, 7), (1, 10)},
    Kind.CES: {(1, 7)},
    Kind.CES1: {(1, 5)},
}


def default_question(kind: str, subject: str, language: str | None = None) -> str:
    """The standard wording for a kind, in the given language."""
    with translation.override(language or translation.get_language() or "en"):
        if kind == Kind.NPS:
            return str(
                _("How likely are you to recommend %(subject)s to a friend or colleague?")
                % {"subject": subject}
            )
        if kind == Kind.CSAT:
            return str(_("How satisfied were you with %(subject)s?") % {"subject": subject})
        if kind == Kind.CES:
            return str(
                _("%(subject)s made it easy for me to handle my issue.") % {"subject": subject}
            )
        return str(
            _("How much effort did you personally have to put forth to handle your request?")
        )


PROPERTY_NAME = re.compile(r"^(?!.*__)[A-Za-z_][A-Za-z0-9_]{0,99}$")


def split_list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class Audience(models.Model):
    """Which contacts a relational survey or a campaign goes to. Empty filters match anything."""

    audience_account_statuses = models.CharField(
        _("account statuses"),
        max_length=100,
        blank=True,
        default="active",
        help_text=_("Comma-separated: trial, active, churned. Empty: any contact."),
    )
    audience_plans = models.CharField(
        _("plans"), max_length=500, blank=True, help_text=_("Comma-separated. Empty: any plan.")
    )
    audience_segments = models.CharField(
        _("segments"), max_length=500, blank=True, help_text=_("Comma-separated. Empty: any.")
    )
    audience_regions = models.CharField(
        _("regions"), max_length=500, blank=True, help_text=_("Comma-separated. Empty: any.")
    )
    audience_property = models.CharField(
        _("contact property"),
        max_length=100,
        blank=True,
        help_text=_("Only contacts whose property of this name equals the value below."),
    )
    audience_property_value = models.CharField(
        _("contact property value"), max_length=200, blank=True
    )

    class Meta:
        abstract = True

    def clean_audience(self) -> None:
        valid = {"trial", "active", "churned"}
        unknown = [s for s in split_list(self.audience_account_statuses) if s not in valid]
        if unknown:
            raise ValidationError(
                {
                    "audience_account_statuses": _("Unknown account status: %(values)s.")
                    % {"values": ", ".join(unknown)}
                }
            )
        if self.audience_property_value and not self.audience_property:
            raise ValidationError(
                {"audience_property": _("Name the contact property the value applies to.")}
            )
        if self.audience_property and not PROPERTY_NAME.match(self.audience_property):
            # It becomes an ORM lookup: "a__regex" must not be read as a lookup on "a".
            raise ValidationError(
                {
                    "audience_property": _(
                        "Use letters, digits and single underscores in a property name."
                    )
                }
            )

    def audience_q(self) -> Q:
        """The filter on Contact rows that this audience describes."""
        q = Q()
        if statuses := split_list(self.audience_account_statuses):
            q &= Q(account__status__in=statuses)
        if plans := split_list(self.audience_plans):
            q &= Q(account__plan__in=plans)
        if segments := split_list(self.audience_segments):
            q &= Q(account__segment__in=segments)
        if regions := split_list(self.audience_regions):
            q &= Q(account__region__in=regions)
        if self.audience_property:
            q &= Q(**{f"properties__{self.audience_property}": self.audience_property_value})
        return q


class Survey(Audience):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices, default=Kind.NPS)
    company_name = models.CharField(
        _("company or product name"),
        max_length=200,
        blank=True,
        help_text=_('Used in the default question, e.g. "How likely are you to recommend ACME".'),
    )
    question = models.CharField(
        _("question"),
        max_length=500,
        blank=True,
        help_text=_("Leave empty to use the standard wording for the kind, in each language."),
    )
    question_translations = models.JSONField(
        _("question translations"),
        default=dict,
        blank=True,
        help_text=_('Per language, e.g. {"pt-br": "...", "es": "..."}.'),
    )
    scale_min = models.SmallIntegerField(_("scale minimum"), default=0)
    scale_max = models.SmallIntegerField(_("scale maximum"), default=10)
    follow_up_question = models.CharField(
        _("follow-up question"),
        max_length=500,
        blank=True,
        help_text=_("Leave empty for the standard prompt."),
    )
    sender_name = models.CharField(_("sender name"), max_length=100, blank=True)
    # Branding and follow-up questions shown to respondents (email and answer page).
    logo_url = models.URLField(
        _("logo URL"),
        blank=True,
        help_text=_("Shown in the email. Shown on the answer page only if served by this site."),
    )
    # An external logo URL is fetched once into our storage (followups.branding) and served
    # from this site, so respondent pages make no third-party request.
    logo_file = models.FileField(_("stored logo"), upload_to="logos/", blank=True, editable=False)
    logo_fetched_from = models.URLField(_("logo fetched from"), blank=True, editable=False)
    accent_color = models.CharField(
        _("accent colour"),
        max_length=7,
        default="#0b3d91",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #0b3d91."))],
        help_text=_("Buttons and links; needs 4.5:1 contrast on white."),
    )
    intro_text = models.TextField(_("intro text"), blank=True, max_length=1000)
    follow_up_positive = models.CharField(
        _("follow-up for promoters / satisfied"),
        max_length=500,
        blank=True,
        help_text=_("Leave empty to use the follow-up question or the standard prompt."),
    )
    follow_up_neutral = models.CharField(
        _("follow-up for passives / neutral"), max_length=500, blank=True
    )
    follow_up_negative = models.CharField(
        _("follow-up for detractors / unsatisfied"), max_length=500, blank=True
    )
    thanks_negative = models.CharField(
        _("what happens next, for detractors / unsatisfied"),
        max_length=300,
        blank=True,
        help_text=_(
            'Shown on the thank-you page after a low score. Empty: "Someone from the team may '
            'contact you about it."'
        ),
    )
    reason_question = models.CharField(
        _("main reason question"),
        max_length=300,
        blank=True,
        help_text=_("Leave empty for the standard wording."),
    )
    reason_options = models.TextField(
        _("main reason options"),
        blank=True,
        help_text=_("One option per line. Empty: the main reason question is not asked."),
    )
    referral_enabled = models.BooleanField(
        _("offer promoters a referral"),
        default=False,
        help_text=_("Promoters may leave the name and email of a colleague."),
    )
    review_url = models.URLField(
        _("review page URL"), blank=True, help_text=_("Promoters are invited to leave a review.")
    )
    text_translations = models.JSONField(
        _("text translations"),
        default=dict,
        blank=True,
        help_text=_(
            'Per language, the intro, follow-up and reason texts, e.g. {"es": {"intro_text": '
            '"...", "follow_up_negative": "...", "reason_options": "Precio\\nSoporte"}}. '
            "Reason options keep their order; answers store the original option."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    paused = models.BooleanField(
        _("paused"),
        default=False,
        help_text=_("Hold all sending; queued invitations go out when the survey is resumed."),
    )
    relational = models.BooleanField(
        _("relational"),
        default=False,
        help_text=_("Invite the audience on a cadence, a few contacts each day."),
    )
    cadence_days = models.PositiveSmallIntegerField(
        _("cadence (days)"),
        default=90,
        validators=[MinValueValidator(1)],
        help_text=_("Relational: each contact of the audience is invited once per this period."),
    )
    send_delay_minutes = models.PositiveIntegerField(
        _("send delay (minutes)"),
        default=0,
        help_text=_("Transactional: wait this long after the event before sending."),
    )
    throttle_days = models.PositiveSmallIntegerField(
        _("throttle (days)"),
        null=True,
        blank=True,
        help_text=_(
            "Skip contacts invited by any survey within this many days. Empty: the site "
            "default; 0: this survey ignores throttling."
        ),
    )
    account_cap = models.PositiveSmallIntegerField(
        _("contacts per account"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("At most this many contacts of one account invited per cap period."),
    )
    account_cap_days = models.PositiveSmallIntegerField(
        _("cap period (days)"), default=30, validators=[MinValueValidator(1)]
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("reminder after (days)"),
        null=True,
        blank=True,
        default=3,
        help_text=_("One reminder if unanswered after this many days. Empty: no reminder."),
    )
    expiry_days = models.PositiveSmallIntegerField(
        _("expires after (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the site default."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scale_min__lt=models.F("scale_max")), name="survey_scale_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def answered_scale_errors(self, *, kind: str, scale_min: int, scale_max: int) -> dict:
        """Errors for changing the kind or scale of a survey that has answers: its stored
        scores and categories were made on the old ones (a CSAT 4 read as NPS is a detractor),
        so the numbers would silently change meaning. Empty when nothing changes or no answers.
        """
        if self.pk is None:
            return {}
        stored = (
            Survey.objects.filter(pk=self.pk).values_list("kind", "scale_min", "scale_max").first()
        )
        if stored is None or stored == (kind, scale_min, scale_max):
            return {}
        if not self.responses.exists():
            return {}
        message = _(
            "This survey has answers, so its kind and scale can no longer change (they were "
            "given on the %(kind)s scale %(min)s-%(max)s). Create a new survey instead."
        ) % {
            "kind": Kind(stored[0]).label,
            "min": stored[1],
            "max": stored[2],
        }
        field = "kind" if kind != stored[0] else "scale_max"
        return {field: [message]}

    def clean(self) -> None:
        self.clean_audience()
        errors = self.answered_scale_errors(
            kind=self.kind, scale_min=self.scale_min, scale_max=self.scale_max
        )
        if errors:
            raise ValidationError(errors)
        allowed = ALLOWED_SCALES.get(self.kind, set())
        if (self.scale_min, self.scale_max) not in allowed:
            choices = ", ".join(f"{lo}-{hi}" for lo, hi in sorted(allowed))
            raise ValidationError(
                {
                    "scale_max": _("A %(kind)s survey uses the scale %(choices)s.")
                    % {"kind": self.get_kind_display(), "choices": choices}
                }
            )
        if self.accent_color and contrast_on_white(self.accent_color) < 4.5:
            raise ValidationError(
                {"accent_color": _("This colour is too light: white text on it is hard to read.")}
            )

    TRANSLATABLE_TEXTS = (
        "intro_text",
        "follow_up_question",
        "follow_up_positive",
        "follow_up_neutral",
        "follow_up_negative",
        "thanks_negative",
        "reason_question",
        "reason_options",
    )

    def text_for(self, field: str, language: str | None = None) -> str:
        """A staff-written text in the language when translated, else as written."""
        translated = (self.text_translations or {}).get(language or "", {})
        if isinstance(translated, dict) and translated.get(field):
            return str(translated[field])
        return getattr(self, field)

    @property
    def reason_choices(self) -> list[str]:
        return [line.strip() for line in self.reason_options.splitlines() if line.strip()]

    def reason_labels(self, language: str | None = None) -> list[tuple[str, str]]:
        """(stored option, label shown) pairs; a translation with another count is ignored."""
        options = self.reason_choices
        labels = [
            line.strip()
            for line in self.text_for("reason_options", language).splitlines()
            if line.strip()
        ]
        return list(zip(options, labels if len(labels) == len(options) else options, strict=True))

    def follow_up_for(self, category: int | None, language: str | None = None) -> str:
        """The staff-written prompt for a category (+1, 0, -1), else the general one, else ""."""
        by_category = {1: "follow_up_positive", 0: "follow_up_neutral", -1: "follow_up_negative"}
        field = by_category.get(category)
        specific = self.text_for(field, language) if field else ""
        return specific or self.text_for("follow_up_question", language)

    @property
    def scale(self) -> range:
        return range(self.scale_min, self.scale_max + 1)

    @property
    def subject(self) -> str:
        return self.company_name or str(_("us"))

    def question_for(self, language: str | None = None) -> str:
        if language and self.question_translations.get(language):
            return self.question_translations[language]
        if self.question:
            return self.question
        return default_question(self.kind, self.subject, language)

    def category_of(self, score: int) -> int:
        """+1 promoter/satisfied/agree, 0 neutral, -1 detractor/unsatisfied/disagree."""
        if self.kind == Kind.NPS:
            return 1 if score >= 9 else (0 if score >= 7 else -1)
        if self.kind == Kind.CSAT:
            top = {3: 3, 5: 4, 7: 6, 10: 8}[self.scale_max]
            bottom = {3: 1, 5: 2, 7: 2, 10: 4}[self.scale_max]
            return 1 if score >= top else (-1 if score <= bottom else 0)
        if self.kind == Kind.CES:
            return 1 if score >= 5 else (-1 if score <= 3 else 0)
        # CES 1.0: lower effort is better.
        return 1 if score <= 2 else (-1 if score >= 4 else 0)


class Campaign(Audience):
    """A one-time send of a survey to an audience, launched by staff."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LAUNCHED = "launched", _("Launched")

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
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
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    planned_count = models.PositiveIntegerField(_("invitations planned"), default=0)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.clean_audience()
