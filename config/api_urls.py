from django.urls import path
from rest_framework.routers import DefaultRouter

from metrics.api import SummaryView
from surveys.api import InvitationViewSet, SurveyViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("surveys", SurveyViewSet, basename="survey")
router.register("invitations", InvitationViewSet, basename="invitation")

urlpatterns = [
    path("metrics/summary", SummaryView.as_view(), name="metrics-summary"),
    path("metrics/summary/", SummaryView.as_view()),
    *router.urls,
]
