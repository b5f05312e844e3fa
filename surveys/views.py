"""Staff pages of the surveys app: distribution status and campaign progress."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _

from accounts.roles import permission_required

from . import selectors, wording
from .models import Campaign, Invitation, Survey


@permission_required("surveys.view_invitation")
def distribution_index(request: HttpRequest) -> HttpResponse:
    surveys = Survey.objects.order_by("name")
    campaigns = Campaign.objects.select_related("survey").order_by("-created_at")[:50]
    return render(
        request,
        "surveys/staff/distribution_index.html",
        {"surveys": surveys, "campaigns": campaigns},
    )


@permission_required("surveys.view_invitation")
def distribution_status(request: HttpRequest, slug: str) -> HttpResponse:
    """Counts by status and suppression reason; refreshes itself while sending is under way."""
    survey = get_object_or_404(Survey, slug=slug)
    campaign = None
    if request.GET.get("campaign"):
        raw = request.GET["campaign"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            message = _("campaign: use the id of one of this survey's campaigns (a number).")
            if request.GET.get("format") == "json":
                return JsonResponse({"campaign": [message]}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        campaign = get_object_or_404(Campaign, pk=int(raw), survey=survey)
    counts = selectors.distribution_counts(survey=survey, campaign=campaign)
    if request.GET.get("format") == "json":
        return JsonResponse(counts.as_dict())
    reasons = [(label, counts.by_reason[value]) for value, label in Invitation.Reason.choices]
    return render(
        request,
        "surveys/staff/distribution_status.html",
        {
            "survey": survey,
            "campaign": campaign,
            "campaigns": survey.campaigns.order_by("-created_at")[:20],
            "counts": counts,
            "reasons": reasons,
            "missing_translations": wording.missing_translations(survey),
        },
    )
