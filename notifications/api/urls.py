from django.urls import re_path

from notifications.api import views

UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

urlpatterns = [
    re_path(r"^notifications/?$", views.NotificationList.as_view(), name="notifications"),
    re_path(
        r"^notifications/unread-count/?$",
        views.NotificationUnreadCount.as_view(),
        name="notifications-unread-count",
    ),
    re_path(
        r"^notifications/read-all/?$",
        views.NotificationReadAll.as_view(),
        name="notifications-read-all",
    ),
    re_path(r"^notifications/send/?$", views.NotificationSend.as_view(), name="notifications-send"),
    re_path(
        rf"^notifications/(?P<notification_id>{UUID})/read/?$",
        views.NotificationRead.as_view(),
        name="notification-read",
    ),
]
