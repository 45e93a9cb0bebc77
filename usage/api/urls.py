from django.urls import re_path

from usage.api import views

urlpatterns = [
    re_path(r"^meters/?$", views.MeterListView.as_view(), name="meter-list"),
    re_path(r"^usage/events/?$", views.UsageEventsView.as_view(), name="usage-events"),
    re_path(r"^usage/stats/?$", views.UsageStatsView.as_view(), name="usage-stats"),
    re_path(r"^usage/quota/?$", views.UsageQuotaView.as_view(), name="usage-quota"),
    re_path(
        r"^admin/usage/stats/?$", views.SystemUsageStatsView.as_view(), name="admin-usage-stats"
    ),
]
