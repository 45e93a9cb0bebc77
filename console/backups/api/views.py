"""Admin API of backups: /api/v1/admin/backups (platform admins; API keys never)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from config.api.permissions import IsAdminRole, NotApiKey
from console.backups import services
from console.backups.api.serializers import (
    BackupAcceptedSerializer,
    BackupCreateSerializer,
    BackupSerializer,
)
from console.models import Backup
from slots.api.views import UUID_PATTERN


@extend_schema_view(
    list=extend_schema(summary="Backups", description="Newest first. Platform admins only."),
    retrieve=extend_schema(
        summary="A backup",
        description="`verified` is the proof: the backup (with the backups it builds on) "
        "restored into a scratch database, row counts compared per table and the audit "
        "chain verified; `at` is null until that has run.",
    ),
    create=extend_schema(
        summary="Start a backup",
        description="Queued for a Celery worker: 202 with the id to follow. `full`: every "
        "table; `incremental`: what changed since the newest ready full or incremental "
        "backup (409 `no_base` without one); `selective`: the tables of `apps` (required "
        "there: 400 `required`; refused elsewhere: 400 `not_allowed`). "
        "`encryption_enabled` encrypts with the newest key of BACKUP_ENCRYPTION_KEYS (409 "
        "`encryption_not_configured` without one). The file is deleted `retention_days` "
        "after creation. Key material is never written into a backup.",
        request=BackupCreateSerializer,
        responses={202: BackupAcceptedSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a backup",
        description="The record and its file. 409 `has_increments` while incremental "
        "backups build on it; 409 `running` while it runs.",
        responses={204: None},
    ),
)
class BackupViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    error_codes = {
        "create": {400: ["required", "not_allowed"], 409: ["no_base", "encryption_not_configured"]},
        "destroy": {409: ["has_increments", "running"]},
        "download": {409: ["not_ready", "file_missing"]},
    }
    serializer_class = BackupSerializer
    queryset = Backup.objects.none()
    permission_classes = [IsAuthenticated, NotApiKey, IsAdminRole]
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_content_negotiation(self, request, force=False):
        # The file answers any Accept (application/octet-stream included); an error on that
        # path is the JSON envelope whatever was asked, never a 406.
        return super().perform_content_negotiation(
            request, force=force or self.action == "download"
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Backup.objects.none()
        return Backup.objects.order_by("-created_at", "id")

    def create(self, request, *args, **kwargs):
        body = BackupCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        backup = services.backup_create(
            backup_type=data["backup_type"],
            apps=data.get("apps"),
            include_files=data["include_files"],
            encrypted=data["encryption_enabled"],
            retention_days=data["retention_days"],
            actor=request.user,
            request=request,
        )
        return Response(
            {"id": str(backup.id), "status": backup.status}, status=status.HTTP_202_ACCEPTED
        )

    def perform_destroy(self, instance):
        services.backup_delete(backup=instance, actor=self.request.user, request=self.request)

    @extend_schema(
        summary="Download a backup file",
        description="The file as stored (header, then the payload; encrypted if it was). "
        "Every download is on the audit log (`console.backup.downloaded`).",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The backup file."
            )
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        backup = self.get_object()
        path = services.backup_downloaded(backup=backup, actor=request.user, request=request)
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"roster-backup-{backup.id}.rbk",
            content_type="application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        if backup.sha256:
            # The file's digest is its validator, as for every other GET of the API.
            response["ETag"] = f'"{backup.sha256}"'
        return response
