"""Outbound HTTP: signing, posting, and the JSON shapes receivers see. No database writes here."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import requests
from django.conf import settings

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
EVENT_HEADER = "X-Webhook-Event"
DELIVERY_HEADER = "X-Webhook-Delivery"
USER_AGENT = "npsapp-webhooks/1.0"


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex, prefixed like `sha256=...`."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300
) -> bool:
    """What a receiver does: constant-time compare, and reject stale timestamps (replays)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=ts, body=body), signature or "")


def dumps(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST once. Redirects are not followed: a receiver must answer 2xx at the URL given."""
    try:
        reply = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return PostResult(None, f"{type(exc).__name__}: {exc}"[:1000])
    error = (
        "" if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}: {reply.text[:500]}"
    )
    return PostResult(reply.status_code, error)


def signed_headers(*, secret: str, body: bytes, event: str, delivery_id: str) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret=secret, timestamp=timestamp, body=body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
    }
