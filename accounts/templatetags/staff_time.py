"""Times shown to staff always say their zone: the staff member's own (profile setting), named
by its IANA key ("America/Sao_Paulo"), never a bare offset like "-03"."""

from __future__ import annotations

import datetime as dt

from django import forms, template
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import dateformat, timezone

register = template.Library()


def zone_name() -> str:
    return timezone.get_current_timezone_name()


@register.filter
def staff_time(value, fmt: str = "Y-m-d H:i") -> str:
    """A datetime in the current (staff member's) zone, followed by the zone's name; "" for
    None, so `|default:"–"` still works."""
    if not isinstance(value, dt.datetime):
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{dateformat.format(value, fmt)} {zone_name()}"


@register.simple_tag
def current_zone_name() -> str:
    return zone_name()


def _is_datetime_model_field(model, name) -> bool:
    if not isinstance(name, str) or model is None:
        return False
    try:
        return isinstance(model._meta.get_field(name), models.DateTimeField)
    except FieldDoesNotExist:
        return False


def _column_is_datetime(changelist, name) -> bool:
    model = changelist.model
    if _is_datetime_model_field(model, name):
        return True
    # A computed column sorted by a datetime field shows that datetime.
    display = getattr(changelist.model_admin, name, None) if isinstance(name, str) else name
    ordering = getattr(display, "admin_order_field", None)
    if isinstance(ordering, str):
        return _is_datetime_model_field(model, ordering.lstrip("-"))
    return False


@register.filter
def with_zones(result_headers, changelist) -> list[tuple[dict, str]]:
    """The change list's headers, each with the zone name when its column holds a datetime."""
    zone = zone_name()
    headers = list(result_headers)
    names = list(changelist.list_display)
    if len(names) != len(headers):
        return [(header, "") for header in headers]
    return [
        (header, zone if _column_is_datetime(changelist, name) else "")
        for header, name in zip(headers, names, strict=True)
    ]


@register.filter
def datetime_zone(admin_field) -> str:
    """The zone name for a change form's datetime field (editable or read-only), else ""."""
    field = admin_field.field
    if isinstance(field, dict):  # a read-only field: look the name up on the form's model
        form = getattr(admin_field, "form", None)
        model = getattr(getattr(form, "_meta", None), "model", None)
        return zone_name() if _is_datetime_model_field(model, field.get("name")) else ""
    form_field = getattr(field, "field", None)
    if isinstance(form_field, forms.DateTimeField | forms.SplitDateTimeField):
        return zone_name()
    return ""
