"""The answer POST's database work: two statements, on the framework's public APIs.

Respondents answer in bursts (a campaign lands in thousands of inboxes at once), so the answer
path reads and writes on its own database alias, `settings.ANSWER_DATABASE` ("answers": the
same database with Django's `server_side_binding` and psycopg's `prepare_threshold`), where
PostgreSQL prepares each statement once per connection instead of planning it on every request:

- `invitation_for_token`: one SELECT of an invitation with its survey and contact (the ORM);
- `upsert_response`: one statement that locks and checks the invitation, keeps the time of its
  first answer and inserts or updates the response. Its SQL is built once from the models' field
  lists; it runs through `Manager.raw()`, so the returned row becomes a model instance through
  the ORM's own conversions.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from accounts.models import Contact

from .models import Invitation, Response, Survey

# What recording an answer reads; the rest of each row stays deferred (not loaded).
ANSWER_FIELDS = {
    Invitation: ("id", "survey_id", "contact_id", "token", "status", "expires_at", "sent_at",
                 "link_fetches"),
    Survey: ("id", "kind", "scale_min", "scale_max", "reason_options"),
    Contact: ("id", "account_id", "language"),
}  # fmt: skip
_ANSWER_ONLY = (
    *ANSWER_FIELDS[Invitation],
    *(f"survey__{name}" for name in ANSWER_FIELDS[Survey]),
    *(f"contact__{name}" for name in ANSWER_FIELDS[Contact]),
)

# What a re-answer overwrites; comment and reason are replaced only when given.
REPLACED_ON_REANSWER = (
    "score", "category", "confirmed_via", "bot_signals", "suspected_bot", "updated_at",
    "announce_pending",
)  # fmt: skip


def invitation_for_token(
    token: str, *, for_answer: bool = False, using: str | None = None
) -> Invitation | None:
    """The invitation of a token with its survey and contact loaded, or None.

    `for_answer` loads only what recording an answer reads (ANSWER_FIELDS); any other field
    of the three would cost one query when read.
    """
    invitations = Invitation.objects.using(using or settings.ANSWER_DATABASE).select_related(
        "survey", "contact"
    )
    if for_answer:
        invitations = invitations.only(*_ANSWER_ONLY)
    try:
        return invitations.get(token=token)
    except Invitation.DoesNotExist:
        return None


@functools.cache
def _claim_and_upsert_sql() -> tuple[str, tuple]:
    """The statement and the Response fields it inserts, in order (built on first use)."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    response_table = quote(Response._meta.db_table)
    invitation_table = quote(Invitation._meta.db_table)
    insert_fields = tuple(f for f in Response._meta.concrete_fields if not f.primary_key)
    insert_columns = ", ".join(quote(f.column) for f in insert_fields)
    closed = ", ".join(["%s"] * len(Invitation.CLOSED_STATUSES))
    # A re-answer replaces these; an automatic confirmation (tap, typing, visible) with no
    # comment or reason keeps the ones given before. Every other column keeps its stored value.
    keep_unless_given = (
        "CASE WHEN EXCLUDED.{col} <> '' "
        f"OR EXCLUDED.confirmed_via = '{Response.ConfirmedVia.SUBMIT.value}' "
        "THEN EXCLUDED.{col} ELSE {table}.{col} END"
    )
    updates = {column: f"EXCLUDED.{column}" for column in REPLACED_ON_REANSWER}
    for column in ("comment", "reason"):
        updates[column] = keep_unless_given.format(col=column, table=response_table)
    # Quarantine follows the latest confirmation (a person's answer after a scanner's is
    # counted; a suspect's after a person's is held back), but an answer staff excluded stays
    # excluded. SET expressions read the stored row as it was before the update.
    staff_excluded = f"({response_table}.excluded AND NOT {response_table}.quarantined)"
    updates["excluded"] = f"{staff_excluded} OR EXCLUDED.quarantined"
    updates["quarantined"] = f"EXCLUDED.quarantined AND NOT {staff_excluded}"
    on_conflict = (
        "ON CONFLICT (invitation_id) DO UPDATE SET "
        + ", ".join(f"{quote(column)} = {value}" for column, value in updates.items())
        + f" RETURNING {response_table}.*"
    )
    claim_invitation = (
        f"UPDATE {invitation_table} SET answered_at = COALESCE(answered_at, %s) "
        f"WHERE id = %s AND expires_at > %s AND status NOT IN ({closed})"
    )
    # The UPDATE locks the invitation row, so concurrent answers for one token queue there; the
    # INSERT then sees a response committed by the request it waited on. Typed placeholders: a
    # SELECT list gives no column type to infer a parameter's from.
    typed = ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in insert_fields)
    sql = (
        f"WITH claimed AS ({claim_invitation} RETURNING id) "
        f"INSERT INTO {response_table} ({insert_columns}) "
        f"SELECT {typed} FROM claimed {on_conflict}"
    )
    return sql, insert_fields


def upsert_response(*, invitation: Invitation, values: dict, now) -> Response | None:
    """Save `values` (attname: value) as the invitation's answer: a new response, or the one it
    has updated (REPLACED_ON_REANSWER, and comment and reason when given).

    Returns the stored response, or None when the invitation is no longer open (nothing written).
    """
    using = settings.ANSWER_DATABASE
    connection = connections[using]
    sql, insert_fields = _claim_and_upsert_sql()
    row = {**values, "invitation_id": invitation.pk, "updated_at": now}
    params = [
        field.get_db_prep_save(
            row[field.attname] if field.attname in row else field.get_default(), connection
        )
        for field in insert_fields
    ]
    claim = [now, invitation.pk, now, *Invitation.CLOSED_STATUSES]
    stored = list(Response.objects.db_manager(using).raw(sql, [*claim, *params]))
    return stored[0] if stored else None
