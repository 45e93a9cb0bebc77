"""Slot pages under /account/slots/ (the API is in slots/api/)."""

from django.urls import path

from slots import views

urlpatterns = [
    path("account/slots/", views.slot_list, name="slots-list"),
    path("account/slots/new/<slug:type_key>/", views.slot_create, name="slot-create"),
    path("account/slots/<uuid:slot_id>/", views.slot_detail, name="slot-detail"),
    path("account/slots/<uuid:slot_id>/rename/", views.slot_rename, name="slot-rename"),
    path("account/slots/<uuid:slot_id>/config/", views.slot_configure, name="slot-configure"),
    path(
        "account/slots/<uuid:slot_id>/credentials/",
        views.slot_credentials,
        name="slot-credentials",
    ),
    path(
        "account/slots/<uuid:slot_id>/<str:action>/",
        views.slot_action,
        name="slot-action",
    ),
]
