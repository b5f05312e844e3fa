"""POST /integrations/stripe/webhook: verify Stripe's signature, store the event, answer 200.

Refused with 400 unless `Stripe-Signature` verifies against STRIPE_WEBHOOK_SECRET within
Stripe's 5-minute tolerance (the `stripe` package's verifier); 404 while no secret is set.
The event is applied by a worker from the stored inbox row (outcomes.stripe_inbox).
"""

from __future__ import annotations

import json

import stripe
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import stripe_inbox

TOLERANCE_SECONDS = 300


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse({"error": "Stripe webhooks are not configured."}, status=404)
    payload = request.body
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature"), secret, TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError:
        return JsonResponse({"error": "The Stripe-Signature header does not verify."}, status=400)
    try:
        event = json.loads(payload)
        valid = (
            isinstance(event, dict)
            and isinstance(event.get("id"), str)
            and event.get("object") == "event"
            and isinstance(event.get("created"), int)
            # A Unix time between 2000 and 2100: anything else is not Stripe's.
            and 946_684_800 <= event["created"] < 4_102_444_800
        )
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        return JsonResponse({"error": "The body is not a Stripe event."}, status=400)
    stored, new = stripe_inbox.store_event(payload=event)
    return JsonResponse({"received": True, "duplicate": not new, "status": stored.status})
