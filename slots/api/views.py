"""Slots API: thin viewsets; every write calls ``slots.services``."""

from __future__ import annotations

import uuid
from functools import cached_property

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from slots import selectors, services
from slots.api.filters import SlotFilter
from slots.api.serializers import (
    CREDENTIAL_SERIALIZERS,
    SlotCreateSerializer,
    SlotCredentialsRequest,
    SlotErrorResponseSerializer,
    SlotSerializer,
    SlotTypeSerializer,
    SlotUpdateSerializer,
)
from slots.models import CREDENTIAL_KINDS, Slot, SlotType

SLOT_SCOPES = ("slots:read", "slots:write")
_ERROR_TEXT = {
    400: "Invalid input; `attr` names the field or config path.",
    401: "Not authenticated.",
    403: "The role or the API key's scope does not allow this.",
    404: "No such slot, or not yours.",
    409: "Conflict: `name_taken`, `slot_quota_exceeded`, `invalid_transition`, `slot_released`.",
}


def errors(*codes: int) -> dict:
    return {
        code: OpenApiResponse(SlotErrorResponseSerializer, description=_ERROR_TEXT[code])
        for code in codes
    }


UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


@extend_schema_view(
    list=extend_schema(
        summary="Slot types",
        description="The slot types new slots can be created with. Not paginated.",
        responses={200: SlotTypeSerializer(many=True), **errors(401, 403)},
    ),
    retrieve=extend_schema(
        summary="One slot type", responses={200: SlotTypeSerializer, **errors(401, 403, 404)}
    ),
)
class SlotTypeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SlotTypeSerializer
    queryset = SlotType.objects.none()
    required_scopes = SLOT_SCOPES
    pagination_class = None
    filter_backends: list = []
    lookup_field = "key"
    lookup_value_regex = r"[a-z][a-z0-9_-]{0,63}"

    def get_queryset(self):
        return selectors.slot_types_available()


def _slot_action_schema(verb: str, who: str):
    return extend_schema(
        summary=f"{verb.capitalize()} a slot",
        description=f"{who} Illegal moves for the slot's status are 409 `invalid_transition`.",
        request=None,
        responses={200: SlotSerializer, **errors(401, 403, 404, 409)},
    )


@extend_schema_view(
    list=extend_schema(
        summary="List slots",
        description="Your slots. Released slots are left out unless `?status=released`. "
        "Admins may list another user's slots with `?owner=<user id>`.",
        parameters=[
            OpenApiParameter(
                "owner", OpenApiTypes.UUID, description="Admins only: whose slots to list."
            )
        ],
        responses={200: SlotSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="One slot",
        description="Owner or admin; others get 404. Released slots stay readable.",
        responses={200: SlotSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Create a slot",
        description="Validated against the type's JSON Schema (errors name the config path, "
        "e.g. `config.cpu`). The slot starts `active`, or `provisioning` when its type "
        "requires provisioning. The live-slot quota is the most generous of the owner's own "
        "limit (their `slot_limit` across all types when set, else the type's "
        "`default_limit` for slots of that type) and the `slot_limits` of the plans of the "
        "active organizations they are an active member of (slots of that type); it holds "
        "under concurrent requests (409 `slot_quota_exceeded`). Names are unique, "
        "case-insensitively, among the owner's live slots (409 `name_taken`). "
        "Admins may pass `owner`.",
        request=SlotCreateSerializer,
        responses={201: SlotSerializer, **errors(400, 401, 403, 409)},
    ),
    partial_update=extend_schema(
        summary="Rename a slot or replace its config",
        request=SlotUpdateSerializer,
        responses={200: SlotSerializer, **errors(400, 401, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Release a slot",
        description="Any live status → `released` (final). The slot stays readable and "
        "stops counting against the quota; its credentials are erased.",
        responses={204: None, **errors(401, 403, 404, 409)},
    ),
)
class SlotViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    # The domain codes of each operation (collected for the schema by config.api.schema).
    error_codes = {
        "list": {400: ["invalid"]},
        "create": {
            400: [
                "unknown_type",
                "type_disabled",
                "invalid_config",
                "invalid_name",
                "does_not_exist",
            ],
            409: ["name_taken", "slot_quota_exceeded", "owner_inactive"],
        },
        "partial_update": {
            400: ["invalid_config", "invalid_name"],
            409: ["name_taken", "slot_released"],
        },
        "destroy": {409: ["slot_released"]},
        "activate": {409: ["invalid_transition", "slot_released"]},
        "suspend": {409: ["invalid_transition", "slot_released"]},
        "resume": {409: ["invalid_transition", "slot_released"]},
        "heartbeat": {409: ["slot_released"]},
        "credentials:put": {
            400: ["credential_kind_not_accepted", "invalid_choice"],
            409: ["slot_released"],
        },
        "credentials:delete": {409: ["slot_released"]},
    }
    serializer_class = SlotSerializer
    queryset = Slot.objects.none()
    required_scopes = SLOT_SCOPES
    filterset_class = SlotFilter
    ordering_fields = ("created_at", "updated_at", "name", "last_active_at", "status")
    ordering = ("-created_at", "id")
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    @cached_property
    def caller_is_admin(self) -> bool:
        return services.actor_is_admin(self.request.user)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Slot.objects.none()
        user = self.request.user
        if self.action == "list":
            return Slot.objects.filter(owner_id=self._listed_owner_id())
        if self.action == "heartbeat":
            # The hot path of a running slot: only what the gate needs, owner's slots only.
            return Slot.objects.filter(owner=user).only("id", "owner_id", "status")
        if self.caller_is_admin:
            return selectors.slot_list()
        return selectors.slot_list(owner=user)

    def _listed_owner_id(self):
        raw = self.request.query_params.get("owner")
        if raw is None:
            return self.request.user.pk
        try:
            owner_id = uuid.UUID(raw)
        except ValueError as exc:
            raise exceptions.ValidationError(
                {"owner": [exceptions.ErrorDetail("Must be a valid UUID.", code="invalid")]}
            ) from exc
        if owner_id != self.request.user.pk and not self.caller_is_admin:
            raise exceptions.PermissionDenied("Only admins may list other users' slots.")
        return owner_id

    def filter_queryset(self, queryset):
        # Filters and ordering shape the list; a single slot is found by id whatever its status.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def get_object(self):
        try:
            return super().get_object()
        except DjangoValidationError as exc:
            raise Http404 from exc

    def get_serializer_class(self):
        if self.action == "create":
            return SlotCreateSerializer
        if self.action == "partial_update":
            return SlotUpdateSerializer
        return SlotSerializer

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset.values(*selectors.SLOT_ROW_FIELDS))
        return self.get_paginated_response([selectors.slot_row_as_dict(row) for row in page])

    def _respond(self, slot: Slot, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(
            SlotSerializer(slot, context=self.get_serializer_context()).data, status_code
        )

    def create(self, request, *args, **kwargs):
        serializer = SlotCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = request.user
        if "owner" in data and data["owner"] != request.user.pk:
            if not self.caller_is_admin:
                raise exceptions.PermissionDenied("Only admins may create slots for other users.")
            owner = get_user_model().objects.filter(pk=data["owner"]).first()
            if owner is None:
                raise exceptions.ValidationError(
                    {"owner": [exceptions.ErrorDetail("No such user.", code="does_not_exist")]}
                )
        slot = services.slot_create(
            owner=owner,
            type=data["type"],
            name=data["name"],
            config=data.get("config", {}),
            actor=request.user,
            request=request,
        )
        return self._respond(slot, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        slot = self.get_object()
        serializer = SlotUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slot = services.slot_update(
            slot=slot, **serializer.validated_data, actor=request.user, request=request
        )
        return self._respond(slot)

    def destroy(self, request, *args, **kwargs):
        services.slot_release(slot=self.get_object(), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _transition(self, request, action_name: str) -> Response:
        slot = services.slot_transition(
            slot=self.get_object(), action=action_name, actor=request.user, request=request
        )
        return self._respond(slot)

    @_slot_action_schema("activate", "Admins only: `provisioning` → `active`.")
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._transition(request, "activate")

    @_slot_action_schema("suspend", "Owner or admin: `active` → `suspended`.")
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        return self._transition(request, "suspend")

    @_slot_action_schema("resume", "Owner or admin: `suspended` → `active`.")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._transition(request, "resume")

    @extend_schema(
        summary="Slot heartbeat",
        description="The owner reports the slot in use: sets `last_active_at` (written at "
        "most once per slot per 30 seconds). 409 `slot_released` for a released slot.",
        request=None,
        responses={204: None, **errors(401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, pk=None):
        services.slot_heartbeat(slot=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["PUT"],
        summary="Set slot credentials",
        description="Owner or admin. Replaces the slot's credentials; only the kinds the "
        "slot type accepts (400 `credential_kind_not_accepted`). Secrets are encrypted at "
        "rest and never returned: the slot shows `credentials: {configured, kind, hint, "
        "updated_at}`.",
        request=SlotCredentialsRequest,
        responses={204: None, **errors(400, 401, 403, 404, 409)},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Remove slot credentials",
        description="Owner or admin. 204 also when none were configured.",
        request=None,
        responses={
            204: OpenApiResponse(description="Removed."),
            **errors(401, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["put", "delete"])
    def credentials(self, request, pk=None):
        slot = self.get_object()
        if request.method == "DELETE":
            services.slot_credentials_clear(slot=slot, actor=request.user, request=request)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Credentials must be a JSON object."]}
            )
        kind = data.get("kind")
        if kind not in CREDENTIAL_KINDS:
            code = "required" if kind in (None, "") else "invalid_choice"
            raise exceptions.ValidationError(
                {
                    "kind": [
                        exceptions.ErrorDetail(
                            f"Must be one of: {', '.join(CREDENTIAL_KINDS)}.", code=code
                        )
                    ]
                }
            )
        serializer = CREDENTIAL_SERIALIZERS[kind](data=data)
        serializer.is_valid(raise_exception=True)
        services.slot_credentials_set(
            slot=slot,
            credentials=dict(serializer.validated_data),
            actor=request.user,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
