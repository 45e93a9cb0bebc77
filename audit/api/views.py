"""Audit API: the security log (members) / the whole log (admins), and the chain check."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.api.filters import AuditEventFilter
from audit.api.pagination import AuditCursorPagination
from audit.api.serializers import (
    AuditEventSerializer,
    AuditVerifyQuerySerializer,
    AuditVerifySerializer,
)
from audit.models import AuditEvent
from config.api.permissions import HasScope, IsAdminRole

AUDIT_SCOPES = ("profile:read", "profile:write")


@extend_schema(
    summary="Audit events",
    description=(
        "Newest first (by time, then by order of recording), cursor-paginated "
        "(`next`/`previous` links; `page_size` up to 200). "
        "Members see the events where they are the actor or the target (their security "
        "log); admins see every event. API keys need `profile:read`."
    ),
)
class AuditEventList(generics.ListAPIView):
    error_codes = {400: ["invalid"]}
    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    pagination_class = AuditCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEventFilter
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = AUDIT_SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return selectors.events_visible_to(self.request.user)


@extend_schema(
    summary="Verify the audit chain",
    description=(
        "Recomputes every seal from the retention checkpoint to the chain head and reports "
        "the first broken link: an edited field, a deleted or a moved event. Events not yet "
        "sealed (a few seconds old) are counted in `unsealed`. Admins only. The cost grows "
        "with the number of events kept (tens of thousands of links per second): check a "
        "very long log in windows with `from_seq` and `limit`, or with "
        "`manage.py audit_verify`, which has no time limit."
    ),
    parameters=[AuditVerifyQuerySerializer],
    responses={200: AuditVerifySerializer},
)
class AuditVerify(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole, HasScope]
    required_scopes = AUDIT_SCOPES

    def get(self, request):
        query = AuditVerifyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.chain_verify(**query.validated_data).as_dict())
