"""The audit trail of data operations (exports, imports, data-subject requests)."""

from __future__ import annotations

from .models import AuditLog


def record_audit(
    *,
    actor,
    action: str,
    target: str = "",
    details: dict | None = None,
    row_count: int | None = None,
) -> AuditLog:
    """Append one audit entry. Never updates an entry; not idempotent by design."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        actor=user,
        actor_name=user.get_username() if user else (str(actor) if actor else "system"),
        action=action,
        target=target[:200],
        filters=details or {},
        row_count=row_count,
    )
