"""Organization pages (the API is in orgs/api/)."""

from django.urls import path

from orgs import views

urlpatterns = [
    path("invitations/<uuid:invitation_id>/", views.invitation, name="org-invitation"),
]
