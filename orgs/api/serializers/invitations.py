"""Organization API bodies of invitations, one or in bulk, and their decisions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import QueryParamsSerializer, StrictCharField, StrictIntegerField
from orgs.api.serializers.common import (
    StrictSerializer,
    UserRefSerializer,
    email_field,
    roles_field,
)
from orgs.models import Invitation


class OrganizationRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class InvitationSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)
    roles = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    invited_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = (
            "id",
            "organization",
            "email",
            "roles",
            "teams",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
        )
        read_only_fields = fields

    def get_roles(self, obj: Invitation) -> list[str]:
        return sorted(r.key for r in obj.roles.all())

    def get_teams(self, obj: Invitation) -> list[str]:
        return sorted(str(t.pk) for t in obj.teams.all())

    @extend_schema_field(serializers.ChoiceField(choices=Invitation.Status.choices))
    def get_status(self, obj: Invitation) -> str:
        return obj.effective_status()


class InvitationItemSerializer(StrictSerializer):
    email = email_field()
    roles = roles_field(required=False, help_text='Role keys; default ["member"].')
    teams = serializers.ListField(child=serializers.UUIDField(), max_length=100, required=False)


class InvitationCreateSerializer(InvitationItemSerializer):
    expires_in_days = StrictIntegerField(min_value=1, max_value=30, required=False)


class InvitationBulkSerializer(StrictSerializer):
    # A ListField (not many=True) so that the schema states minItems/maxItems too.
    invitations = serializers.ListField(
        child=InvitationItemSerializer(), min_length=1, max_length=500
    )
    expires_in_days = StrictIntegerField(min_value=1, max_value=30, required=False)


class InvitationDecisionSerializer(StrictSerializer):
    token = StrictCharField(
        max_length=200,
        required=False,
        help_text="The secret of the emailed link, when accepting from it: it must be the "
        "live one (404 otherwise).",
    )


class InvitationBulkResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = InvitationSerializer(many=True)


class InvitationQuerySerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(choices=Invitation.Status.choices, required=False)
