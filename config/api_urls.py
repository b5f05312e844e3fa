from django.urls import re_path
from rest_framework.routers import DefaultRouter

from followups.api import FollowUpNotesView, FollowUpView
from metrics.api import AccountScoresView, SummaryView, TrendView
from metrics.api_exports import (
    ExportDetailView,
    ExportFileView,
    ExportListCreateView,
    ResponseListView,
)
from metrics.revenue_api import RetentionByScoreView, RevenueView
from metrics.support_api import SupportMetricsView
from outcomes.api import StripeCustomerView, SubscriptionEventListCreateView
from outcomes.api_tickets import TicketListCreateView
from outcomes.api_usage import OnboardingView, SeatsView, UsageView
from surveys.api import InvitationViewSet, ResponseReleaseView, SurveyViewSet
from surveys.api_privacy import (
    ContactDataByBodyView,
    ContactDataView,
    ContactEraseByBodyView,
    ContactEraseView,
)


class OptionalSlashRouter(DefaultRouter):
    """Paths as documented (`/api/v1/surveys`), with a trailing slash also accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("surveys", SurveyViewSet, basename="survey")
router.register("invitations", InvitationViewSet, basename="invitation")

urlpatterns = [
    re_path(r"^metrics/summary/?$", SummaryView.as_view(), name="metrics-summary"),
    re_path(r"^metrics/trend/?$", TrendView.as_view(), name="metrics-trend"),
    re_path(r"^metrics/revenue/?$", RevenueView.as_view(), name="metrics-revenue"),
    re_path(r"^metrics/support/?$", SupportMetricsView.as_view(), name="metrics-support"),
    re_path(
        r"^metrics/retention-by-score/?$",
        RetentionByScoreView.as_view(),
        name="metrics-retention-by-score",
    ),
    re_path(
        r"^subscription-events/?$",
        SubscriptionEventListCreateView.as_view(),
        name="subscription-events",
    ),
    re_path(r"^tickets/?$", TicketListCreateView.as_view(), name="tickets"),
    re_path(r"^usage/?$", UsageView.as_view(), name="usage"),
    re_path(
        r"^accounts/(?P<external_id>[^/]+)/seats/?$", SeatsView.as_view(), name="account-seats"
    ),
    re_path(
        r"^accounts/(?P<external_id>[^/]+)/onboarding/?$",
        OnboardingView.as_view(),
        name="account-onboarding",
    ),
    re_path(
        r"^accounts/(?P<external_id>[^/]+)/stripe-customer/?$",
        StripeCustomerView.as_view(),
        name="account-stripe-customer",
    ),
    re_path(
        # Any id, "/" included: accounts stored before ids were checked stay reachable.
        r"^accounts/(?P<external_id>.+?)/scores/?$",
        AccountScoresView.as_view(),
        name="account-scores",
    ),
    re_path(
        r"^responses/(?P<public_id>[0-9a-f-]{36})/followup/?$",
        FollowUpView.as_view(),
        name="response-followup",
    ),
    re_path(
        r"^responses/(?P<public_id>[0-9a-f-]{36})/followup/notes/?$",
        FollowUpNotesView.as_view(),
        name="response-followup-notes",
    ),
    re_path(
        r"^responses/(?P<public_id>[0-9a-f-]{36})/release/?$",
        ResponseReleaseView.as_view(),
        name="response-release",
    ),
    re_path(r"^responses/?$", ResponseListView.as_view(), name="responses"),
    re_path(r"^exports/?$", ExportListCreateView.as_view(), name="exports"),
    re_path(r"^exports/(?P<public_id>[0-9a-f-]{36})/?$", ExportDetailView.as_view(), name="export"),
    re_path(
        r"^exports/(?P<public_id>[0-9a-f-]{36})/file/?$",
        ExportFileView.as_view(),
        name="export-file",
    ),
    # The email in the body: no address in access logs. The forms below with the email in the
    # path are kept for existing clients.
    re_path(r"^contacts/data/?$", ContactDataByBodyView.as_view(), name="contact-data-request"),
    re_path(r"^contacts/erase/?$", ContactEraseByBodyView.as_view(), name="contact-erase-request"),
    re_path(r"^contacts/(?P<email>[^/]+)/data/?$", ContactDataView.as_view(), name="contact-data"),
    re_path(
        r"^contacts/(?P<email>[^/]+)/erase/?$", ContactEraseView.as_view(), name="contact-erase"
    ),
    *router.urls,
]
