"""Organization API bodies of members, their permissions (and where each comes from) and
the organization's roles."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import QueryParamsSerializer, StrictCharField
from orgs.api.serializers.common import (
    ExactlyOneOf,
    StatedCharField,
    StrictSerializer,
    UserRefSerializer,
    email_field,
    permissions_field,
    roles_field,
    text_field,
)
from orgs.catalogue import LEAD_SCOPED
from orgs.models import ROLE_KEY_RE, Membership, Role, TeamMembership
from orgs.permissions import membership_permissions


class MemberTeamSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="team_id")
    name = serializers.CharField(source="team.name")
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices)


class MemberSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    roles = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField(
        help_text="Organization-wide permissions (roles and direct); team permissions hold "
        "inside their team only (see the member's permissions explanation)."
    )
    direct_permissions = serializers.ListField(
        source="permissions", child=serializers.CharField(), read_only=True
    )
    teams = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Membership.Status.choices, read_only=True)

    class Meta:
        model = Membership
        fields = (
            "user",
            "roles",
            "permissions",
            "direct_permissions",
            "teams",
            "status",
            "joined_at",
        )
        read_only_fields = fields

    def get_roles(self, obj: Membership) -> list[str]:
        return sorted(r.key for r in obj.roles.all())

    def get_permissions(self, obj: Membership) -> list[str]:
        return membership_permissions(obj)

    @extend_schema_field(MemberTeamSerializer(many=True))
    def get_teams(self, obj: Membership) -> list[dict]:
        rows = getattr(obj.user, "org_team_rows", None)
        if rows is None:
            rows = list(
                obj.user.team_memberships.filter(team__organization_id=obj.organization_id)
                .select_related("team")
                .order_by("team__name")
            )
        return MemberTeamSerializer(rows, many=True).data


class SourceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["role", "team", "direct", "grant", "platform"])
    id = serializers.CharField()
    name = serializers.CharField()
    team = serializers.UUIDField(
        required=False, help_text="Set when the source holds inside this team only."
    )


class PermissionExplanationSerializer(serializers.Serializer):
    permission = serializers.CharField()
    sources = SourceSerializer(many=True)


class RoleSerializer(serializers.ModelSerializer):
    permissions = serializers.SerializerMethodField()
    lead_scoped_permissions = serializers.SerializerMethodField(
        help_text="Of these, the ones held only inside teams the holder leads."
    )

    class Meta:
        model = Role
        fields = ("key", "name", "description", "permissions", "lead_scoped_permissions", "builtin")
        read_only_fields = fields

    def get_permissions(self, obj: Role) -> list[str]:
        from orgs.catalogue import role_permissions

        return sorted(
            role_permissions(obj.key, obj.permissions) if obj.builtin else obj.permissions
        )

    def get_lead_scoped_permissions(self, obj: Role) -> list[str]:
        return sorted(LEAD_SCOPED.get(obj.key, ())) if obj.builtin else []


class MemberAddSerializer(ExactlyOneOf, StrictSerializer):
    exactly_one_of = ("user", "email")

    user = serializers.UUIDField(required=False, help_text="The account's id.")
    email = email_field(required=False)
    roles = roles_field(required=False, help_text='Role keys; default ["member"].')


class MemberUpdateSerializer(StrictSerializer):
    roles = roles_field(required=False, help_text="Replaces the member's roles.")
    status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)


class PermissionUpdateSerializer(StrictSerializer):
    permissions_to_add = permissions_field(required=False, default=list)
    permissions_to_remove = permissions_field(required=False, default=list)
    roles_to_assign = roles_field(required=False, default=list)
    roles_to_remove = roles_field(required=False, default=list)


class RoleCreateSerializer(StrictSerializer):
    # Not trimmed: role_create checks the key as sent (400 ``invalid_key``).
    key = StatedCharField(stated={"pattern": ROLE_KEY_RE}, max_length=40, trim_whitespace=False)
    name = text_field(100)
    description = text_field(2000, required=False)
    permissions = permissions_field()


class RoleUpdateSerializer(StrictSerializer):
    name = text_field(100, required=False, allow_blank=False)
    description = text_field(2000, required=False)
    permissions = permissions_field(required=False)


class PermissionsQuerySerializer(serializers.Serializer):
    org = StrictCharField(help_text="The organization's id or slug.")


class MemberQuerySerializer(QueryParamsSerializer):
    role = serializers.CharField(max_length=40, required=False, help_text="A role key.")
    team = serializers.UUIDField(required=False, help_text="A team id.")
    q = serializers.CharField(max_length=100, required=False, help_text="Email or name.")
