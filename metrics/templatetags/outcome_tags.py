"""Template filters of the support and adoption pages."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(minutes):
    """Minutes as a person reads them: "45 min", "3.5 h" (under two days), "4.2 d"; "–" when
    there are none."""
    if minutes is None:
        return "–"
    minutes = float(minutes)
    if minutes < 60:
        return _("%(n)s min") % {"n": floatformat(minutes, 0)}
    if minutes < 2 * 1440:
        return _("%(n)s h") % {"n": floatformat(minutes / 60, 1)}
    return _("%(n)s d") % {"n": floatformat(minutes / 1440, 1)}


@register.filter
def pct(value, digits=1):
    """A percentage with its sign kept ("-31.2%"); "–" when there is none."""
    if value is None:
        return "–"
    return f"{floatformat(value, digits)}%"


@register.filter
def item(mapping, key):
    """mapping[key] in a template ("" when absent)."""
    try:
        return mapping[key]
    except (KeyError, TypeError, IndexError):
        return ""
