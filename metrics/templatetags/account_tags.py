"""Account facts that pages of lower apps show (the follow-up page's account panel) without
importing metrics: the template asks for them."""

from django import template

from metrics.models import HealthSnapshot

register = template.Library()


@register.simple_tag
def latest_health(account):
    """The account's latest daily health snapshot, or None."""
    if account is None:
        return None
    return (
        HealthSnapshot.objects.filter(account=account)
        .only("day", "score", "colour")
        .order_by("-day")
        .first()
    )
