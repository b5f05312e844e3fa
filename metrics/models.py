"""Report settings that staff edit in the admin. Scores themselves are computed, never stored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import scoring


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
