"""Report settings that staff edit in the admin. Scores themselves are computed, never stored."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
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


class ExportJob(models.Model):
    """A response export written to storage by a worker; downloadable by its requester (or an
    administrator) until it expires."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.CASCADE,
        related_name="export_jobs",
    )
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    options = models.JSONField(
        _("options"), default=dict, blank=True, help_text=_("Time zone and Excel-friendly output.")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    total_rows = models.PositiveIntegerField(_("rows expected"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows written"), default=0)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to="exports/", blank=True, max_length=300)
    error = models.TextField(_("error"), blank=True)
    # Claimed and swept with the invitations' rules (accounts/jobs.py).
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("handed to a worker again at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("link expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at"]
        # Reports need a permission of their own; it sits here, next to exports.
        permissions = [("view_reports", _("Can view reports"))]

    def __str__(self) -> str:
        return f"{self.get_format_display()} export {self.public_id}"

    @property
    def progress(self) -> int:
        """Percent written, 0..100."""
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.processed_rows / self.total_rows))

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and timezone.now() >= self.expires_at

    @property
    def filename(self) -> str:
        return f"responses-{self.created_at:%Y%m%d-%H%M%S}.{self.format}"
