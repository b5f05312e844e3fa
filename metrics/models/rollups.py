"""The report rollups: derived rows kept exact by database triggers and rebuilt by `manage.py
rebuild_rollups` (answers, invitations for the funnel, ledger months, tickets and their groups).
What each counts and how it is kept: `metrics/rollups.py`, `funnel_rollups.py`,
`ledger_months.py`, `ticket_rollups.py`."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import ticket_rollups


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
    day (grain "d") or month ("m") of creation (`metrics.ticket_rollups`, "Group rollups"):
    what the support page's breakdowns add up. Kept by database triggers (migration
    0020) and rebuilt with `TicketRollup`."""

    ASSIGNEE, PLAN = ticket_rollups.GROUPS["assignee"], ticket_rollups.GROUPS["plan"]

    grain = models.CharField(max_length=1, choices=TicketRollup._meta.get_field("grain").choices)
    period = models.DateField(help_text="The UTC day, or the first day of the UTC month.")
    dimension = models.CharField(max_length=1, choices=[(ASSIGNEE, "assignee"), (PLAN, "plan")])
    value = models.CharField(max_length=200, help_text="The assignee or the plan ('' for none).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "dimension", "value"],
                name="ticket_group_rollup_grain_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}:{self.value or '-'}/{self.grain}{self.period}"


class TicketGroupBucket(models.Model):
    """`TicketTimeBucket` per assignee, or per account plan, at two levels: how many tickets
    have each time in each run of `ticket_rollups.COARSE` buckets (`level` 1, bucket //
    COARSE) per UTC day and month, and in each bucket of `bucket_sql` (`level` 0) per month
    only. A group's percentile finds its run first, then reads only that run's buckets (a
    partial month's from the tickets' bucket indexes), so a year of thirty assignees is a few
    thousand rows a month, not a hundred thousand. Kept and rebuilt with `TicketGroupRollup`."""

    FINE, COARSE = 0, 1

    grain = models.CharField(max_length=1, choices=TicketRollup._meta.get_field("grain").choices)
    period = models.DateField(help_text="The UTC day, or the first day of the UTC month.")
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
            # Level first: a fine histogram is a range per group, time and run of buckets.
            models.UniqueConstraint(
                fields=["level", "dimension", "value", "time", "bucket", "grain", "period"],
                include=["tickets"],
                name="ticket_group_bucket_grain_key",
            )
        ]
        indexes = [
            models.Index(fields=["period"], name="ticket_group_bucket_period"),
            # A coarse histogram: one range of one grain's periods.
            models.Index(
                fields=["grain", "level", "dimension", "period"],
                include=["value", "time", "bucket", "tickets"],
                name="ticket_group_bucket_runs",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.dimension}:{self.value or '-'}/{self.grain}{self.period}/{self.time}:"
            f"{self.level}:{self.bucket}"
        )


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
