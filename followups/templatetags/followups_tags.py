from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def slack(value) -> str:
    """Text for Slack-compatible chat: `&`, `<` and `>` escaped as Slack asks, so a comment
    cannot ping a channel (`<!channel>`) or show a link of its own (`<https://…|label>`)."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@register.filter
def duration(value: timedelta | None) -> str:
    """A mean time as people say it: "2 d 3 h", "3 h 20 min", "12 min"; "–" when unknown."""
    if value is None:
        return "–"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}
