from django.urls import re_path
from rest_framework.routers import DefaultRouter

from metrics.api import SummaryView
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
    *router.urls,
]
