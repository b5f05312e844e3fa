"""Events this app announces to higher apps. Sent by services after commit, never by models.

Receivers get `response_id` and `created` (False when a re-answer updated the response).
"""

from django.dispatch import Signal

response_saved = Signal()
