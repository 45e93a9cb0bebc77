"""Access API bodies: strict request serializers and the response objects of docs/api.md
("Access requests and grants"), read from rows loaded by ``access.selectors``."""

from __future__ import annotations

from rest_framework import serializers

from access.models import LEVEL_RE, RESOURCE_KEY_RE, AccessRequest, Grant, Review
from access.services.checks import COMMENT_MAX, JUSTIFICATION_MAX
from access.services.resources import (
    APPROVALS_MAX,
    APPROVERS_MAX,
    DURATION_MAX_DAYS,
    LEVELS_MAX,
    PENDING_MAX_DAYS,
)
from config.api.serializers import (
    QueryParamsSerializer,
    StrictCharField,
    StrictFieldsMixin,
    StrictIntegerField,
)

RESOURCE_REF_RE = r"^(?:org-role:[a-z][a-z0-9_-]{0,39}|[a-z][a-z0-9_.-]{0,62})$"


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


def _levels(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.RegexField(LEVEL_RE, max_length=40), max_length=LEVELS_MAX, **kwargs
    )


# --- responses ----------------------------------------------------------------------------


class AccessUserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()


class ApproversSpecSerializer(StrictSerializer):
    roles = serializers.ListField(
        child=serializers.RegexField(r"^[a-z][a-z0-9_-]{0,39}$", max_length=40),
        max_length=APPROVERS_MAX,
        required=False,
        default=list,
    )
    teams = serializers.ListField(
        child=serializers.UUIDField(format="hex_verbose"),
        max_length=APPROVERS_MAX,
        required=False,
        default=list,
    )
    users = serializers.ListField(
        child=serializers.UUIDField(format="hex_verbose"),
        max_length=APPROVERS_MAX,
        required=False,
        default=list,
    )

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        return {k: [str(v) for v in values.get(k, [])] for k in ("roles", "teams", "users")}


class ResourceSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    levels = serializers.ListField(child=serializers.CharField())
    approvers = ApproversSpecSerializer()
    min_approvals = serializers.IntegerField()
    max_duration_days = serializers.IntegerField()
    pending_days = serializers.IntegerField()
    auto_approve_levels = serializers.ListField(child=serializers.CharField())
    builtin = serializers.BooleanField(help_text="The org-role:<key> resources; fixed.")


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SerializerMethodField()
    action = serializers.ChoiceField(choices=Review.Action.choices)
    conditions = serializers.DictField()
    at = serializers.DateTimeField(source="created_at")
    delegate_to = serializers.UUIDField(source="delegate_to_id", allow_null=True)

    class Meta:
        model = Review
        fields = ("reviewer", "action", "comment", "conditions", "delegate_to", "at")
        read_only_fields = fields

    def get_reviewer(self, row) -> AccessUserRefSerializer:
        return _user_ref(row.reviewer)


def _user_ref(user) -> dict:
    return {"id": str(user.pk), "display_name": user.display_name or user.email}


class GrantSerializer(serializers.ModelSerializer):
    user = serializers.UUIDField(source="user_id")
    organization = serializers.UUIDField(source="organization_id")
    resource = serializers.CharField(source="resource_key")
    request = serializers.UUIDField(source="request_id", allow_null=True)
    status = serializers.ChoiceField(
        choices=Grant.Status.choices,
        source="effective_status",
        help_text="From expires_at when read: past it, a grant is expired whatever the task did.",
    )

    class Meta:
        model = Grant
        fields = (
            "id",
            "user",
            "organization",
            "resource",
            "access_level",
            "starts_at",
            "expires_at",
            "ended_at",
            "request",
            "status",
        )
        read_only_fields = fields


class AccessRequestSerializer(serializers.ModelSerializer):
    requester = serializers.SerializerMethodField()
    organization = serializers.UUIDField(source="organization_id")
    resource = serializers.CharField(source="resource_key")
    status = serializers.ChoiceField(choices=AccessRequest.Status.choices)
    approvers = serializers.SerializerMethodField()
    reviews = ReviewSerializer(many=True)
    grant = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = (
            "id",
            "requester",
            "organization",
            "resource",
            "access_level",
            "justification",
            "duration_days",
            "min_approvals",
            "status",
            "approvers",
            "reviews",
            "grant",
            "created_at",
            "decide_by",
            "decided_at",
        )
        read_only_fields = fields

    def get_requester(self, row) -> AccessUserRefSerializer:
        return _user_ref(row.requester)

    def get_approvers(self, row) -> AccessUserRefSerializer(many=True):
        return [_user_ref(u) for u in row.approvers.all()]

    def get_grant(self, row) -> GrantSerializer(allow_null=True):
        grant = getattr(row, "grant", None) if row.status == AccessRequest.Status.APPROVED else None
        return GrantSerializer(grant).data if grant is not None else None


class CheckSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    via = serializers.ChoiceField(choices=["grant", "role"], allow_null=True)
    grant = serializers.UUIDField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


# --- requests -----------------------------------------------------------------------------


class ResourceCreateSerializer(StrictSerializer):
    key = serializers.RegexField(RESOURCE_KEY_RE, max_length=63)
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    levels = _levels(min_length=1)
    approvers = ApproversSpecSerializer(required=False)
    min_approvals = StrictIntegerField(min_value=1, max_value=APPROVALS_MAX, required=False)
    max_duration_days = StrictIntegerField(min_value=1, max_value=DURATION_MAX_DAYS, required=False)
    pending_days = StrictIntegerField(min_value=1, max_value=PENDING_MAX_DAYS, required=False)
    auto_approve_levels = _levels(required=False)


class ResourceUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    levels = _levels(min_length=1, required=False)
    approvers = ApproversSpecSerializer(required=False)
    min_approvals = StrictIntegerField(min_value=1, max_value=APPROVALS_MAX, required=False)
    max_duration_days = StrictIntegerField(min_value=1, max_value=DURATION_MAX_DAYS, required=False)
    pending_days = StrictIntegerField(min_value=1, max_value=PENDING_MAX_DAYS, required=False)
    auto_approve_levels = _levels(required=False)


class AccessRequestCreateSerializer(StrictSerializer):
    organization = serializers.UUIDField()
    resource = serializers.RegexField(RESOURCE_REF_RE, max_length=80)
    access_level = serializers.RegexField(LEVEL_RE, max_length=40)
    justification = StrictCharField(max_length=JUSTIFICATION_MAX)
    duration_days = StrictIntegerField(
        min_value=1,
        max_value=DURATION_MAX_DAYS,
        help_text="At most the resource's max_duration_days (400 duration_too_long).",
    )


class ConditionsSerializer(StrictSerializer):
    duration_days = StrictIntegerField(min_value=1, max_value=DURATION_MAX_DAYS, required=False)
    access_level = serializers.RegexField(LEVEL_RE, max_length=40, required=False)


class ReviewCreateSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=Review.Action.choices)
    comments = StrictCharField(max_length=COMMENT_MAX, required=False, allow_blank=True)
    conditions = ConditionsSerializer(
        required=False, help_text="Only narrower than the request (400 conditions_wider)."
    )
    delegate_to = serializers.UUIDField(
        required=False, help_text="With action delegate: an organization member's user id."
    )


class AccessRequestQuerySerializer(QueryParamsSerializer):
    as_ = serializers.ChoiceField(
        choices=["requester", "approver"], required=False, help_text="Default: both."
    )
    status = serializers.ChoiceField(choices=AccessRequest.Status.choices, required=False)
    organization = serializers.UUIDField(required=False)
    resource = serializers.RegexField(RESOURCE_REF_RE, max_length=80, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["as"] = fields.pop("as_")
        fields["as"].source = "as_"
        return fields


class CheckQuerySerializer(QueryParamsSerializer):
    user = serializers.UUIDField()
    organization = serializers.UUIDField()
    resource = serializers.RegexField(RESOURCE_REF_RE, max_length=80)
    access_level = serializers.RegexField(LEVEL_RE, max_length=40)
