"""Events this app announces to higher apps. Sent by services after commit, never by models.

Receivers get `contact_id`.
"""

from django.dispatch import Signal

contact_unsubscribed = Signal()
