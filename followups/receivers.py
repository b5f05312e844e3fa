"""Listeners for the lower apps' events. They run after commit and only enqueue work, except
`on_contact_erased`, which scrubs inside the erasure's transaction (all or nothing)."""

from . import services, tasks


def on_response_saved(sender, *, response_id: int, created: bool, **kwargs) -> None:
    tasks.handle_response_saved.delay(response_id, created)


def on_contact_unsubscribed(sender, *, contact_id: int, **kwargs) -> None:
    tasks.handle_contact_unsubscribed.delay(contact_id)


def on_contact_erased(sender, *, contact_id: int, response_public_ids: list[str], **kwargs) -> None:
    services.scrub_erased_contact(contact_id=contact_id, response_public_ids=response_public_ids)
