"""The worker side: claim each row alone, send it over one reused connection, mark it sent."""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.db import connection
from django.db.models import (
    Case,
    DateTimeField,
    F,
    Value,
    When,
)
from django.utils import timezone

from accounts.jobs import backoff
from accounts.models import Contact
from surveys import emails
from surveys.models import Invitation

from .policy import contact_reason

logger = logging.getLogger(__name__)

Status = Invitation.Status
Reason = Invitation.Reason


class TransientSendError(Exception):
    """A send that may succeed later (SMTP 4xx, connection trouble)."""


# --- Sending -------------------------------------------------------------------------------


def send_invitation(*, invitation_id: int) -> bool:
    """Email one queued invitation. Idempotent: False if it was not queued or not sent."""
    return send_invitations(invitation_ids=[invitation_id]) == 1


def send_invitations(*, invitation_ids: list[int], reminder: bool = False) -> int:
    """Email a batch over one connection; returns how many were sent. Idempotent.

    Each row is claimed alone by a conditional UPDATE just before its message is handed to
    the server, so a duplicate task or a second worker sends nothing twice.
    """
    invitations = (
        Invitation.objects.select_related("survey", "contact")
        .filter(pk__in=invitation_ids)
        .order_by("pk")
    )
    if reminder:
        invitations = invitations.filter(status=Status.SENT, reminder_sent_at__isnull=True)
    else:
        invitations = invitations.filter(status=Status.QUEUED)
    invitations = list(invitations)
    sender = _Sender()
    renderer = emails.BatchRenderer()
    sent: list[tuple[Invitation, datetime]] = []
    # The row whose message was just accepted; it is marked sent in the same statement that
    # claims the next row, so each message costs one round trip to the database.
    accepted: tuple[Invitation, datetime] | None = None
    try:
        for index, invitation in enumerate(invitations):
            if not _still_wanted(invitation, reminder=reminder):
                continue
            _acquire_send_slot()
            claimed = _claim(invitation, reminder=reminder, accepted=accepted)
            if accepted:
                sent.append(accepted)
                accepted = None
            if not claimed:
                continue
            try:
                sender.send(renderer, invitation, reminder=reminder)
            except TransientSendError as exc:
                _after_transient(invitation, str(exc), reminder=reminder)
                if sender.broken:
                    # The server is unreachable: leave the rest for the sweeper's next round.
                    _defer([row.pk for row in invitations[index + 1 :]], reminder=reminder)
                    break
                continue
            except PermanentSendError as exc:
                _after_permanent(invitation, str(exc), reminder=reminder)
                continue
            if reminder:
                _mark_sent(invitation, reminder=True)
                sent.append((invitation, timezone.now()))
            else:
                accepted = (invitation, timezone.now())
    finally:
        if accepted:
            _mark_sent(*accepted)
            sent.append(accepted)
        sender.close()
        _note_last_invited(sent)
    return len(sent)


class PermanentSendError(Exception):
    """The server refused the message for good (SMTP 5xx, invalid recipient)."""


class _Sender:
    """One connection for a whole batch, opened lazily and reopened after a disconnect."""

    def __init__(self) -> None:
        self.connection = None
        self.broken = False

    def send(self, renderer: emails.BatchRenderer, invitation: Invitation, *, reminder: bool):
        """Send one invitation; raises TransientSendError or PermanentSendError."""
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

        self.broken = False
        if self.connection is None:
            try:
                self.connection = get_connection(fail_silently=False)
                self.connection.open()
            except Exception as exc:
                # Refused, timed out, TLS or login failure: not this message's fault. Retried
                # with backoff (time to fix a wrong password), and the batch waits.
                self._drop()
                raise TransientSendError(f"cannot connect to the mail server: {exc!r}") from exc
        message = renderer.message(invitation, reminder=reminder)
        try:
            self.connection.send_messages([message])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            error = "; ".join(f"{code} {_text(msg)}" for code, msg in exc.recipients.values())
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientSendError(error) from exc
            raise PermanentSendError(error) from exc
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise TransientSendError(f"disconnected: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            error = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                if exc.smtp_code == 421:  # the server is closing the connection
                    self._drop()
                raise TransientSendError(error) from exc
            raise PermanentSendError(error) from exc
        except smtplib.SMTPException as exc:
            raise PermanentSendError(repr(exc)) from exc
        except AnymailRecipientsRefused as exc:
            raise PermanentSendError(str(exc)) from exc
        except AnymailAPIError as exc:
            status = getattr(exc, "status_code", None)
            if status is None or status >= 500 or status == 429:
                raise TransientSendError(str(exc)) from exc
            raise PermanentSendError(str(exc)) from exc
        except OSError as exc:  # refused, reset, timed out
            self._drop()
            raise TransientSendError(f"connection error: {exc!r}") from exc

    def _drop(self) -> None:
        self.close()
        self.broken = True

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; nothing to do
                logger.debug("closing mail connection failed", exc_info=True)
            self.connection = None


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _still_wanted(invitation: Invitation, *, reminder: bool) -> bool:
    """Checks made at send time: the survey or the contact may have changed since planning."""
    survey, contact = invitation.survey, invitation.contact
    if survey.paused:
        return False  # stays queued; resuming the survey dispatches it
    now = timezone.now()
    reason = contact_reason(survey, contact)
    if reminder:
        return not reason and invitation.answered_at is None and invitation.expires_at > now
    if reason:
        Invitation.objects.filter(pk=invitation.pk, status=Status.QUEUED).update(
            status=Status.SUPPRESSED, suppression_reason=reason
        )
        return False
    if invitation.expires_at <= now:
        Invitation.objects.filter(pk=invitation.pk, status=Status.QUEUED).update(
            status=Status.EXPIRED
        )
        return False
    return True


def _claim(
    invitation: Invitation, *, reminder: bool, accepted: tuple[Invitation, datetime] | None = None
) -> bool:
    """Claim a row by conditional UPDATE; also marks the previously accepted row sent."""
    now = timezone.now()
    if reminder:
        return bool(
            Invitation.objects.filter(
                pk=invitation.pk,
                status=Status.SENT,
                reminder_sent_at__isnull=True,
                answered_at__isnull=True,
            ).update(reminder_sent_at=now)
        )
    invitation.attempts += 1
    ops = connection.ops
    table = connection.ops.quote_name(Invitation._meta.db_table)
    if accepted is None:
        sql = (
            f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608
            "WHERE id = %s AND status = %s"
        )
        params = [
            Status.SENDING.value,
            ops.adapt_datetimefield_value(now),
            invitation.pk,
            Status.QUEUED.value,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount == 1
    previous, sent_at = accepted
    # Plain SQL: this runs once per message, and compiling the ORM's CASE costs more than the
    # round trip it saves.
    sql = (
        f"UPDATE {table} SET "  # noqa: S608 - the table name comes from the model
        "status = CASE WHEN id = %s THEN %s ELSE %s END, "
        "sent_at = CASE WHEN id = %s THEN %s ELSE sent_at END, "
        "send_count = CASE WHEN id = %s THEN send_count + 1 ELSE send_count END, "
        "last_error = CASE WHEN id = %s THEN '' ELSE last_error END, "
        "next_attempt_at = CASE WHEN id = %s THEN NULL ELSE next_attempt_at END, "
        "claimed_at = CASE WHEN id = %s THEN %s ELSE claimed_at END, "
        "attempts = CASE WHEN id = %s THEN attempts + 1 ELSE attempts END "
        "WHERE (id = %s AND status = %s) OR (id = %s AND status = %s)"
    )
    prev_id, next_id = previous.pk, invitation.pk
    params = [
        prev_id,
        Status.SENT.value,
        Status.SENDING.value,
        prev_id,
        ops.adapt_datetimefield_value(sent_at),
        prev_id,
        prev_id,
        prev_id,
        next_id,
        ops.adapt_datetimefield_value(now),
        next_id,
        prev_id,
        Status.SENDING.value,
        next_id,
        Status.QUEUED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed = cursor.rowcount
    if changed == 2:
        return True
    # One row changed: which one is settled by a read (rare: a duplicate task got there first).
    return Invitation.objects.filter(pk=next_id, status=Status.SENDING, claimed_at=now).exists()


def _mark_sent(invitation: Invitation, sent_at: datetime | None = None, *, reminder: bool = False):
    if reminder:
        Invitation.objects.filter(pk=invitation.pk).update(send_count=F("send_count") + 1)
        return
    Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
        status=Status.SENT,
        sent_at=sent_at or timezone.now(),
        send_count=F("send_count") + 1,
        last_error="",
        next_attempt_at=None,
    )


def _note_last_invited(sent: list[tuple[Invitation, datetime]]) -> None:
    # One value per contact (a batch can hold two of a contact's invitations): the latest.
    latest: dict[int, datetime] = {}
    for invitation, at in sent:
        latest[invitation.contact_id] = max(at, latest.get(invitation.contact_id, at))
    if latest:
        Contact.objects.filter(pk__in=latest).update(
            last_invited_at=Case(
                *[When(pk=contact_id, then=Value(at)) for contact_id, at in latest.items()],
                output_field=DateTimeField(),
            )
        )


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff after the given failed attempt (1-based), capped, with jitter."""
    return timedelta(
        seconds=backoff(
            attempt=attempt,
            base=settings.SEND_RETRY_BASE_SECONDS,
            cap=settings.SEND_RETRY_MAX_SECONDS,
            jitter=0.1,
        )
    )


def _after_transient(invitation: Invitation, error: str, *, reminder: bool) -> None:
    error = error[:2000]
    if reminder:
        # Released for the next reminder round; the invitation's expiry bounds the retries.
        Invitation.objects.filter(pk=invitation.pk).update(reminder_sent_at=None, last_error=error)
        return
    if invitation.attempts >= settings.SEND_MAX_ATTEMPTS:
        logger.warning(
            "invitation %s failed after %s attempts: %s", invitation.pk, invitation.attempts, error
        )
        Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
            status=Status.FAILED,
            last_error=f"Gave up after {invitation.attempts} attempts: {error}"[:2000],
            next_attempt_at=None,
        )
        return
    delay = retry_delay(invitation.attempts)
    logger.info(
        "invitation %s: attempt %s failed, retry in %.0f s: %s",
        invitation.pk,
        invitation.attempts,
        delay.total_seconds(),
        error,
    )
    Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
        status=Status.QUEUED,
        last_error=error,
        next_attempt_at=timezone.now() + delay,
    )


def _after_permanent(invitation: Invitation, error: str, *, reminder: bool) -> None:
    logger.warning("invitation %s refused permanently: %s", invitation.pk, error)
    if reminder:
        Invitation.objects.filter(pk=invitation.pk).update(last_error=error[:2000])
        return
    Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
        status=Status.FAILED, last_error=error[:2000], next_attempt_at=None
    )


def _defer(invitation_ids: list[int], *, reminder: bool) -> None:
    if invitation_ids and not reminder:
        Invitation.objects.filter(pk__in=invitation_ids, status=Status.QUEUED).update(
            next_attempt_at=timezone.now() + retry_delay(1)
        )


def _acquire_send_slot() -> None:
    """Block until the global send rate (all workers together) allows one more message."""
    rate = settings.SEND_RATE_PER_SECOND
    if not rate or rate <= 0:
        return
    window = max(1.0, 1.0 / rate)
    allowance = max(1, int(rate * window))
    while True:
        now = time.time()
        slot = int(now // window)
        key = f"send-rate:{window}:{slot}"
        cache.add(key, 0, timeout=int(window) + 5)
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr
            continue
        if used <= allowance:
            return
        time.sleep((slot + 1) * window - now + 0.001)
