"""Report settings that staff edit in the admin, and the health history. Scores are computed
from the data; the only ones stored are the daily health snapshots."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from . import scoring, ticket_rollups


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


class AnswerRollup(models.Model):
    """Counted answers (not excluded, not quarantined) per survey, account and UTC day or UTC
    month: how many of each score and of each category. Derived data, kept exact in the same
    transaction as every write to the answers by database triggers (migration 0008) and
    rebuilt by `manage.py rebuild_rollups`; the reports read it (metrics.selectors.rollups).

    `account_id` is the account at answer time, 0 for answers without one; no foreign keys,
    so deleting a survey or an account never waits on (or cascades to) these rows.
    """

    DAY, MONTH = "d", "m"
    SCORES = range(11)  # every scale's points lie in 0..10

    survey_id = models.IntegerField()
    account_id = models.IntegerField()
    grain = models.CharField(max_length=1, choices=[(DAY, "day"), (MONTH, "month")])
    period = models.DateField(help_text="The UTC day, or the first day of the UTC month.")
    positive = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    s0 = models.IntegerField(default=0)
    s1 = models.IntegerField(default=0)
    s2 = models.IntegerField(default=0)
    s3 = models.IntegerField(default=0)
    s4 = models.IntegerField(default=0)
    s5 = models.IntegerField(default=0)
    s6 = models.IntegerField(default=0)
    s7 = models.IntegerField(default=0)
    s8 = models.IntegerField(default=0)
    s9 = models.IntegerField(default=0)
    s10 = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["survey_id", "grain", "period", "account_id"], name="answer_rollup_key"
            )
        ]
        # One account's rows (its page) without reading every account's. The triggers' updates
        # of counts change no indexed column, so they stay in place (fillfactor 80) and leave
        # both indexes alone.
        indexes = [
            models.Index(
                fields=["account_id", "survey_id", "grain", "period"],
                name="answer_rollup_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.account_id}/{self.grain}{self.period}"


class LedgerMonth(models.Model):
    """Each account's subscription ledger per UTC month: the instants of its first event and
    of its first paid event, and its last event (instant, id, MRR, currency; the last by
    instant, then id). Derived data, kept exact in the same transaction as every write to the
    ledger by database triggers (migration 0009, `metrics.ledger_months`) and rebuilt by
    `manage.py rebuild_rollups`; the revenue reports read each account's MRR at an instant
    from it (`metrics.revenue_selectors.grid_cte`), so their cost does not follow the
    ledger's length. No foreign key, as for the answer rollups.
    """

    account_id = models.BigIntegerField()
    month = models.DateTimeField(help_text="The first instant of the UTC month.")
    first_at = models.DateTimeField()
    first_paid_at = models.DateTimeField(null=True)
    last_at = models.DateTimeField()
    last_id = models.BigIntegerField()
    mrr = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            # Covering: an account's state at an instant is read from the index alone.
            models.UniqueConstraint(
                fields=["account_id", "month"],
                include=["first_at", "last_at", "mrr", "currency", "first_paid_at"],
                name="ledger_month_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.month:%Y-%m}"


class TicketCounts(models.Model):
    """The counts and time sums a ticket rollup row holds (`ticket_rollups.COUNT_COLUMNS`)."""

    created = models.BigIntegerField(default=0)
    solved = models.BigIntegerField(default=0)
    ever_solved = models.BigIntegerField(default=0)
    reopened = models.BigIntegerField(default=0)
    fcr = models.BigIntegerField(default=0)
    replied = models.BigIntegerField(default=0)
    reply_us = models.DecimalField(max_digits=30, decimal_places=0, default=0)
    resolution_us = models.DecimalField(max_digits=30, decimal_places=0, default=0)

    class Meta:
        abstract = True


class TicketRollup(TicketCounts):
    """The support figures' counts and time sums per channel and UTC day or UTC month of
    creation (`metrics.ticket_rollups`): what the support summary adds up instead of reading
    every ticket of its period. Derived data, kept exact in the same transaction as every write
    to the tickets by database triggers (migration 0012) and rebuilt by `manage.py
    rebuild_rollups`. Times are summed in microseconds (numeric: exact); the mean is divided
    when read."""

    DAY, MONTH = "d", "m"

    grain = models.CharField(max_length=1, choices=[(DAY, "day"), (MONTH, "month")])
    period = models.DateField(help_text="The UTC day, or the first day of the UTC month.")
    channel = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grain", "period", "channel"], name="ticket_rollup_key")
        ]

    def __str__(self) -> str:
        return f"{self.channel or '-'}/{self.grain}{self.period}"


class TicketTimeBucket(models.Model):
    """How many tickets per channel and UTC day or month of creation have a first-reply (or
    resolution) time in each bucket (`metrics.ticket_rollups.bucket_sql`: about 2.5% wide).
    The exact median and 90th percentile are found from these counts: the bucket holding the
    wanted rank, then only that bucket's tickets of the period, read from an index and sorted.
    Kept and rebuilt with `TicketRollup`."""

    REPLY, RESOLUTION = ticket_rollups.REPLY, ticket_rollups.RESOLUTION

    grain = models.CharField(max_length=1, choices=TicketRollup._meta.get_field("grain").choices)
    period = models.DateField(help_text="The UTC day, or the first day of the UTC month.")
    channel = models.CharField(max_length=50)
    time = models.SmallIntegerField(choices=[(REPLY, "first reply"), (RESOLUTION, "resolution")])
    bucket = models.IntegerField()
    tickets = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "channel", "time", "bucket"],
                include=["tickets"],
                name="ticket_time_bucket_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel or '-'}/{self.grain}{self.period}/{self.time}:{self.bucket}"


class TicketGroupRollup(TicketCounts):
    """The support figures' counts and time sums per assignee, or per account plan, and UTC
    month of creation (`metrics.ticket_rollups`, "Group rollups"): what the support page's
    breakdowns add up. Month rows only; a period's partial months are read from the tickets.
    Kept by database triggers (migration 0016) and rebuilt with `TicketRollup`."""

    ASSIGNEE, PLAN = ticket_rollups.GROUPS["assignee"], ticket_rollups.GROUPS["plan"]

    period = models.DateField(help_text="The first day of the UTC month.")
    dimension = models.CharField(max_length=1, choices=[(ASSIGNEE, "assignee"), (PLAN, "plan")])
    value = models.CharField(max_length=200, help_text="The assignee or the plan ('' for none).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "dimension", "value"], name="ticket_group_rollup_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}:{self.value or '-'}/{self.period}"


class TicketGroupBucket(models.Model):
    """`TicketTimeBucket` per assignee, or per account plan, and UTC month, at two levels: how
    many tickets have each time in each bucket (`level` 0, the buckets of `bucket_sql`), and
    in each run of `ticket_rollups.COARSE` buckets (`level` 1, bucket // COARSE). A group's
    percentile finds its coarse bucket first, then reads only that one's fine buckets, so a
    year of thirty assignees is a few thousand rows, not a hundred thousand. Kept and rebuilt
    with `TicketGroupRollup`."""

    FINE, COARSE = 0, 1

    period = models.DateField(help_text="The first day of the UTC month.")
    dimension = models.CharField(
        max_length=1, choices=TicketGroupRollup._meta.get_field("dimension").choices
    )
    value = models.CharField(max_length=200)
    time = models.SmallIntegerField(choices=TicketTimeBucket._meta.get_field("time").choices)
    level = models.SmallIntegerField(choices=[(FINE, "bucket"), (COARSE, "run of buckets")])
    bucket = models.IntegerField()
    tickets = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Level first: a coarse histogram is one range; a fine one, a range per group,
            # time and run of buckets.
            models.UniqueConstraint(
                fields=["level", "dimension", "value", "time", "bucket", "period"],
                include=["tickets"],
                name="ticket_group_bucket_key",
            )
        ]
        indexes = [models.Index(fields=["period"], name="ticket_group_bucket_period")]

    def __str__(self) -> str:
        return (
            f"{self.dimension}:{self.value or '-'}/{self.period}/{self.time}:"
            f"{self.level}:{self.bucket}"
        )


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


class InvitationRollup(models.Model):
    """The funnel's counts of the invitations created in one UTC day (grain "d") or one UTC
    month (grain "m", period = its first day) of one survey, as `metrics.selectors.funnel`
    counts them. Kept exact in the transaction of every write by PostgreSQL triggers
    (metrics/migrations/0006_invitation_rollup_triggers.py); `metrics.funnel_rollups.rebuild`
    recomputes them from the rows."""

    class Grain(models.TextChoices):
        DAY = "d", _("UTC day")
        MONTH = "m", _("UTC month")

    survey = models.ForeignKey(
        "surveys.Survey",
        verbose_name=_("survey"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # invitation_rollup_unique
    )
    grain = models.CharField(_("grain"), max_length=1, choices=Grain.choices)
    period = models.DateField(_("period"))
    invited = models.IntegerField(_("invited"), default=0)
    sent = models.IntegerField(_("sent"), default=0)
    clicked = models.IntegerField(_("clicked"), default=0)
    answered = models.IntegerField(_("answered"), default=0)
    bounced = models.IntegerField(_("bounced"), default=0)
    unsubscribed = models.IntegerField(_("unsubscribed"), default=0)

    class Meta:
        verbose_name = _("invitation rollup")
        verbose_name_plural = _("invitation rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "grain", "period"], name="invitation_rollup_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} {self.grain} {self.period}"


class InvitationRollupExclusion(models.Model):
    """An answered invitation whose answer is excluded, as the invitation rollups last counted
    it: the funnel leaves it out of "answered" (and of "clicked" when nobody opened the page).
    The triggers subtract what is recorded here and add what the rows say now, so an
    invitation and its answer changed by one statement (the answer's upsert) count once."""

    invitation_id = models.BigIntegerField(_("invitation"), primary_key=True)
    survey_id = models.BigIntegerField(_("survey"))
    day = models.DateField(_("UTC day of the invitation"), db_index=True)
    clicked = models.BooleanField(_("opened by a person"))

    class Meta:
        verbose_name = _("excluded answer in the invitation rollups")
        verbose_name_plural = _("excluded answers in the invitation rollups")

    def __str__(self) -> str:
        return str(self.invitation_id)
