from django.urls import path

from . import public_views

app_name = "public"

urlpatterns = [
    path("logo/<slug:slug>/", public_views.logo, name="logo"),
    path("<str:token>/", public_views.answer, name="answer"),
    path("<str:token>/thanks/", public_views.thanks, name="thanks"),
    path("<str:token>/referral/", public_views.referral, name="referral"),
    path("<str:token>/unsubscribe/", public_views.unsubscribe, name="unsubscribe"),
    path(
        "<str:token>/unsubscribe/one-click/",
        public_views.unsubscribe_one_click,  # GET shows the page with a confirm button
        name="unsubscribe_one_click",
    ),
]
