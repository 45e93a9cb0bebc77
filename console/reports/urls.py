"""The "Reports" pages (the API is in console/reports/api/)."""

from django.urls import path

from console.reports import views

urlpatterns = [
    path("reports/", views.report_list, name="reports-home"),
    path("reports/<uuid:report_id>/", views.report_detail, name="reports-detail"),
    path("reports/<uuid:report_id>/download/", views.report_download, name="reports-download"),
]
