"""Support pages (the API is in support/api/)."""

from django.urls import path

from support import views

urlpatterns = [
    path("account/support/", views.ticket_list, name="support-home"),
    path("account/support/new/", views.ticket_open, name="support-open-page"),
    path("account/support/<uuid:ticket_id>/", views.ticket_detail, name="support-ticket-page"),
    path("account/support/<uuid:ticket_id>/close/", views.ticket_close, name="support-close-page"),
    path(
        "account/support/<uuid:ticket_id>/attachments/<uuid:attachment_id>/",
        views.attachment_download,
        name="support-attachment-page",
    ),
]
