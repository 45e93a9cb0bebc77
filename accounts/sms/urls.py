from django.urls import path

from accounts.sms import views

urlpatterns = [
    path("", views.setup, name="mfa-sms-setup"),
    path("confirm/", views.confirm, name="mfa-sms-confirm"),
    path("remove/", views.remove, name="mfa-sms-remove"),
    path("send/", views.send_login_code, name="mfa-sms-send"),
]
