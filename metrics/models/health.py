"""Report settings that staff edit in the admin (health weights and thresholds, per segment, with
their history), and the daily health snapshots: the only scores stored."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .. import scoring


class HealthSettings(models.Model):
    """The one row of health-score weights and thresholds (a singleton, pk=1)."""

    weight_nps = models.PositiveSmallIntegerField(
        _("weight: NPS category of recent answers"),
        default=35,
        validators=[MaxValueValidator(100)],
    )
    weight_csat = models.PositiveSmallIntegerField(
        _("weight: CSAT"), default=15, validators=[MaxValueValidator(100)]
    )
    weight_ces = models.PositiveSmallIntegerField(
        _("weight: CES"), default=10, validators=[MaxValueValidator(100)]
    )
    weight_recency = models.PositiveSmallIntegerField(
        _("weight: response recency"), default=15, validators=[MaxValueValidator(100)]
    )
    weight_support = models.PositiveSmallIntegerField(
        _("weight: open support tickets"), default=10, validators=[MaxValueValidator(100)]
    )
    weight_adoption = models.PositiveSmallIntegerField(
        _("weight: adoption %"), default=15, validators=[MaxValueValidator(100)]
    )
    weight_revenue = models.PositiveSmallIntegerField(
        _("weight: revenue trend"), default=10, validators=[MaxValueValidator(100)]
    )
    red_below = models.PositiveSmallIntegerField(
        _("red below"),
        default=40,
        validators=[MaxValueValidator(100)],
        help_text=_("Scores under this are red."),
    )
    green_from = models.PositiveSmallIntegerField(
        _("green from"),
        default=70,
        validators=[MaxValueValidator(100)],
        help_text=_("Scores at or above this are green; between the two, yellow."),
    )
    window_days = models.PositiveSmallIntegerField(
        _("recent answers window (days)"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("NPS, CSAT and CES components use the answers of this many days."),
    )
    recency_full_days = models.PositiveSmallIntegerField(
        _("recency: full points up to (days)"), default=30, validators=[MaxValueValidator(3650)]
    )
    recency_zero_days = models.PositiveSmallIntegerField(
        _("recency: zero points from (days)"),
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    tickets_at_zero = models.PositiveSmallIntegerField(
        _("support: zero points at open tickets"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Tickets created and not solved at the reference instant."),
    )
    revenue_days = models.PositiveSmallIntegerField(
        _("revenue: compare MRR with (days before)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    revenue_drop_at_zero = models.PositiveSmallIntegerField(
        _("revenue: zero points at an MRR drop of (%)"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Full points when MRR held or grew; none at this drop or more."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("health score settings")
        verbose_name_plural = _("health score settings")

    def __str__(self) -> str:
        return str(_("Health score settings"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {}
        if self.red_below > self.green_from:
            errors["green_from"] = _("Green must start at or above the red threshold.")
        if self.recency_full_days >= self.recency_zero_days:
            errors["recency_zero_days"] = _("Must be more days than the full-points limit.")
        if sum(self.weights.values()) == 0:
            errors["weight_nps"] = _("At least one weight must be above 0.")
        if errors:
            raise ValidationError(errors)

    @classmethod
    def load(cls) -> HealthSettings:
        """The settings row, or the defaults (unsaved) until staff first edit them."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    @property
    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, f"weight_{name}")) for name in scoring.HEALTH_COMPONENTS}

    @cached_property
    def segment_weights(self) -> dict[str, dict[str, float]]:
        """The weights of the segments that override the default set."""
        if self.pk is None or self._state.adding:
            return {}
        return {
            row.segment: row.weights
            for row in HealthSegmentWeights.objects.filter(health_settings=self)
        }

    def weights_for(self, segment: str) -> dict[str, float]:
        """An account's weights: its segment's override, else the default set."""
        return self.segment_weights.get(segment) or self.weights

    def config(self) -> dict:
        """Everything a score depends on, as JSON: what a version records."""
        return {
            "weights": self.weights,
            "segments": {name: self.segment_weights[name] for name in sorted(self.segment_weights)},
            **{name: getattr(self, name) for name in CONFIG_FIELDS},
        }


CONFIG_FIELDS = (
    "red_below",
    "green_from",
    "window_days",
    "recency_full_days",
    "recency_zero_days",
    "tickets_at_zero",
    "revenue_days",
    "revenue_drop_at_zero",
)


def _weight(label):
    return models.PositiveSmallIntegerField(label, default=0, validators=[MaxValueValidator(100)])


class HealthSegmentWeights(models.Model):
    """A segment's own weights, overriding the default set for its accounts."""

    health_settings = models.ForeignKey(
        HealthSettings,
        verbose_name=_("settings"),
        on_delete=models.CASCADE,
        related_name="segment_overrides",
    )
    segment = models.CharField(
        _("segment"), max_length=100, unique=True, help_text=_("As on the accounts, exactly.")
    )
    weight_nps = _weight(_("NPS"))
    weight_csat = _weight(_("CSAT"))
    weight_ces = _weight(_("CES"))
    weight_recency = _weight(_("recency"))
    weight_support = _weight(_("support"))
    weight_adoption = _weight(_("adoption"))
    weight_revenue = _weight(_("revenue"))

    class Meta:
        verbose_name = _("segment weights")
        verbose_name_plural = _("segment weights")
        ordering = ["segment"]

    def __str__(self) -> str:
        return self.segment

    @property
    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, f"weight_{name}")) for name in scoring.HEALTH_COMPONENTS}

    def clean(self) -> None:
        if sum(self.weights.values()) == 0:
            raise ValidationError({"weight_nps": _("At least one weight must be above 0.")})


class HealthSettingsVersion(models.Model):
    """The health configuration (weights, overrides, thresholds, inputs) as it was from
    `created_at`: each change makes a new version, and each snapshot names the one it used."""

    number = models.PositiveIntegerField(_("version"), unique=True)
    config = models.JSONField(_("configuration"))
    created_at = models.DateTimeField(_("from"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("health settings version")
        verbose_name_plural = _("health settings versions")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number}"


class HealthSnapshot(models.Model):
    """An account's health on one day (the daily beat task): score, colour, components and the
    settings version it was computed with. The account page draws its history from these."""

    account = models.ForeignKey(
        "accounts.Account",
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="health_snapshots",
    )
    day = models.DateField(_("day"))
    score = models.FloatField(_("score"), null=True, blank=True)
    colour = models.CharField(_("colour"), max_length=6, blank=True)
    components = models.JSONField(
        _("components"), default=dict, help_text=_("name: [points or null, share of the score]")
    )
    version = models.ForeignKey(
        HealthSettingsVersion,
        verbose_name=_("settings version"),
        on_delete=models.PROTECT,
        related_name="snapshots",
    )
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)

    class Meta:
        verbose_name = _("health snapshot")
        verbose_name_plural = _("health snapshots")
        ordering = ["-day", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="health_snapshot_account_day")
        ]
        indexes = [
            # Every account's health on a day (trend arrows, alerts, backtests).
            models.Index(
                fields=["day", "account"], include=["score", "colour"], name="health_snapshot_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.score}"
