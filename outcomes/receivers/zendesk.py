"""POST /integrations/zendesk/webhook: verify Zendesk's signature, store the event, answer 200.

Zendesk signs each request: `X-Zendesk-Webhook-Signature` is base64(HMAC-SHA256(secret,
timestamp + body)) with the timestamp of `X-Zendesk-Webhook-Signature-Timestamp`. Zendesk
ships no verifier package, so this uses the standard library (`hmac.compare_digest`, constant
time). Refused with 400 unless the signature verifies against ZENDESK_WEBHOOK_SECRET and the
timestamp is within ZENDESK_WEBHOOK_TOLERANCE_SECONDS of now (a captured request cannot be
replayed later); 404 while no secret is set. The event is applied by a worker from the stored
inbox row (outcomes.zendesk_inbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import zendesk_inbox

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Zendesk sends: base64 of HMAC-SHA256 over the timestamp followed by the body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), given)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.ZENDESK_WEBHOOK_SECRET
    if not secret:
        return JsonResponse({"error": "Zendesk webhooks are not configured."}, status=404)
    given = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    body = request.body
    if not given or not timestamp or not given.isascii() or not timestamp.isascii():
        return JsonResponse(
            {"error": f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required."}, status=400
        )
    if not verify(secret, timestamp, body, given):
        return JsonResponse(
            {"error": f"The {SIGNATURE_HEADER} header does not verify."}, status=400
        )
    signed_at = zendesk_inbox.parse_time(timestamp)
    tolerance = settings.ZENDESK_WEBHOOK_TOLERANCE_SECONDS
    if signed_at is None or abs((timezone.now() - signed_at).total_seconds()) > tolerance:
        return JsonResponse(
            {"error": f"The {TIMESTAMP_HEADER} is more than {tolerance} seconds from now."},
            status=400,
        )
    try:
        event = json.loads(body)
        valid = (
            # PostgreSQL stores no NUL character in text or jsonb.
            "\\u0000" not in body.decode("utf-8")
            and isinstance(event, dict)
            and isinstance(event.get("id"), str | int)
            and not isinstance(event.get("id"), bool)
            and str(event["id"]).strip() != ""
            and isinstance(event.get("type"), str)
            and zendesk_inbox.parse_time(event.get("time")) is not None
        )
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        return JsonResponse({"error": "The body is not a Zendesk webhook event."}, status=400)
    stored, new = zendesk_inbox.store_event(payload=event)
    return JsonResponse({"received": True, "duplicate": not new, "status": stored.status})
