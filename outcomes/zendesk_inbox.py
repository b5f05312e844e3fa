"""The Zendesk inbox: store a verified ticket event, then rebuild its ticket in a worker.

Zendesk's webhook event subscriptions (`zen:event-type:ticket.*`) each carry the ticket as it
is after the event (`detail`) and what changed (`event`). A ticket is rebuilt from all of its
stored events in time order (`fold`), so a replayed delivery (the same event id) is stored once
and an event that arrives late takes its place in the history: the result never depends on
the order of delivery.

Mapping, after Zendesk's ticket metrics:
- created_at: the ticket's `detail.created_at`; subject, channel (`via.channel`), assignee,
  requester and organization: from the newest event.
- first reply: the first public comment by staff (`comment.is_public`, `author.is_staff`)
  after the ticket was created (the comment that opens the ticket is not a reply); each such
  comment is one agent reply.
- solved: a change to `solved` sets the final solve time (and the first, once); a change from
  solved back to new, open, pending or hold is a reopen and clears the final solve time;
  `closed` keeps the solve time (or, if none, sets it). Zendesk's `hold` is stored as pending.
- a ticket deleted or marked as spam is removed from the reports (undeleted: back).
The account: the ticket's organization, mapped to an account in the admin (Zendesk
organizations); unmapped tickets are kept without an account and get it once mapped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account

from . import tickets
from .models import Ticket, TicketSource, ZendeskEvent, ZendeskOrganization

logger = logging.getLogger(__name__)

TICKET_EVENT = "zen:event-type:ticket."
STATUSES = {
    "new": "new",
    "open": "open",
    "pending": "pending",
    "hold": "pending",
    "solved": "solved",
    "closed": "closed",
}
SOLVED = {"solved", "closed"}
GONE = {"soft_deleted", "permanently_deleted", "marked_as_spam"}
DONE = {ZendeskEvent.Status.PROCESSED, ZendeskEvent.Status.IGNORED}
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value) -> dt.datetime | None:
    """An ISO 8601 time as Zendesk writes it (nanoseconds, "Z"), or Unix seconds; aware, UTC
    when no offset is given. None when it is not a time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return parse_time(int(text))
    text = _FRACTION.sub(r"\1", text)  # Python reads at most microseconds
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(value) -> str:
    return "" if value is None else str(value)


def _status(value) -> str | None:
    return STATUSES.get(_text(value).strip().lower())


def event_kind(payload: dict) -> str:
    """ "status_changed" for "zen:event-type:ticket.status_changed"; "" for other events."""
    kind = _text(payload.get("type"))
    return kind[len(TICKET_EVENT) :] if kind.startswith(TICKET_EVENT) else ""


def fold(payloads: list[dict]) -> dict | None:
    """The ticket made by its events, oldest first (each a webhook payload): the fields of
    `Ticket` (and `requester`), or None when the ticket ended deleted. Pure."""
    state = dict(tickets.DEFAULTS)
    state["requester"] = ""
    status: str | None = None
    gone = False
    for payload in payloads:
        detail = payload.get("detail") if isinstance(payload.get("detail"), dict) else {}
        change = payload.get("event") if isinstance(payload.get("event"), dict) else {}
        when = parse_time(payload.get("time"))
        created = parse_time(detail.get("created_at"))
        if created is not None and (state["created_at"] is None or created < state["created_at"]):
            state["created_at"] = created
        if when is None:
            continue
        if state["created_at"] is not None and when < state["created_at"]:
            when = state["created_at"]  # clocks differ; nothing happens before creation
        via = detail.get("via") if isinstance(detail.get("via"), dict) else {}
        if "subject" in detail:
            state["subject"] = _text(detail["subject"])[:255]
        if "channel" in via:
            state["channel"] = _text(via["channel"]).strip().lower()[:50]
        for name, key in (
            ("assignee", "assignee_id"),
            ("organization", "organization_id"),
            ("requester", "requester_id"),
        ):
            if key in detail:
                state[name] = _text(detail[key])[:100]
        kind = event_kind(payload)
        if kind in GONE:
            gone = True
        elif kind == "undeleted":
            gone = False
        new_status = _status(change.get("current")) if kind == "status_changed" else None
        new_status = new_status or _status(detail.get("status"))
        if new_status and new_status != status:
            _transition(state, status, new_status, when)
            status = new_status
        if kind == "comment_added":
            comment = change.get("comment") if isinstance(change.get("comment"), dict) else {}
            author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
            opening = state["created_at"] is not None and when.replace(microsecond=0) <= state[
                "created_at"
            ].replace(microsecond=0)
            if comment.get("is_public") is True and author.get("is_staff") is True and not opening:
                state["agent_replies"] += 1
                if state["first_reply_at"] is None:
                    state["first_reply_at"] = when
    if gone:
        return None
    state["status"] = status
    return state


def _transition(state: dict, before: str | None, after: str, when: dt.datetime) -> None:
    if after == "solved":
        state["solved_at"] = when
        state["first_solved_at"] = state["first_solved_at"] or when
    elif after == "closed":
        if state["solved_at"] is None:  # closed without a solve on record
            state["solved_at"] = when
            state["first_solved_at"] = state["first_solved_at"] or when
    elif before in SOLVED:
        state["reopens"] += 1
        state["solved_at"] = None


def store_event(*, payload: dict) -> tuple[ZendeskEvent, bool]:
    """Keep a verified event in the inbox and queue it after commit. Idempotent: a replayed
    event id returns the stored row and queues nothing. Events other than ticket events are
    kept as ignored."""
    detail = payload.get("detail") if isinstance(payload.get("detail"), dict) else {}
    ticket_event = bool(event_kind(payload)) and detail.get("id") not in (None, "")
    with transaction.atomic():
        event, new = ZendeskEvent.objects.get_or_create(
            event_id=_text(payload["id"])[:255],
            defaults={
                "type": _text(payload.get("type"))[:100],
                "ticket_id": _text(detail.get("id"))[:100] if ticket_event else "",
                "occurred_at": parse_time(payload.get("time")) or timezone.now(),
                "payload": payload,
                "status": (
                    ZendeskEvent.Status.PENDING if ticket_event else ZendeskEvent.Status.IGNORED
                ),
            },
        )
        if new and ticket_event:
            transaction.on_commit(lambda: enqueue(event.pk), robust=True)
    return event, new


def enqueue(inbox_id: int) -> None:
    from . import tasks  # tasks import this module; imported here so there is no circle

    tasks.process_zendesk_event.delay(inbox_id)


def _organization_account(organization_id: str) -> Account | None:
    """The account a Zendesk organization is mapped to; an unknown organization is listed in
    the admin (without an account) for staff to map."""
    if not organization_id:
        return None
    organization, _created = ZendeskOrganization.objects.get_or_create(
        organization_id=organization_id
    )
    return organization.account


def process_event(*, inbox_id: int) -> str:
    """Rebuild the event's ticket from every stored event of it; returns the event's new
    status. Idempotent: a processed or ignored event is left as it is."""
    with transaction.atomic():
        event = ZendeskEvent.objects.select_for_update().filter(pk=inbox_id).first()
        if event is None or event.status in DONE:
            return event.status if event else ""
        event.attempts += 1
        # One rebuild of a ticket at a time, so each sees the events the previous one stored.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"zendesk-ticket:{event.ticket_id}"]
            )
        history = list(
            ZendeskEvent.objects.filter(
                ticket_id=event.ticket_id, status=ZendeskEvent.Status.PROCESSED
            )
            .exclude(pk=event.pk)
            .values_list("occurred_at", "event_id", "payload")
        )
        history.append((event.occurred_at, event.event_id, event.payload))
        history.sort(key=lambda row: (row[0], row[1]))
        state = fold([payload for _when, _id, payload in history])
        if state is None:
            Ticket.objects.filter(source=TicketSource.ZENDESK, external_id=event.ticket_id).delete()
            return _finish(event, ZendeskEvent.Status.PROCESSED, "ticket deleted")
        if state["created_at"] is None or state["status"] is None:
            return _finish(
                event,
                ZendeskEvent.Status.FAILED,
                "no created_at or status in the ticket's events (detail.created_at, detail.status)",
            )
        requester = state.pop("requester")
        account = _organization_account(state["organization"])
        try:
            tickets.save_ticket(
                source=TicketSource.ZENDESK,
                external_id=event.ticket_id,
                account=account,
                values=state,
                raw={"requester_id": requester, "last_event": event.event_id},
            )
        except ValueError as exc:
            return _finish(event, ZendeskEvent.Status.FAILED, str(exc))
        note = (
            "" if account or not state["organization"] else "organization not mapped to an account"
        )
        return _finish(event, ZendeskEvent.Status.PROCESSED, note)


def _finish(event: ZendeskEvent, status: str, note: str = "") -> str:
    event.status = status
    event.note = note
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "note", "processed_at", "attempts"])
    return status


def map_organization(*, organization_id: str, account: Account | None) -> int:
    """Give a Zendesk organization's tickets (those stored and those to come) an account;
    returns the number of tickets moved. Idempotent."""
    with transaction.atomic():
        ZendeskOrganization.objects.update_or_create(
            organization_id=organization_id, defaults={"account": account}
        )
        return (
            Ticket.objects.filter(source=TicketSource.ZENDESK, organization=organization_id)
            .exclude(account=account)
            .update(account=account, updated_at=timezone.now())
        )


def retry(*, inbox_ids: list[int]) -> int:
    """Staff: process failed events again (after fixing the cause)."""
    ids = list(
        ZendeskEvent.objects.filter(
            pk__in=inbox_ids, status=ZendeskEvent.Status.FAILED
        ).values_list("pk", flat=True)
    )
    ZendeskEvent.objects.filter(pk__in=ids).update(status=ZendeskEvent.Status.PENDING)
    for inbox_id in ids:
        transaction.on_commit(lambda i=inbox_id: enqueue(i), robust=True)
    return len(ids)


def sweep(*, older_than_seconds: int = 300) -> int:
    """Beat: queue pending events a lost broker message left behind. Idempotent."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        ZendeskEvent.objects.filter(
            status=ZendeskEvent.Status.PENDING, received_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for inbox_id in ids:
        enqueue(inbox_id)
    return len(ids)
