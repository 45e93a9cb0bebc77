"""Organization API bodies: strict request serializers (unknown keys are 400
``unknown_field``) and the response objects of docs/api.md, read from rows loaded by
``orgs.selectors`` (no query per row)."""

from __future__ import annotations

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.schema.request_rules import STRIP_WHITESPACE
from config.api.serializers import (
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictFieldsExtension,
    StrictFieldsMixin,
    StrictIntegerField,
)
from orgs.catalogue import ALL_PERMISSIONS, LEAD_SCOPED, TEAM_PERMISSIONS
from orgs.models import (
    ROLE_KEY_RE,
    SLUG_RE,
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


# --- input rules, stated where the schema reads them ----------------------------------------
# The services enforce these rules (orgs.services.rules.clean_text and clean_email,
# .domains.clean_domain, .organizations.clean_slug, .roles, the catalogue), one source each,
# with their own codes; here they are only stated, for the schema, on the raw value as sent.
# The services trim whitespace before checking, so the patterns allow str.strip()'s whitespace
# around a value. tests/orgs/test_api_input_rules.py holds each pattern to its service.

_WS = f"[{STRIP_WHITESPACE}]*"
# clean_text refuses control characters (a line break aside) and the line and paragraph
# separators (and surrogates, which only a lone JSON escape can carry: every CharField refuses
# those, and no regex dialect reads them alike).
_BAD = r"\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029"
_EDGE = f"[^{_BAD}{STRIP_WHITESPACE}]"
_TEXT = f"{_EDGE}(?:[^{_BAD}]*{_EDGE})?"
TEXT_PATTERN = f"^{_WS}{_TEXT}{_WS}$"
# Where blank is allowed the schema says so in a branch of its own (``maxLength: 0``), so
# this one leaves out the empty string: whitespace alone (trimmed to blank) or text.
OPTIONAL_TEXT_PATTERN = f"^(?:{_WS}{_TEXT}{_WS}|[{STRIP_WHITESPACE}]+)$"
SLUG_PATTERN = f"^{_WS}{SLUG_RE.strip('^$')}{_WS}$"
# clean_domain lower-cases (the Kelvin sign lower-cases to "k"), drops trailing dots, and
# wants two labels or more whose last is not all digits.
_LABEL = r"[a-zA-Z0-9\u212a](?:[a-zA-Z0-9\u212a-]{0,61}[a-zA-Z0-9\u212a])?"
DOMAIN_PATTERN = f"^{_WS}(?:{_LABEL}\\.)+(?![0-9]+\\.*{_WS}$){_LABEL}\\.*{_WS}$"


class StatedCharField(StrictCharField):
    """A string whose rule a service enforces; ``stated`` (a pattern or a format) is added to
    the field's schema."""

    def __init__(self, *, stated: dict, **kwargs):
        self.stated = stated
        super().__init__(**kwargs)


class StatedCharFieldExtension(OpenApiSerializerFieldExtension):
    target_class = StatedCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema.update(self.target.stated)
        return schema


def _text(max_length: int, *, required: bool = True, **kwargs) -> StatedCharField:
    """A name, title or description (``clean_text``: 400 ``invalid_characters``)."""
    if not required:
        kwargs.setdefault("allow_blank", True)
    pattern = OPTIONAL_TEXT_PATTERN if kwargs.get("allow_blank") else TEXT_PATTERN
    return StatedCharField(
        stated={"pattern": pattern}, max_length=max_length, required=required, **kwargs
    )


def _email(**kwargs) -> StatedCharField:
    """An email address (``clean_email``: Django's validator, 400 ``invalid_email``)."""
    return StatedCharField(stated={"format": "email"}, max_length=254, **kwargs)


def _domain(**kwargs) -> StatedCharField:
    """A domain name (``clean_domain``: 400 ``invalid_domain``)."""
    return StatedCharField(stated={"pattern": DOMAIN_PATTERN}, max_length=253, **kwargs)


def _slug(**kwargs) -> StatedCharField:
    """An organization's slug (``clean_slug``: 400 ``invalid_slug``)."""
    return StatedCharField(stated={"pattern": SLUG_PATTERN}, max_length=50, **kwargs)


class KeyField(StrictCharField):
    """A key from a vocabulary, documented once as a schema component of its own (a bare enum
    would be named after each property that uses it, and collide). Not trimmed: the key sent
    is the key looked up."""

    component_name: str
    component_schema: dict

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)


class PermissionKeyField(KeyField):
    component_name = "PermissionKey"
    component_schema = {
        "type": "string",
        "enum": sorted(ALL_PERMISSIONS),
        "description": "A key of the permission catalogue (GET /permissions); any other is "
        "400 `unknown_permission`.",
    }


class TeamPermissionKeyField(KeyField):
    component_name = "TeamPermissionKey"
    component_schema = {
        "type": "string",
        "enum": sorted(TEAM_PERMISSIONS),
        "description": "A permission a team membership may add inside its team; any other "
        "is 400 `unknown_permission` or `not_a_team_permission`.",
    }


class RoleKeyField(KeyField):
    component_name = "RoleKey"
    component_schema = {
        "type": "string",
        "maxLength": 40,
        "pattern": ROLE_KEY_RE,
        "description": "A built-in role's key or one of the organization's custom roles' "
        "(GET /orgs/{id}/roles); which exist is data (400 `unknown_role`).",
    }


class KeyFieldExtension(OpenApiSerializerFieldExtension):
    target_class = KeyField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = type(self.target)
        component = ResolvedComponent(
            name=field.component_name,
            type=ResolvedComponent.SCHEMA,
            object=field.component_name,
            schema=field.component_schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _keys(child: KeyField, **kwargs) -> serializers.ListField:
    return serializers.ListField(child=child, max_length=100, **kwargs)


def _permissions(**kwargs) -> serializers.ListField:
    return _keys(PermissionKeyField(), **kwargs)


def _team_permissions(**kwargs) -> serializers.ListField:
    return _keys(TeamPermissionKeyField(), **kwargs)


def _roles(**kwargs) -> serializers.ListField:
    return _keys(RoleKeyField(max_length=40), **kwargs)


class ExactlyOneOf:
    """Names its subject by exactly one of two fields."""

    exactly_one_of: tuple[str, str]

    def validate(self, attrs):
        if sum(name in attrs for name in self.exactly_one_of) != 1:
            first, second = self.exactly_one_of
            raise serializers.ValidationError(
                {first: [serializers.ErrorDetail(f"Give {first} or {second}.", code="required")]}
            )
        return super().validate(attrs)


class ExactlyOneOfExtension(OpenApiSerializerExtension):
    """The strict body's schema, plus a ``oneOf`` of the two ``required``: exactly one."""

    target_class = ExactlyOneOf
    match_subclasses = True
    priority = StrictFieldsExtension.priority + 1

    def map_serializer(self, auto_schema, direction):
        schema = StrictFieldsExtension(self.target).map_serializer(auto_schema, direction)
        if direction == "request":
            schema["oneOf"] = [{"required": [name]} for name in self.target.exactly_one_of]
        return schema


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
    name = _text(100)
    slug = _slug(required=False)
    description = _text(2000, required=False)


class OrganizationUpdateSerializer(StrictSerializer):
    name = _text(100, required=False, allow_blank=False)
    slug = _slug(required=False)
    description = _text(2000, required=False)


class MemberAddSerializer(ExactlyOneOf, StrictSerializer):
    exactly_one_of = ("user", "email")

    user = serializers.UUIDField(required=False, help_text="The account's id.")
    email = _email(required=False)
    roles = _roles(required=False, help_text='Role keys; default ["member"].')


class MemberUpdateSerializer(StrictSerializer):
    roles = _roles(required=False, help_text="Replaces the member's roles.")
    status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)


class PermissionUpdateSerializer(StrictSerializer):
    permissions_to_add = _permissions(required=False, default=list)
    permissions_to_remove = _permissions(required=False, default=list)
    roles_to_assign = _roles(required=False, default=list)
    roles_to_remove = _roles(required=False, default=list)


class RoleCreateSerializer(StrictSerializer):
    # Not trimmed: role_create checks the key as sent (400 ``invalid_key``).
    key = StatedCharField(stated={"pattern": ROLE_KEY_RE}, max_length=40, trim_whitespace=False)
    name = _text(100)
    description = _text(2000, required=False)
    permissions = _permissions()


class RoleUpdateSerializer(StrictSerializer):
    name = _text(100, required=False, allow_blank=False)
    description = _text(2000, required=False)
    permissions = _permissions(required=False)


class InvitationItemSerializer(StrictSerializer):
    email = _email()
    roles = _roles(required=False, help_text='Role keys; default ["member"].')
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
    domain = _domain()
    join_mode = serializers.ChoiceField(
        choices=OrganizationDomain.JoinMode.choices, required=False, default="off"
    )


class DomainUpdateSerializer(StrictSerializer):
    join_mode = serializers.ChoiceField(choices=OrganizationDomain.JoinMode.choices, required=False)


class TeamCreateSerializer(StrictSerializer):
    name = _text(100)
    description = _text(2000, required=False)
    team_type = _text(50, required=False)
    goals = serializers.ListField(child=_text(200), max_length=20, required=False)
    initial_members = serializers.ListField(
        child=StatedCharField(
            stated={"anyOf": [{"format": "email"}, {"format": "uuid"}]}, max_length=254
        ),
        max_length=200,
        required=False,
        help_text="Emails or user ids of organization members.",
    )


class TeamUpdateSerializer(StrictSerializer):
    name = _text(100, required=False, allow_blank=False)
    description = _text(2000, required=False)
    team_type = _text(50, required=False)
    goals = serializers.ListField(child=_text(200), max_length=20, required=False)


class TeamMemberAddSerializer(ExactlyOneOf, StrictSerializer):
    exactly_one_of = ("user", "user_email")

    user = serializers.UUIDField(required=False)
    user_email = _email(required=False)
    role = serializers.ChoiceField(
        choices=TeamMembership.Role.choices, required=False, default="member"
    )
    title = _text(100, required=False)
    permissions = _team_permissions(required=False, default=list)


class TeamMemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices, required=False)
    title = _text(100, required=False)
    permissions = _team_permissions(required=False)


class TenantCreateSerializer(StrictSerializer):
    company_name = _text(100)
    company_domain = _domain()
    admin_email = _email()
    subscription_plan = StrictCharField(max_length=40, help_text="A plan's key (GET /plans).")
    initial_user_count = StrictIntegerField(min_value=1)
    features = serializers.ListField(
        child=StrictCharField(max_length=64),
        max_length=100,
        required=False,
        default=list,
        help_text="Feature keys of the plan.",
    )
    idempotency_key = _text(200, required=False, allow_blank=False)
    dry_run = StrictBooleanField(required=False, default=False)


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
