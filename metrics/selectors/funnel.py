"""The funnel per survey: invited, sent, clicked, answered, bounced, unsubscribed."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.db.models import F

from metrics import funnel_rollups, scoring
from metrics.rollup_pieces import pieces
from surveys.models import Invitation, Response, Survey

from .filters import Filters, apply_filters

# --- Funnel ---------------------------------------------------------------------------------


def funnel(
    *, filters: Filters, surveys: list[Survey] | None = None, use_rollups: bool = True
) -> list[dict]:
    """Per survey, invitations created in the period: invited, sent, clicked (a person opened
    the page: a human action in it, or an answer that counts; never a link fetch alone, which
    scanners make), answered (answers that count: not quarantined or excluded), bounced (this
    invitation's own delivery bounced), unsubscribed (through this invitation, before any
    answer to it), and the response rate (answered / sent).

    Read from the per-survey daily and monthly rollups (`metrics.funnel_rollups`, kept by
    triggers in the transaction of every write) when the filters allow it: no account,
    language or property filter. The period becomes signed pieces (`metrics.rollup_pieces`):
    whole UTC months and days from the rollups in one query, and the few hours at its edges in
    the viewer's time zone from the rows in another, so the cost follows the period's length,
    not the number of invitations. Otherwise (or with `use_rollups=False`) one pass over the
    period's invitations, an index-only scan of `invitation_funnel_outcomes` (the survey ids
    are always listed so the index's leading column is used), with an outer join to only the
    few excluded answers (the partial index `response_excluded`).
    `surveys`: every survey ordered by name, when the caller has them (saves a query).
    """
    if surveys is None:
        surveys = list(Survey.objects.using(settings.REPORTS_DATABASE).order_by("name", "pk"))
    known = {survey.pk for survey in surveys}
    if filters.surveys:
        survey_ids = [pk for pk in filters.surveys if pk in known]
    elif filters.kind:
        survey_ids = [survey.pk for survey in surveys if survey.kind == filters.kind]
    else:
        survey_ids = list(known)
    if not survey_ids:
        return []
    by_survey = funnel_counts(filters=filters, survey_ids=survey_ids, use_rollups=use_rollups)
    # In the order of `surveys` (by name, in the database's collation).
    return [
        {
            **row,
            "name": survey.name,
            "response_rate": scoring.proportion(row["answered"], row["sent"])
            if row["sent"]
            else None,
        }
        for survey in surveys
        if (row := by_survey.get(survey.pk)) is not None
    ]


def funnel_counts(
    *, filters: Filters, survey_ids: list[int], use_rollups: bool = True
) -> dict[int, dict]:
    """The funnel's counts by survey id (surveys with no invitation in the period left out):
    from the rollups when the filters allow it and `use_rollups`, else from the rows."""
    if use_rollups and rollups_answer(filters):
        return _counts_from_rollups(filters, survey_ids)
    return _counts_from_rows(filters, survey_ids)


def rollups_answer(filters: Filters) -> bool:
    """The rollups have no account, contact or invitation properties: only the period and the
    surveys (which the kind selects) can be read from them. REPORT_ROLLUPS off: never."""
    return settings.REPORT_ROLLUPS and not (
        filters.account
        or filters.plan
        or filters.segment
        or filters.region
        or filters.status
        or filters.owner
        or filters.language
        or filters.property_key
    )


def _counts_from_rollups(filters: Filters, survey_ids: list[int]) -> dict[int, dict]:
    parts = pieces(*filters.period.bounds())
    using = settings.REPORTS_DATABASE
    totals: dict[int, dict] = {}
    for counts in (
        funnel_rollups.rollup_counts(survey_ids=survey_ids, pieces=parts, using=using),
        funnel_rollups.row_counts(survey_ids=survey_ids, pieces=parts, using=using),
    ):
        for survey_id, values in counts.items():
            total = totals.setdefault(
                survey_id, {"survey_id": survey_id, **dict.fromkeys(funnel_rollups.COUNTS, 0)}
            )
            for name, value in values.items():
                total[name] += value
    # A survey with no invitation in the period is left out, as the rows leave it out.
    return {survey_id: row for survey_id, row in totals.items() if row["invited"]}


def _counts_from_rows(filters: Filters, survey_ids: list[int]) -> dict[int, dict]:
    qs = Invitation.objects.using(settings.REPORTS_DATABASE).filter(survey_id__in=survey_ids)
    qs = apply_filters(
        qs,
        filters,
        date_field="created_at",
        account_prefix="contact__account__",
        invitation_prefix="",
    )
    inner, params = (
        qs.order_by()
        .values(
            i_id=F("pk"),
            i_survey=F("survey_id"),
            i_sent=F("sent_at"),
            i_clicked=F("clicked_at"),
            i_answered=F("answered_at"),
            i_bounced=F("bounced_at"),
            i_unsubscribed=F("unsubscribed_at"),
        )
        .query.sql_with_params()
    )
    connection = connections[settings.REPORTS_DATABASE]
    response_table = connection.ops.quote_name(Response._meta.db_table)
    counted_answer = "i.i_answered IS NOT NULL AND x.invitation_id IS NULL"
    # Only the ORM's compiled SQL and a table name go in; values stay parameters.
    sql = f"""
        SELECT i.i_survey, COUNT(*), COUNT(i.i_sent),
               SUM(CASE WHEN i.i_clicked IS NOT NULL OR ({counted_answer}) THEN 1 ELSE 0 END),
               SUM(CASE WHEN {counted_answer} THEN 1 ELSE 0 END),
               COUNT(i.i_bounced),
               SUM(CASE WHEN i.i_unsubscribed IS NOT NULL
                        AND (i.i_answered IS NULL OR i.i_unsubscribed < i.i_answered)
                   THEN 1 ELSE 0 END)
        FROM ({inner}) i
        LEFT JOIN {response_table} x ON x.invitation_id = i.i_id AND x.excluded
        GROUP BY i.i_survey
    """  # noqa: S608
    columns = ("survey_id", "invited", "sent", "clicked", "answered", "bounced", "unsubscribed")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        by_survey = {values[0]: dict(zip(columns, values, strict=True)) for values in cursor}
    return by_survey
