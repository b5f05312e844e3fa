"""Listeners for the lower apps' events. They run after commit and only enqueue work."""

from . import tasks


def on_response_saved(sender, *, response_id: int, created: bool, **kwargs) -> None:
    tasks.handle_response_saved.delay(response_id, created)


def on_contact_unsubscribed(sender, *, contact_id: int, **kwargs) -> None:
    tasks.handle_contact_unsubscribed.delay(contact_id)
