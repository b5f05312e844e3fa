"""Writes of support tickets: one path for the API, the CSV import and the demo data.

A ticket is upserted by (source, external_id): the fields an item gives replace the stored
ones, the others are kept. Every item of a batch is checked against what it would become (the
stored ticket with the item's fields) before anything is written; one bad item and nothing is.
Zendesk tickets are rebuilt from their events by `outcomes.zendesk_inbox`, which saves them
through `save_ticket` after the same checks.

Rules (after Zendesk's ticket metrics): every time is at or after `created_at`; a solved or
closed ticket has a final `solved_at`, any other status has none (a reopened ticket keeps its
`first_solved_at`); `first_solved_at` is at or before `solved_at` and defaults to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from accounts import services as account_services
from accounts.models import Account

from .models import Ticket

TICKET_FIELDS = (
    "subject",
    "channel",
    "requester_email",
    "assignee",
    "organization",
    "status",
    "created_at",
    "first_reply_at",
    "first_solved_at",
    "solved_at",
    "agent_replies",
    "reopens",
)
LATER_TIMES = ("first_reply_at", "first_solved_at", "solved_at")
DEFAULTS = {
    "subject": "",
    "channel": "",
    "requester_email": "",
    "assignee": "",
    "organization": "",
    "status": None,
    "created_at": None,
    "first_reply_at": None,
    "first_solved_at": None,
    "solved_at": None,
    "agent_replies": 0,
    "reopens": 0,
}
SOLVED = {Ticket.Status.SOLVED.value, Ticket.Status.CLOSED.value}
CHUNK = 1000


@dataclass(frozen=True)
class TicketInput:
    """A validated ticket write: `values` holds only the fields the caller gave."""

    account: str  # the account's external id
    external_id: str
    values: dict
    raw: dict = field(default_factory=dict)


class TicketErrors(Exception):
    """Items whose resulting ticket breaks a rule: {item index: {field: [messages]}}."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class TicketResult:
    created: list[Ticket] = field(default_factory=list)
    updated: list[Ticket] = field(default_factory=list)
    unchanged: list[Ticket] = field(default_factory=list)
    accounts_created: int = 0


def merge(stored: dict | None, given: dict) -> dict:
    """The ticket a write makes: the stored fields (or the defaults) with the given ones.

    A ticket that leaves the solved statuses without a `solved_at` of its own loses its final
    solve time (its first stays); a solve time with no first one is also the first."""
    values = {**DEFAULTS, **(stored or {}), **given}
    if values["status"] not in SOLVED and "solved_at" not in given:
        values["solved_at"] = None
    if values["first_solved_at"] is None and values["solved_at"] is not None:
        values["first_solved_at"] = values["solved_at"]
    return values


def ticket_errors(values: dict) -> dict[str, list[str]]:
    """The rules a ticket's fields must keep, per field (empty when it keeps them all)."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    created = values.get("created_at")
    if created is None:
        add("created_at", _("This field is required for a new ticket."))
    if not values.get("status"):
        add("status", _("This field is required for a new ticket."))
    if created is not None:
        for name in LATER_TIMES:
            when = values.get(name)
            if name == "first_solved_at" and when == values.get("solved_at"):
                continue  # the same instant, named once, as solved_at
            if when is not None and when < created:
                add(name, _("Before created_at (%(created)s).") % {"created": created.isoformat()})
    first, final = values.get("first_solved_at"), values.get("solved_at")
    if (
        first is not None
        and final is not None
        and first > final
        and "first_solved_at" not in errors
    ):
        add("first_solved_at", _("After solved_at: the first solve cannot follow the final one."))
    status = values.get("status")
    if status in SOLVED and final is None:
        add("solved_at", _("Required when the status is solved or closed."))
    elif status and status not in SOLVED and final is not None:
        add(
            "solved_at",
            _(
                "Only a solved or closed ticket has a final solve time; send null for a "
                "reopened ticket (it keeps first_solved_at)."
            ),
        )
    return errors


def _stored_values(ticket: Ticket) -> dict:
    return {name: getattr(ticket, name) for name in TICKET_FIELDS}


def _stored_tickets(source: str, external_ids: list[str], *, lock: bool) -> dict[str, Ticket]:
    stored: dict[str, Ticket] = {}
    queryset = Ticket.objects.select_for_update() if lock else Ticket.objects.all()
    for start in range(0, len(external_ids), CHUNK):
        stored.update(
            (ticket.external_id, ticket)
            for ticket in queryset.filter(
                source=source, external_id__in=external_ids[start : start + CHUNK]
            )
        )
    return stored


def check_tickets(*, tickets: list[TicketInput], source: str) -> dict[int, dict[str, list[str]]]:
    """Per item index, the rules its resulting ticket would break (writes nothing)."""
    stored = _stored_tickets(source, [item.external_id for item in tickets], lock=False)
    errors = {}
    for index, item in enumerate(tickets):
        current = stored.get(item.external_id)
        problems = ticket_errors(merge(_stored_values(current) if current else None, item.values))
        if problems:
            errors[index] = problems
    return errors


def record_tickets(
    *, tickets: list[TicketInput], source: str, dry_run: bool = False
) -> TicketResult:
    """Upsert tickets, creating unknown accounts; all or nothing. Idempotent: writing the same
    items again changes nothing (they come back under `unchanged`). Raises `TicketErrors`
    naming each item and field whose resulting ticket breaks a rule, having written nothing."""
    result = TicketResult()
    if not tickets:
        return result
    with transaction.atomic():
        stored = _stored_tickets(source, [item.external_id for item in tickets], lock=True)
        planned: list[tuple[TicketInput, dict, Ticket | None]] = []
        errors: dict[int, dict[str, list[str]]] = {}
        for index, item in enumerate(tickets):
            current = stored.get(item.external_id)
            values = merge(_stored_values(current) if current else None, item.values)
            problems = ticket_errors(values)
            if problems:
                errors[index] = problems
            planned.append((item, values, current))
        if errors:
            raise TicketErrors(errors)
        accounts = _accounts({item.account for item in tickets}, result, dry_run)
        new: list[Ticket] = []
        changed: list[Ticket] = []
        changed_fields: set[str] = set()
        for item, values, current in planned:
            account = accounts.get(item.account)
            if current is None:
                new.append(
                    Ticket(
                        account=account,
                        source=source,
                        external_id=item.external_id,
                        raw=item.raw,
                        **values,
                    )
                )
                continue
            diff = {k: v for k, v in values.items() if getattr(current, k) != v}
            if account is None or current.account_id != account.pk:
                diff["account"] = account
            if not diff:
                result.unchanged.append(current)
                continue
            for name, value in diff.items():
                setattr(current, name, value)
            current.raw = item.raw
            changed_fields.update(diff)
            changed.append(current)
        if dry_run:
            result.created, result.updated = new, changed
            return result
        result.created = Ticket.objects.bulk_create(new, batch_size=CHUNK)
        if changed:
            Ticket.objects.bulk_update(
                changed, [*sorted(changed_fields), "raw", "updated_at"], batch_size=CHUNK
            )
        result.updated = changed
    return result


def _accounts(external_ids: set[str], result: TicketResult, dry_run: bool) -> dict[str, Account]:
    found = {a.external_id: a for a in Account.objects.filter(external_id__in=sorted(external_ids))}
    for external_id in sorted(external_ids - set(found)):
        result.accounts_created += 1
        found[external_id] = (
            Account(external_id=external_id, name=external_id)
            if dry_run
            else account_services.upsert_account(external_id=external_id)
        )
    return found


def save_ticket(
    *,
    source: str,
    external_id: str,
    account: Account | None,
    values: dict,
    raw: dict,
) -> tuple[Ticket, bool]:
    """Store a ticket whose every field is known (the Zendesk inbox rebuilds them whole).
    Idempotent: the same values leave the row as it is. ValueError when a rule is broken."""
    problems = ticket_errors(values)
    if problems:
        raise ValueError("; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items()))
    ticket, created = Ticket.objects.get_or_create(
        source=source,
        external_id=external_id,
        defaults={"account": account, "raw": raw, **values},
    )
    if not created:
        diff = {k: v for k, v in values.items() if getattr(ticket, k) != v}
        if ticket.account_id != (account.pk if account else None):
            diff["account"] = account
        if diff:
            for name, value in diff.items():
                setattr(ticket, name, value)
            ticket.raw = raw
            ticket.save(update_fields=[*diff, "raw", "updated_at"])
    return ticket, created


def is_future(when: dt.datetime | None, now: dt.datetime) -> bool:
    """Clocks differ a little; a time further ahead than five minutes is "in the future"."""
    return when is not None and when > now + dt.timedelta(minutes=5)
