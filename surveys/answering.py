"""The answer POST's database work: two statements.

Respondents answer in bursts (a campaign lands in thousands of inboxes at once), so the answer
path is the one request the ORM's per-query compilation is too dear for. The SQL text is built
once per process from the models' own field lists, and values go through the same field
conversions the ORM applies, so the rows read or written here are exactly those the ORM would
read or write:

- `invitation_for_token`: one SELECT of an invitation with its survey and contact;
- `upsert_response`: one statement that locks and checks the invitation, keeps the time of its
  first answer and inserts or updates the response.
"""

from __future__ import annotations

import weakref

from django.db import connections
from django.db.models import Model

from accounts.models import Contact

from .models import Invitation, Response, Survey

# Per database connection: converters may depend on the connection (time zone, backend).
_statements_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


class _Columns:
    """A model's concrete columns under a table alias, with the converters the ORM applies."""

    def __init__(self, model: type[Model], alias: str, connection, only=None) -> None:
        quote = connection.ops.quote_name
        self.model = model
        fields = [
            field for field in model._meta.concrete_fields if only is None or field.attname in only
        ]
        self.attnames = [field.attname for field in fields]
        self.sql = ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in fields)
        self.converters = []
        for index, field in enumerate(fields):
            column = field.get_col(alias)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if functions:
                self.converters.append((index, functions, column))

    def __len__(self) -> int:
        return len(self.attnames)

    def convert(self, values: list, connection) -> list:
        for index, functions, column in self.converters:
            value = values[index]
            for function in functions:
                value = function(value, column, connection)
            values[index] = value
        return values

    def instance(self, values: list, connection) -> Model:
        return self.model.from_db(connection.alias, self.attnames, self.convert(values, connection))


class _Statements:
    """The SQL of this module for one connection, built on first use."""

    def __init__(self, connection) -> None:
        quote = connection.ops.quote_name
        self.lookups = {}
        for narrow in (False, True):
            columns = [
                _Columns(model, alias, connection, ANSWER_FIELDS[model] if narrow else None)
                for model, alias in ((Invitation, "i"), (Survey, "s"), (Contact, "c"))
            ]
            sql = (
                f"SELECT {', '.join(c.sql for c in columns)} "
                f"FROM {quote(Invitation._meta.db_table)} i "
                f"INNER JOIN {quote(Survey._meta.db_table)} s ON s.id = i.survey_id "
                f"INNER JOIN {quote(Contact._meta.db_table)} c ON c.id = i.contact_id "
                "WHERE i.token = %s"
            )
            self.lookups[narrow] = (sql, columns)
        response_table = quote(Response._meta.db_table)
        invitation_table = quote(Invitation._meta.db_table)
        self.insert_fields = [f for f in Response._meta.concrete_fields if not f.primary_key]
        insert_columns = ", ".join(quote(f.column) for f in self.insert_fields)
        closed = ", ".join(["%s"] * len(Invitation.CLOSED_STATUSES))
        # A re-answer replaces these; an automatic confirmation (tap, typing, visible) with no
        # comment or reason keeps the ones given before. Every other column keeps its stored
        # value, which the statement returns.
        keep_unless_given = (
            "CASE WHEN EXCLUDED.{col} <> '' "
            f"OR EXCLUDED.confirmed_via = '{Response.ConfirmedVia.SUBMIT.value}' "
            "THEN EXCLUDED.{col} ELSE {table}.{col} END"
        )
        updates = {column: f"EXCLUDED.{column}" for column in REPLACED_ON_REANSWER}
        for column in ("comment", "reason"):
            updates[column] = keep_unless_given.format(col=column, table=response_table)
        # Quarantine follows the latest confirmation (a person's answer after a scanner's is
        # counted; a suspect's after a person's is held back), but an answer staff excluded
        # stays excluded. SET expressions read the stored row as it was before the update.
        staff_excluded = f"({response_table}.excluded AND NOT {response_table}.quarantined)"
        updates["excluded"] = f"{staff_excluded} OR EXCLUDED.quarantined"
        updates["quarantined"] = f"EXCLUDED.quarantined AND NOT {staff_excluded}"
        stored = [
            f for f in Response._meta.concrete_fields if f.attname not in REPLACED_ON_REANSWER
        ]
        self.stored = _Columns(
            Response, Response._meta.db_table, connection, only={f.attname for f in stored}
        )
        self.on_conflict = (
            "ON CONFLICT (invitation_id) DO UPDATE SET "
            + ", ".join(f"{quote(column)} = {value}" for column, value in updates.items())
            + f" RETURNING {', '.join(quote(f.column) for f in stored)}"
        )
        self.claim_invitation = (
            f"UPDATE {invitation_table} SET answered_at = COALESCE(answered_at, %s) "
            f"WHERE id = %s AND expires_at > %s AND status NOT IN ({closed})"
        )
        # The UPDATE locks the invitation row, so concurrent answers for one token queue there;
        # the INSERT then sees a response committed by the request it waited on.
        # Typed placeholders: a SELECT list gives no column type to infer a parameter's from.
        typed = ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in self.insert_fields)
        self.claim_and_upsert = (
            f"WITH claimed AS ({self.claim_invitation} RETURNING id) "
            f"INSERT INTO {response_table} ({insert_columns}) "
            f"SELECT {typed} FROM claimed {self.on_conflict}"
        )


def _cursor(connection):
    """A cursor that binds parameters on the server, so PostgreSQL prepares a statement run
    repeatedly on a connection (psycopg's prepare_threshold) instead of planning it each time."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What connection.cursor() does, with another cursor class (Django offers no argument
    # for it); _prepare_cursor adds the usual wrapper: error translation, query logging.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))


def _statements(connection) -> _Statements:
    statements = _statements_cache.get(connection)
    if statements is None:
        statements = _statements_cache[connection] = _Statements(connection)
    return statements


def invitation_for_token(
    token: str, *, for_answer: bool = False, using: str = "default"
) -> Invitation | None:
    """The invitation of a token with its survey and contact loaded, or None.

    `for_answer` loads only what recording an answer reads (ANSWER_FIELDS); any other field
    of the three would cost one query when read.
    """
    connection = connections[using]
    sql, columns = _statements(connection).lookups[for_answer]
    with _cursor(connection) as cursor:
        cursor.execute(sql, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    instances = []
    start = 0
    for part in columns:
        instances.append(part.instance(row[start : start + len(part)], connection))
        start += len(part)
    invitation, survey, contact = instances
    Invitation.survey.field.set_cached_value(invitation, survey)
    Invitation.contact.field.set_cached_value(invitation, contact)
    return invitation


def upsert_response(*, invitation: Invitation, values: dict, now) -> Response | None:
    """Save `values` (attname: value) as the invitation's answer: a new response, or the one it
    has updated (REPLACED_ON_REANSWER, and comment and reason when given).

    Returns the stored response, or None when the invitation is no longer open (nothing written).
    """
    connection = connections["default"]
    statements = _statements(connection)
    row = {**values, "invitation_id": invitation.pk, "updated_at": now}
    for field in statements.insert_fields:
        if field.attname not in row:
            row[field.attname] = field.get_default()
    params = [
        field.get_db_prep_save(row[field.attname], connection) for field in statements.insert_fields
    ]
    claim = [now, invitation.pk, now, *Invitation.CLOSED_STATUSES]
    with _cursor(connection) as cursor:
        cursor.execute(statements.claim_and_upsert, [*claim, *params])
        stored = cursor.fetchone()
    if stored is None:
        return None
    stored = statements.stored.convert(list(stored), connection)
    row.update(zip(statements.stored.attnames, stored, strict=True))
    return Response.from_db(
        connection.alias, None, [row[f.attname] for f in Response._meta.concrete_fields]
    )
