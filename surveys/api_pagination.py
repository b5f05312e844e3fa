"""Cursor pagination for the API's lists over the big tables (invitations, responses).

A page costs an index range read, never a count of the table or an offset walked through it;
clients follow `next` / `previous`. Newest first; the id breaks ties, so no row is skipped or
repeated when many share a time.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Subclasses name the time column first in `ordering`, then the id."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # A hand-made cursor must not reach the database with a position that is not a time.
        if cursor is not None and cursor.position is not None:
            if parse_datetime(cursor.position) is None:
                raise NotFound(self.invalid_cursor_message)
        return cursor

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("Use a whole number from %(low)s to %(high)s.")
                        % {"low": 1, "high": self.max_page_size}
                    ]
                }
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters


class InvitationCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class ResponseCursorPagination(NewestFirstCursorPagination):
    ordering = ("-answered_at", "-id")
