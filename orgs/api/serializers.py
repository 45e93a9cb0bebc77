"""Organization API bodies: strict request serializers (unknown keys are 400
``unknown_field``) and the response objects of docs/api.md, read from rows loaded by
``orgs.selectors`` (no query per row)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import (
    QueryParamsSerializer,
    StrictCharField,
    StrictFieldsMixin,
    StrictIntegerField,
)
from orgs.catalogue import LEAD_SCOPED
from orgs.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationDomain,
    Plan,
    Role,
    Team,
    TeamMembership,
)
from orgs.permissions import membership_permissions


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


def _keys(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=StrictCharField(max_length=64), max_length=100, **kwargs)


# --- responses ----------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    display_name = serializers.CharField()


class DomainSerializer(serializers.ModelSerializer):
    join_mode = serializers.ChoiceField(choices=OrganizationDomain.JoinMode.choices)

    class Meta:
        model = OrganizationDomain
        fields = ("domain", "verified", "join_mode", "verified_at", "created_at")
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Organization.Status.choices, read_only=True)
    plan = serializers.SlugRelatedField(slug_field="key", read_only=True, allow_null=True)
    features = serializers.ListField(child=serializers.CharField(), read_only=True)
    seats_used = serializers.SerializerMethodField(
        help_text="Members (active or suspended) plus pending, unexpired invitations."
    )
    domains = DomainSerializer(many=True, read_only=True)

    class Meta:
        model = Organization
        fields = (
            "id",
            "slug",
            "name",
            "description",
            "status",
            "plan",
            "features",
            "seat_limit",
            "seats_used",
            "domains",
            "created_at",
        )
        read_only_fields = fields

    def get_seats_used(self, obj: Organization) -> int:
        return int(obj.member_total) + int(obj.pending_total)


class PlanSerializer(serializers.ModelSerializer):
    features = serializers.ListField(child=serializers.CharField())
    slot_limits = serializers.DictField(child=serializers.IntegerField())
    usage_limits = serializers.DictField(child=serializers.IntegerField())

    class Meta:
        model = Plan
        fields = (
            "key",
            "name",
            "description",
            "seat_limit",
            "features",
            "slot_limits",
            "usage_limits",
        )
        read_only_fields = fields


class CatalogueEntrySerializer(serializers.Serializer):
    key = serializers.CharField()
    description = serializers.CharField()


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


class TenantOwnerSerializer(serializers.Serializer):
    user = serializers.UUIDField(allow_null=True, help_text="The existing account that joined.")
    invitation = serializers.UUIDField(allow_null=True, help_text="The invitation mailed.")


class TenantSerializer(serializers.Serializer):
    organization = OrganizationSerializer()
    owner = TenantOwnerSerializer()
    plan = serializers.CharField()
    seat_limit = serializers.IntegerField()
    dry_run = serializers.BooleanField()


# --- requests -----------------------------------------------------------------------------


class OrganizationCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    slug = StrictCharField(max_length=50, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)


class OrganizationUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    slug = StrictCharField(max_length=50, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)


class MemberAddSerializer(StrictSerializer):
    user = serializers.UUIDField(required=False, help_text="The account's id.")
    email = StrictCharField(max_length=254, required=False)
    roles = _keys(required=False, help_text='Role keys; default ["member"].')

    def validate(self, attrs):
        if ("user" in attrs) == ("email" in attrs):
            raise serializers.ValidationError(
                {"user": [serializers.ErrorDetail("Give user or email.", code="required")]}
            )
        return attrs


class MemberUpdateSerializer(StrictSerializer):
    roles = _keys(required=False, help_text="Replaces the member's roles.")
    status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)


class PermissionUpdateSerializer(StrictSerializer):
    permissions_to_add = _keys(required=False, default=list)
    permissions_to_remove = _keys(required=False, default=list)
    roles_to_assign = _keys(required=False, default=list)
    roles_to_remove = _keys(required=False, default=list)


class RoleCreateSerializer(StrictSerializer):
    key = StrictCharField(max_length=40)
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    permissions = _keys()


class RoleUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    permissions = _keys(required=False)


class InvitationItemSerializer(StrictSerializer):
    email = StrictCharField(max_length=254)
    roles = _keys(required=False, help_text='Role keys; default ["member"].')
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


class DomainCreateSerializer(StrictSerializer):
    domain = StrictCharField(max_length=253)
    join_mode = serializers.ChoiceField(
        choices=OrganizationDomain.JoinMode.choices, required=False, default="off"
    )


class DomainUpdateSerializer(StrictSerializer):
    join_mode = serializers.ChoiceField(choices=OrganizationDomain.JoinMode.choices, required=False)


class TeamCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    team_type = StrictCharField(max_length=50, required=False, allow_blank=True)
    goals = serializers.ListField(
        child=StrictCharField(max_length=200), max_length=20, required=False
    )
    initial_members = serializers.ListField(
        child=StrictCharField(max_length=254),
        max_length=200,
        required=False,
        help_text="Emails or user ids of organization members.",
    )


class TeamUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    team_type = StrictCharField(max_length=50, required=False, allow_blank=True)
    goals = serializers.ListField(
        child=StrictCharField(max_length=200), max_length=20, required=False
    )


class TeamMemberAddSerializer(StrictSerializer):
    user = serializers.UUIDField(required=False)
    user_email = StrictCharField(max_length=254, required=False)
    role = serializers.ChoiceField(
        choices=TeamMembership.Role.choices, required=False, default="member"
    )
    title = StrictCharField(max_length=100, required=False, allow_blank=True)
    permissions = _keys(required=False, default=list)

    def validate(self, attrs):
        if ("user" in attrs) == ("user_email" in attrs):
            raise serializers.ValidationError(
                {"user": [serializers.ErrorDetail("Give user or user_email.", code="required")]}
            )
        return attrs


class TeamMemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices, required=False)
    title = StrictCharField(max_length=100, required=False, allow_blank=True)
    permissions = _keys(required=False)


class TenantCreateSerializer(StrictSerializer):
    company_name = StrictCharField(max_length=100)
    company_domain = StrictCharField(max_length=253)
    admin_email = StrictCharField(max_length=254)
    subscription_plan = StrictCharField(max_length=40)
    initial_user_count = StrictIntegerField(min_value=1)
    features = _keys(required=False, default=list)
    idempotency_key = StrictCharField(max_length=200, required=False)
    dry_run = serializers.BooleanField(required=False, default=False)


class PermissionsQuerySerializer(serializers.Serializer):
    org = StrictCharField(help_text="The organization's id or slug.")


class OrganizationQuerySerializer(QueryParamsSerializer):
    q = serializers.CharField(max_length=100, required=False, help_text="Part of the name or slug.")
    status = serializers.ChoiceField(choices=Organization.Status.choices, required=False)


class MemberQuerySerializer(QueryParamsSerializer):
    role = serializers.CharField(max_length=40, required=False, help_text="A role key.")
    team = serializers.UUIDField(required=False, help_text="A team id.")
    q = serializers.CharField(max_length=100, required=False, help_text="Email or name.")


class InvitationQuerySerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(choices=Invitation.Status.choices, required=False)
