"""Writing invitation rows: one at a time (the API trigger) or set-based (campaigns,
relational trickles), each with its suppression reason."""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    QuerySet,
    Value,
)
from django.utils import timezone

from accounts.models import Account, Contact
from surveys.models import Campaign, Invitation, Survey

from .dispatch import enqueue_send, lease
from .policy import (
    ASKED,
    expiry_days_for,
    first_reason,
    suppression_reason,
    throttle_days_for,
)

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


# --- Creating invitations ------------------------------------------------------------------


def create_invitation(
    *,
    survey: Survey,
    contact: Contact,
    event_id: str | None = None,
    properties: dict | None = None,
    campaign: Campaign | None = None,
) -> tuple[Invitation, bool]:
    """Create one invitation and queue (or schedule) its email after commit.

    Idempotent per (survey, event_id): the same event for the same contact returns the existing
    invitation and (invitation, False), sending nothing. The same event id for another contact
    is kept as one suppressed `duplicate_event` row, which retries return. Suppressed
    invitations keep their reason.
    """
    properties = dict(properties or {})
    if event_id:
        existing = Invitation.objects.filter(survey=survey, event_id=event_id).first()
        if existing and existing.contact_id == contact.pk:
            return existing, False
        if existing:
            return _duplicate_event_row(
                survey=survey,
                contact=contact,
                event_id=event_id,
                properties=properties,
                campaign=campaign,
            )
    try:
        with transaction.atomic():
            # One writer per contact (and per account under a cap) at a time, so two events
            # cannot both pass the throttle; the locked row is also the freshest.
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            if survey.account_cap and contact.account_id:
                Account.objects.select_for_update().filter(pk=contact.account_id).first()
            invitation = _create_row(
                survey=survey,
                contact=contact,
                event_id=event_id or None,
                properties=properties,
                campaign=campaign,
                reason=suppression_reason(survey=survey, contact=contact),
            )
    except IntegrityError:
        # A concurrent request with the same event won the race; return its invitation.
        return Invitation.objects.get(survey=survey, event_id=event_id), False
    if invitation.status == Status.QUEUED:
        enqueue_send(invitation_ids=[invitation.pk])
    return invitation, True


def _duplicate_event_row(
    *,
    survey: Survey,
    contact: Contact,
    event_id: str,
    properties: dict,
    campaign: Campaign | None,
) -> tuple[Invitation, bool]:
    """The suppressed `duplicate_event` row kept for an event id another contact already has.
    Idempotent: a retry of the same (survey, event id, contact) returns the row the first try
    made, (row, False), instead of adding one per retry."""
    with transaction.atomic():
        # One writer per contact at a time, so two concurrent retries make one row.
        Contact.objects.select_for_update().filter(pk=contact.pk).first()
        earlier = (
            Invitation.objects.filter(
                survey=survey,
                contact=contact,
                event_id__isnull=True,
                suppression_reason=Reason.DUPLICATE_EVENT,
                properties__event_id=event_id,
            )
            .order_by("pk")
            .first()
        )
        if earlier is not None:
            return earlier, False
        return _create_row(
            survey=survey,
            contact=contact,
            properties={**properties, "event_id": event_id},
            campaign=campaign,
            reason=Reason.DUPLICATE_EVENT,
        ), True


def _create_row(
    *,
    survey: Survey,
    contact: Contact,
    properties: dict,
    campaign: Campaign | None,
    reason: str,
    event_id: str | None = None,
) -> Invitation:
    return Invitation.objects.create(
        **_row_fields(survey, contact.pk, reason, timezone.now()),
        event_id=event_id,
        properties=properties,
        campaign=campaign,
    )


def _row_fields(survey: Survey, contact_id: int, reason: str, now: datetime) -> dict:
    send_at = (
        now + timedelta(minutes=survey.send_delay_minutes) if survey.send_delay_minutes else None
    )
    if reason:
        status = Status.SUPPRESSED
    elif send_at:
        status = Status.SCHEDULED
    else:
        status = Status.QUEUED
    return {
        "survey": survey,
        "contact_id": contact_id,
        "status": status,
        "suppression_reason": reason,
        "created_at": now,
        "send_at": send_at,
        # A queued row handed to the broker is not handed again before its lease ends.
        "next_attempt_at": now + lease() if status == Status.QUEUED else None,
        "expires_at": (send_at or now) + timedelta(days=expiry_days_for(survey)),
    }


# --- Planning audiences --------------------------------------------------------------------


@dataclass
class Plan:
    """What planning did (or would do): invitations queued and suppressed, by reason."""

    queued: int = 0
    suppressed: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.queued + sum(self.suppressed.values())


def audience_contacts(audience: Survey | Campaign) -> QuerySet[Contact]:
    """Every contact the audience describes, mailable or not."""
    return Contact.objects.filter(audience.audience_q())


def _mailable(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    return contacts.filter(
        unsubscribed_at__isnull=True, bounced_at__isnull=True, complained_at__isnull=True
    )


def plan_invitations(
    *,
    survey: Survey,
    contacts: QuerySet[Contact],
    campaign: Campaign | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Plan:
    """Create one invitation per contact with set-based suppression, then dispatch in batches.

    Takes the locks the API trigger takes (each contact's row, and under an account cap its
    account's) before it reads the throttle, so a campaign and a trigger cannot both pass it
    for one person. With dry_run, count what would happen and write nothing (the preview).
    """
    now = now or timezone.now()
    if dry_run:
        return _plan(survey=survey, contacts=contacts, campaign=campaign, dry_run=True, now=now)
    with transaction.atomic():
        _lock_audience(survey=survey, contacts=contacts)
        # The throttle is read by the next statement, which sees every invitation committed
        # by a trigger that held one of these locks.
        return _plan(survey=survey, contacts=contacts, campaign=campaign, dry_run=False, now=now)


def _lock_audience(*, survey: Survey, contacts: QuerySet[Contact]) -> None:
    # Contacts in id order, then accounts: the trigger locks one contact, then its account, so
    # the two never wait on each other in a cycle.
    list(contacts.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))
    if survey.account_cap:
        list(
            Account.objects.filter(pk__in=contacts.values("account_id"))
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )


def _plan(
    *,
    survey: Survey,
    contacts: QuerySet[Contact],
    campaign: Campaign | None,
    dry_run: bool,
    now: datetime,
) -> Plan:
    plan = Plan()
    days = throttle_days_for(survey)
    throttled = (
        Exists(
            Invitation.objects.filter(
                contact=OuterRef("pk"),
                status__in=ASKED,
                created_at__gt=now - timedelta(days=days),
            )
        )
        if days
        else Value(False)
    )
    rows = (
        contacts.annotate(throttled=throttled)
        .values_list(
            "pk", "account_id", "unsubscribed_at", "complained_at", "bounced_at", "throttled"
        )
        .order_by("pk")
    )
    cap_counts: Counter = Counter()
    if survey.account_cap:
        cap_counts.update(
            dict(
                Invitation.objects.filter(
                    status__in=ASKED,
                    created_at__gt=now - timedelta(days=survey.account_cap_days),
                    contact__account_id__isnull=False,
                )
                .values_list("contact__account_id")
                .annotate(n=Count("contact_id", distinct=True))
                .values_list("contact__account_id", "n")
            )
        )
    new_rows: list[Invitation] = []
    for pk, account_id, unsubscribed, complained, bounced, is_throttled in rows.iterator(
        chunk_size=5000
    ):
        reason = first_reason(
            survey,
            unsubscribed=unsubscribed,
            complained=complained,
            bounced=bounced,
            throttled=is_throttled,
            over_cap=bool(
                survey.account_cap and account_id and cap_counts[account_id] >= survey.account_cap
            ),
        )
        if not reason and account_id:
            cap_counts[account_id] += 1
        if reason:
            plan.suppressed[reason] += 1
        else:
            plan.queued += 1
        if not dry_run:
            new_rows.append((pk, reason))
    if dry_run or not new_rows:
        return plan
    with transaction.atomic():
        ids = _insert_rows(survey=survey, campaign=campaign, rows=new_rows, now=now)
        enqueue_send(invitation_ids=ids)
    return plan


def _insert_rows(
    *, survey: Survey, campaign: Campaign | None, rows: list[tuple[int, str]], now: datetime
) -> list[int]:
    """Insert planned invitations; returns the ids of the queued ones.

    The rows are streamed with COPY (100,000 rows in a few seconds); every column gets its
    model default.
    """
    fields = [f for f in Invitation._meta.concrete_fields if not f.primary_key]
    given = {"survey_id": survey.pk, "campaign_id": campaign.pk if campaign else None}
    # Unique columns with generated defaults (token, public_id) get a fresh value per row.
    generated = [
        (i, f.default)
        for i, f in enumerate(fields)
        if f.unique and f.has_default() and callable(f.default)
    ]
    contact_slot = next(i for i, f in enumerate(fields) if f.attname == "contact_id")
    slots = {contact_slot, *(i for i, _make in generated)}
    # Each row is its reason's template line (COPY text format) with three slots filled in.
    templates = {}
    for reason in {r for _, r in rows}:
        variant = {**_row_fields(survey, 0, reason, now), **given}
        parts = [
            "{}"
            if i in slots
            else _copy_text(variant[f.attname] if f.attname in variant else f.get_default())
            .replace("{", "{{")
            .replace("}", "}}")
            for i, f in enumerate(fields)
        ]
        templates[reason] = "\t".join(parts).format
    makers = [
        _fast_uuid4 if make is uuid.uuid4 else make
        for _i, make in sorted(generated + [(contact_slot, None)])
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    copy_sql = f"COPY {connection.ops.quote_name(Invitation._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor:
        # A lost commit loses the whole plan (and its campaign launch) together, so it need
        # not wait for the WAL flush; on-commit tasks for lost rows would find nothing to send.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        with cursor.cursor.copy(copy_sql) as copy:
            lines = []
            for contact_id, reason in rows:
                values = [contact_id if make is None else _copy_text(make()) for make in makers]
                lines.append(templates[reason](*values))
                if len(lines) == 5000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
            if lines:
                copy.write("\n".join(lines) + "\n")
    return list(
        Invitation.objects.filter(
            survey=survey, campaign=campaign, created_at=now, status=Status.QUEUED
        )
        .values_list("pk", flat=True)
        .order_by("pk")
    )


def _fast_uuid4() -> str:
    """uuid.uuid4() as text, several times faster for 100,000 rows; same randomness."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _copy_text(value) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, dict | list):
        text = json.dumps(value)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def preview_campaign(*, campaign: Campaign) -> Plan:
    """What launching the campaign would do now. Writes nothing."""
    return plan_invitations(
        survey=campaign.survey,
        contacts=audience_contacts(campaign),
        campaign=campaign,
        dry_run=True,
    )


def launch_campaign(*, campaign: Campaign) -> Plan | None:
    """Invite the campaign's audience now. Idempotent: None if it was already launched."""
    now = timezone.now()
    with transaction.atomic():
        launched = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.LAUNCHED, launched_at=now
        )
        if not launched:
            return None
        plan = plan_invitations(
            survey=campaign.survey, contacts=audience_contacts(campaign), campaign=campaign, now=now
        )
        Campaign.objects.filter(pk=campaign.pk).update(planned_count=plan.total)
    campaign.refresh_from_db()
    return plan


def relational_quota(*, survey: Survey, population: int) -> int:
    """Invitations per day so the whole population is asked once per cadence."""
    return math.ceil(population / max(1, survey.cadence_days))


def plan_relational(*, survey: Survey, now: datetime | None = None) -> Plan:
    """Trickle today's share of a relational survey's due contacts. Safe to run many times a day.

    Due: mailable audience contacts not asked by this survey within the cadence and not
    throttled by any survey; longest-unasked first. About population / cadence per day.
    """
    now = now or timezone.now()
    if not (survey.relational and survey.active) or survey.paused:
        return Plan()
    with transaction.atomic():
        # Two planners of the same survey serialize here.
        Survey.objects.select_for_update().filter(pk=survey.pk).first()
        population = _mailable(audience_contacts(survey))
        quota = relational_quota(survey=survey, population=population.count())
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        done_today = Invitation.objects.filter(
            survey=survey, campaign__isnull=True, event_id__isnull=True, created_at__gte=day_start
        ).count()
        remaining = quota - done_today
        if remaining <= 0:
            return Plan()
        asked_this_cycle = Invitation.objects.filter(
            survey=survey,
            contact=OuterRef("pk"),
            created_at__gt=now - timedelta(days=survey.cadence_days),
        )
        due = population.exclude(Exists(asked_this_cycle))
        days = throttle_days_for(survey)
        if days:
            due = due.exclude(
                Exists(
                    Invitation.objects.filter(
                        contact=OuterRef("pk"),
                        status__in=ASKED,
                        created_at__gt=now - timedelta(days=days),
                    )
                )
            )
        ids = list(
            due.order_by(F("last_invited_at").asc(nulls_first=True), "pk").values_list(
                "pk", flat=True
            )[:remaining]
        )
        if not ids:
            return Plan()
        return plan_invitations(survey=survey, contacts=Contact.objects.filter(pk__in=ids), now=now)


def plan_relational_surveys() -> int:
    """Run today's trickle for every relational survey. Idempotent within a day."""
    total = 0
    for survey in Survey.objects.filter(relational=True, active=True, paused=False):
        total += plan_relational(survey=survey).queued
    return total
