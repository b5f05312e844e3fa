from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from outcomes.receivers import stripe as stripe_receiver
from outcomes.receivers import zendesk as zendesk_receiver
from surveys import public_views

from . import profile_views, views

API_DOCS = SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")

admin.site.site_header = "NPS surveys"
admin.site.site_title = "NPS surveys"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("profile/", profile_views.profile, name="profile"),
    path("admin/", admin.site.urls),
    path("reports/", include("metrics.urls")),
    path("followups/", include("followups.urls")),
    path("s/", include("surveys.urls")),
    path("distribution/", include("surveys.staff_urls")),
    # Bounce and complaint webhooks of any ESP anymail supports, refused until secured
    # (surveys.esp_webhooks); their events are handled in surveys.receivers.
    path("anymail/", include("surveys.esp_webhooks")),
    path("integrations/stripe/webhook", stripe_receiver.webhook, name="stripe-webhook"),
    path("integrations/zendesk/webhook", zendesk_receiver.webhook, name="zendesk-webhook"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Redoc from this site with a fixed, readable theme; its start-up script is a file, as the
    # content security policy allows no inline script.
    path("api/docs/", API_DOCS, name="api-docs"),
    path("api/redoc/", API_DOCS, name="api-redoc"),
    path("dev/outbox/", views.outbox_list, name="outbox"),
    path("dev/outbox/<str:message_id>/", views.outbox_detail, name="outbox-detail"),
    path("dev/outbox/<str:message_id>/html", views.outbox_html, name="outbox-html"),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler404 = public_views.not_found

if settings.DEBUG:
    urlpatterns.append(path("api-auth/", include("rest_framework.urls")))
