from django.urls import re_path
from rest_framework.routers import DefaultRouter

from followups.api import FollowUpNotesView, FollowUpView
from metrics.api import AccountScoresView, SummaryView, TrendView
from surveys.api import InvitationViewSet, SurveyViewSet


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
    re_path(
        r"^accounts/(?P<external_id>[^/]+)/scores/?$",
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
    *router.urls,
]
