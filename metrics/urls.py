from django.urls import path

from . import export_views, revenue_views, support_views, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("exports/", export_views.export_responses, name="exports"),
    path("exports/<uuid:public_id>/", export_views.export_detail, name="export-detail"),
    path("exports/<uuid:public_id>/download", export_views.export_download, name="export-download"),
    path("revenue/", revenue_views.revenue, name="revenue"),
    path("revenue/bridge.csv", revenue_views.revenue_bridge_csv, name="revenue-bridge-csv"),
    path(
        "revenue/movements.csv", revenue_views.revenue_movements_csv, name="revenue-movements-csv"
    ),
    path("support/", support_views.support, name="support"),
    path("adoption/", support_views.adoption, name="adoption"),
    path("accounts/", views.account_list, name="accounts"),
    # <path:>: an account stored before ids were checked may hold a "/" and must stay reachable.
    path("accounts/<path:external_id>/", views.account_detail, name="account"),
]
