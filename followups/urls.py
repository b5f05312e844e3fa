from django.urls import path

from . import views

app_name = "followups"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("digest/", views.digest_preference, name="digest"),
    path("<uuid:public_id>/", views.detail, name="detail"),
    path("<uuid:public_id>/reply/", views.reply, name="reply"),
]
