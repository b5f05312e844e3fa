"""The answer POST's database work: two statements, on the framework's public APIs.

Respondents answer in bursts (a campaign lands in thousands of inboxes at once), so the answer
path reads and writes on its own database alias, `settings.ANSWER_DATABASE` ("answers": the
same database with Django's `server_side_binding` and psycopg's `prepare_threshold`), where
PostgreSQL prepares each statement once per connection instead of planning it on every request.
Both statements are built once from the models' field lists (`Model._meta`) and run with
`connection.cursor()`; their rows become model instances through `Model.from_db()`, with each
field's `from_db_value()` applied, as the ORM does:

- `invitation_for_token`: one SELECT of an invitation with its survey and contact;
- `upsert_response`: one statement that locks and checks the invitation, keeps the time of its
  first answer and inserts or updates the response.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from accounts.models import Contact

from .models import Invitation, Response, Survey

# What recording an answer reads; the rest of each row stays deferred (not loaded).
ANSWER_FIELDS = {
    Invitation: ("id", "survey_id", "contact_id", "token", "status", "expires_at", "sent_at",
                 "link_fetches"),
    Survey: ("id", "kind", "scale_min", "scale_max", "reason_options"),
    Contact: ("id", "account_id", "language"),
}  # fmt: skip

# What a re-answer overwrites; comment and reason are replaced only when given.
REPLACED_ON_REANSWER = (
    "score", "category", "confirmed_via", "bot_signals", "suspected_bot", "updated_at",
    "announce_pending",
)  # fmt: skip


class _Row:
    """Some concrete fields of a model, read from consecutive columns of a result row."""

    def __init__(self, model: type[Model], attnames) -> None:
        self.model = model
        fields = [f for f in model._meta.concrete_fields if f.attname in attnames]
        self.attnames = [f.attname for f in fields]
        # The documented hook the ORM calls on every value loaded (JSON, custom fields).
        self.loaders = [
            (index, field) for index, field in enumerate(fields) if hasattr(field, "from_db_value")
        ]
        self.columns = [f.column for f in fields]

    def instance(self, values, using: str) -> Model:
        values = list(values)
        connection = connections[using]
        for index, field in self.loaders:
            values[index] = field.from_db_value(values[index], None, connection)
        return self.model.from_db(using, self.attnames, values)


@functools.cache
def _lookup() -> tuple[str, list[_Row]]:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    parts = [_Row(model, ANSWER_FIELDS[model]) for model in (Invitation, Survey, Contact)]
    columns = ", ".join(
        f"{alias}.{quote(column)}"
        for alias, part in zip("isc", parts, strict=True)
        for column in part.columns
    )
    sql = (
        f"SELECT {columns} FROM {quote(Invitation._meta.db_table)} i "
        f"INNER JOIN {quote(Survey._meta.db_table)} s ON s.id = i.survey_id "
        f"INNER JOIN {quote(Contact._meta.db_table)} c ON c.id = i.contact_id "
        "WHERE i.token = %s"
    )
    return sql, parts


def invitation_for_token(token: str, *, for_answer: bool = False) -> Invitation | None:
    """The invitation of a token with its survey and contact loaded, or None.

    `for_answer` loads only what recording an answer reads (ANSWER_FIELDS), in one prepared
    statement; any other field of the three costs one query when read.
    """
    using = settings.ANSWER_DATABASE
    if not for_answer:
        invitations = Invitation.objects.using(using).select_related("survey", "contact")
        return invitations.filter(token=token).first()
    sql, parts = _lookup()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for part in parts:
        instances.append(part.instance(row[start : start + len(part.attnames)], using))
        start += len(part.attnames)
    invitation, survey, contact = instances
    invitation.survey, invitation.contact = survey, contact
    return invitation


@functools.cache
def _claim_and_upsert() -> tuple[str, tuple, _Row]:
    """The statement, the Response fields it inserts (in order) and the row it returns."""
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
    returned = _Row(Response, {f.attname for f in Response._meta.concrete_fields})
    on_conflict = (
        "ON CONFLICT (invitation_id) DO UPDATE SET "
        + ", ".join(f"{quote(column)} = {value}" for column, value in updates.items())
        + " RETURNING "
        + ", ".join(f"{response_table}.{quote(column)}" for column in returned.columns)
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
    return sql, insert_fields, returned


def upsert_response(*, invitation: Invitation, values: dict, now) -> Response | None:
    """Save `values` (attname: value) as the invitation's answer: a new response, or the one it
    has updated (REPLACED_ON_REANSWER, and comment and reason when given).

    Returns the stored response, or None when the invitation is no longer open (nothing written).
    """
    using = settings.ANSWER_DATABASE
    connection = connections[using]
    sql, insert_fields, returned = _claim_and_upsert()
    row = {**values, "invitation_id": invitation.pk, "updated_at": now}
    params = [
        field.get_db_prep_save(
            row[field.attname] if field.attname in row else field.get_default(), connection
        )
        for field in insert_fields
    ]
    claim = [now, invitation.pk, now, *Invitation.CLOSED_STATUSES]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*claim, *params])
        stored = cursor.fetchone()
    return None if stored is None else returned.instance(stored, using)
