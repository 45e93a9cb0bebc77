"""Organization API bodies of teams and their members."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orgs.api.serializers.common import (
    ExactlyOneOf,
    StatedCharField,
    StrictSerializer,
    UserRefSerializer,
    email_field,
    team_permissions_field,
    text_field,
)
from orgs.models import Team, TeamMembership


class TeamSerializer(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    goals = serializers.ListField(child=serializers.CharField(), read_only=True)
    member_count = serializers.IntegerField(read_only=True)
    leads = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = (
            "id",
            "organization",
            "name",
            "description",
            "team_type",
            "goals",
            "member_count",
            "leads",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(UserRefSerializer(many=True))
    def get_leads(self, obj: Team) -> list[dict]:
        rows = getattr(obj, "lead_rows", None)
        if rows is None:
            rows = obj.team_memberships.filter(role="lead").select_related("user")
        return UserRefSerializer([r.user for r in rows], many=True).data


class TeamMemberSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices, read_only=True)
    permissions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = TeamMembership
        fields = ("user", "role", "title", "permissions", "joined_at")
        read_only_fields = fields


class TeamCreateSerializer(StrictSerializer):
    name = text_field(100)
    description = text_field(2000, required=False)
    team_type = text_field(50, required=False)
    goals = serializers.ListField(child=text_field(200), max_length=20, required=False)
    initial_members = serializers.ListField(
        child=StatedCharField(
            stated={"anyOf": [{"format": "email"}, {"format": "uuid"}]}, max_length=254
        ),
        max_length=200,
        required=False,
        help_text="Emails or user ids of organization members.",
    )


class TeamUpdateSerializer(StrictSerializer):
    name = text_field(100, required=False, allow_blank=False)
    description = text_field(2000, required=False)
    team_type = text_field(50, required=False)
    goals = serializers.ListField(child=text_field(200), max_length=20, required=False)


class TeamMemberAddSerializer(ExactlyOneOf, StrictSerializer):
    exactly_one_of = ("user", "user_email")

    user = serializers.UUIDField(required=False)
    user_email = email_field(required=False)
    role = serializers.ChoiceField(
        choices=TeamMembership.Role.choices, required=False, default="member"
    )
    title = text_field(100, required=False)
    permissions = team_permissions_field(required=False, default=list)


class TeamMemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices, required=False)
    title = text_field(100, required=False)
    permissions = team_permissions_field(required=False)
