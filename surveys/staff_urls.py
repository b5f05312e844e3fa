from django.urls import path

from . import views

app_name = "distribution"

urlpatterns = [
    path("", views.distribution_index, name="index"),
    path("<slug:slug>/", views.distribution_status, name="status"),
]
