"""Notification pages (the API is in notifications/api/)."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("account/notifications/", views.notification_list, name="notifications-list"),
    path(
        "account/notifications/read-all/",
        views.notification_read_all,
        name="notifications-mark-all-read",
    ),
    path("account/notifications/send/", views.notification_send, name="notifications-send-page"),
    path(
        "account/notifications/<uuid:notification_id>/read/",
        views.notification_read,
        name="notifications-mark-read",
    ),
]
