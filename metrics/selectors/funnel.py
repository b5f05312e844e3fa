"""The funnel per survey: invited, sent, clicked, answered, bounced, unsubscribed."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.db.models import F

from metrics import scoring
from surveys.models import Invitation, Response, Survey

from .filters import Filters, apply_filters

# --- Funnel ---------------------------------------------------------------------------------


def funnel(*, filters: Filters, surveys: list[Survey] | None = None) -> list[dict]:
    """Per survey, invitations created in the period: invited, sent, clicked (a person opened
    the page: a human action in it, or an answer that counts; never a link fetch alone, which
    scanners make), answered (answers that count: not quarantined or excluded), bounced (this
    invitation's own delivery bounced), unsubscribed (through this invitation, before any
    answer to it), and the response rate (answered / sent).

    One pass over the period's invitations, an index-only scan of `invitation_funnel_outcomes`
    (the survey ids are always listed so the index's leading column is used), with an outer join
    to only the few excluded answers (the partial index `response_excluded`).
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
