"""Zendesk webhook requests shaped like the documented ticket events ("Webhook event types:
Ticket events": `detail` is the ticket after the event, `event` what changed), signed as
Zendesk signs them: base64(HMAC-SHA256(secret, timestamp + body))."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import uuid

SECRET = "dGVzdF9zaWduaW5nX3NlY3JldF9mb3JfdGhlX3N1aXRl"
_ids = itertools.count(1)


def iso(when: dt.datetime, *, nanos: bool = False) -> str:
    text = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        return f"{text}.{when.microsecond:06d}123Z"
    return f"{text}Z"


def detail(ticket_id, created: dt.datetime, *, status="NEW", organization_id="9001", **extra):
    return {
        "actor_id": "8447388090494",
        "assignee_id": "361",
        "brand_id": "8447346621310",
        "created_at": iso(created),
        "custom_status": "8447320465790",
        "description": "The export button does nothing",
        "external_id": None,
        "form_id": "8646151517822",
        "group_id": "8447320466430",
        "id": str(ticket_id),
        "is_public": True,
        "organization_id": organization_id,
        "priority": "LOW",
        "requester_id": "8447388090111",
        "status": status,
        "subject": "Export does not work",
        "submitter_id": "8447388090111",
        "tags": ["export"],
        "type": "PROBLEM",
        "updated_at": iso(created),
        "via": {"channel": "web_service"},
        **extra,
    }


def envelope(kind: str, ticket: dict, when: dt.datetime, event: dict | None = None, **kw):
    return {
        "account_id": 10000000,
        "detail": ticket,
        "event": event or {},
        "id": kw.get("event_id") or str(uuid.UUID(int=next(_ids))),
        "subject": f"zen:ticket:{ticket['id']}",
        "time": iso(when, nanos=True),
        "type": f"zen:event-type:ticket.{kind}",
        "zendesk_event_version": "2022-11-06",
    }


def created(ticket_id, at: dt.datetime, **kw):
    return envelope("created", detail(ticket_id, at, **kw), at, {})


def status_changed(ticket_id, created_at, at, previous, current, **kw):
    ticket = detail(ticket_id, created_at, status=current, **kw)
    return envelope("status_changed", ticket, at, {"current": current, "previous": previous})


def comment(ticket_id, created_at, at, *, staff=True, public=True, status="OPEN", **kw):
    ticket = detail(ticket_id, created_at, status=status, **kw)
    body = {
        "comment": {
            "author": {
                "id": "361" if staff else "8447388090111",
                "is_staff": staff,
                "name": "Maria" if staff else "Ana",
            },
            "body": "Thanks, looking into it.",
            "id": str(next(_ids)),
            "is_public": public,
        }
    }
    return envelope("comment_added", ticket, at, body)


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(payload: dict, *, timestamp: str | None = None, secret: str = SECRET):
    """(body, headers) as Zendesk sends them."""
    body = json.dumps(payload).encode()
    timestamp = timestamp or iso(dt.datetime.now(dt.UTC))
    return body, {
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": sign(body, timestamp, secret),
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": timestamp,
    }
