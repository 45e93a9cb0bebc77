"""Organization API bodies of organizations, their domains, the plans and tenant
onboarding."""

from __future__ import annotations

from rest_framework import serializers

from config.api.serializers import (
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from orgs.api.serializers.common import (
    StrictSerializer,
    domain_field,
    email_field,
    slug_field,
    text_field,
)
from orgs.models import Organization, OrganizationDomain, Plan


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


class TenantOwnerSerializer(serializers.Serializer):
    user = serializers.UUIDField(allow_null=True, help_text="The existing account that joined.")
    invitation = serializers.UUIDField(allow_null=True, help_text="The invitation mailed.")


class TenantSerializer(serializers.Serializer):
    organization = OrganizationSerializer()
    owner = TenantOwnerSerializer()
    plan = serializers.CharField()
    seat_limit = serializers.IntegerField()
    dry_run = serializers.BooleanField()


class OrganizationCreateSerializer(StrictSerializer):
    name = text_field(100)
    slug = slug_field(required=False)
    description = text_field(2000, required=False)


class OrganizationUpdateSerializer(StrictSerializer):
    name = text_field(100, required=False, allow_blank=False)
    slug = slug_field(required=False)
    description = text_field(2000, required=False)


class DomainCreateSerializer(StrictSerializer):
    domain = domain_field()
    join_mode = serializers.ChoiceField(
        choices=OrganizationDomain.JoinMode.choices, required=False, default="off"
    )


class DomainUpdateSerializer(StrictSerializer):
    join_mode = serializers.ChoiceField(choices=OrganizationDomain.JoinMode.choices, required=False)


class TenantCreateSerializer(StrictSerializer):
    company_name = text_field(100)
    company_domain = domain_field()
    admin_email = email_field()
    subscription_plan = StrictCharField(max_length=40, help_text="A plan's key (GET /plans).")
    initial_user_count = StrictIntegerField(min_value=1)
    features = serializers.ListField(
        child=StrictCharField(max_length=64),
        max_length=100,
        required=False,
        default=list,
        help_text="Feature keys of the plan.",
    )
    idempotency_key = text_field(200, required=False, allow_blank=False)
    dry_run = StrictBooleanField(required=False, default=False)


class OrganizationQuerySerializer(QueryParamsSerializer):
    q = serializers.CharField(max_length=100, required=False, help_text="Part of the name or slug.")
    status = serializers.ChoiceField(choices=Organization.Status.choices, required=False)
