from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import StrictBooleanField, StrictFieldsMixin, StrictIntegerField
from console.backups import engine, services
from console.models import Backup


@extend_schema_field({"type": "boolean", "enum": [True], "default": True})
class _AlwaysTrueField(serializers.BooleanField):
    """``include_database`` is part of the contract, and every backup holds the database."""

    def to_internal_value(self, data):
        if data is not True:
            raise serializers.ValidationError(
                "Every backup includes the database: include_database must be true.",
                code="invalid",
            )
        return True


class _AppField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=sorted(engine.app_labels()), **kwargs)


class BackupCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    backup_type = serializers.ChoiceField(choices=Backup.Type.choices)
    include_database = _AlwaysTrueField(default=True)
    include_files = StrictBooleanField(default=False)
    apps = serializers.ListField(
        child=_AppField(),
        required=False,
        max_length=100,
        help_text="Selective backups only: the apps (Django app labels) whose tables it holds.",
    )
    encryption_enabled = StrictBooleanField(default=False)
    retention_days = StrictIntegerField(
        min_value=1, max_value=services.MAX_RETENTION_DAYS, default=services.DEFAULT_RETENTION_DAYS
    )

    def validate(self, attrs):
        apps = attrs.get("apps") or []
        if attrs["backup_type"] == Backup.Type.SELECTIVE and not apps:
            raise serializers.ValidationError(
                {"apps": ["A selective backup names the apps it holds."]}, code="required"
            )
        if attrs["backup_type"] != Backup.Type.SELECTIVE and apps:
            raise serializers.ValidationError(
                {"apps": ["Only a selective backup names apps."]}, code="not_allowed"
            )
        return attrs


class BackupAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Backup.Status.choices)


class VerifiedSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="verified_at", allow_null=True)
    ok = serializers.BooleanField(source="verified_ok", allow_null=True)
    detail = serializers.JSONField(
        source="verified_detail",
        help_text="What the proof found: tables and rows restored, count mismatches per "
        "table, the audit chain's verification, or the error.",
    )


class BackupSerializer(serializers.ModelSerializer):
    base = serializers.UUIDField(source="base_id", allow_null=True, read_only=True)
    verified = VerifiedSerializer(source="*", read_only=True)

    class Meta:
        model = Backup
        fields = [
            "id",
            "backup_type",
            "base",
            "apps",
            "status",
            "error",
            "size",
            "sha256",
            "encrypted",
            "key_id",
            "include_files",
            "retention_days",
            "created_at",
            "expires_at",
            "verified",
        ]
        read_only_fields = fields
