from django.urls import re_path

from audit.api.views import AuditEventList, AuditVerify

urlpatterns = [
    re_path(r"^audit/events/?$", AuditEventList.as_view(), name="audit-events"),
    re_path(r"^audit/verify/?$", AuditVerify.as_view(), name="audit-verify"),
]
