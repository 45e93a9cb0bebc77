"""Support API (docs/api.md, "Support tickets"): thin views over ``support.services`` and
``support.selectors``. Another person's ticket is 404 to everyone but support staff."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.models import User
from config.api.permissions import HasScope
from support import selectors, services
from support.api.serializers import (
    AttachmentSerializer,
    AttachmentUploadSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    TicketCreateSerializer,
    TicketQuerySerializer,
    TicketSerializer,
    TicketUpdateSerializer,
)
from support.content import MAX_ATTACHMENT_BYTES
from support.downloads import attachment_response
from support.models import Attachment, Ticket

SUPPORT_SCOPES = ("support:read", "support:write")
# A multipart body holds one file of at most 5 MB plus its part headers and boundaries.
MULTIPART_OVERHEAD = 64 * 1024

TICKET_PARAM = OpenApiParameter(
    "ticket_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The ticket's id."
)
ATTACHMENT_PARAM = OpenApiParameter(
    "attachment_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The attachment's id."
)
WHO = (
    "Support staff (platform permission `support.manage`: admins and the `support` role) "
    "see every ticket; anyone else only the tickets they opened (another's ticket is 404). "
)


def _ticket_response(user, ticket_id, code: int = status.HTTP_200_OK) -> Response:
    return Response(TicketSerializer(selectors.ticket_for(user, ticket_id)).data, status=code)


class AttachmentTooLargeBody(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "An attachment is at most 5 MB."


class SupportTicketViewSet(viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = SUPPORT_SCOPES
    serializer_class = TicketSerializer
    queryset = Ticket.objects.none()
    filter_backends: list = []
    error_codes = {
        "create": services.CREATE_ERROR_CODES,
        "partial_update": services.UPDATE_ERROR_CODES,
        "messages": services.MESSAGE_ERROR_CODES,
        "attachments": services.ATTACHMENT_ERROR_CODES,
    }

    def get_parsers(self):
        # Asked before ``self.action`` is set: the action comes from the method's mapping.
        request = getattr(self, "request", None)
        method = request.method.lower() if request is not None else ""
        if getattr(self, "action_map", {}).get(method) == "attachments":
            return [MultiPartParser()]
        return super().get_parsers()

    @extend_schema(
        summary="Support tickets",
        description=WHO + "Newest first, paginated. Filters combine (AND).",
        parameters=[TicketQuerySerializer],
        responses={200: TicketSerializer(many=True)},
    )
    def list(self, request):
        query = TicketQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.tickets_filtered(
            selectors.tickets_visible_to(request.user), viewer=request.user, **query.validated_data
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(TicketSerializer(page, many=True).data)

    @extend_schema(
        summary="Open a support ticket",
        description="Any signed-in user. The ticket starts `open`, unassigned, with the next "
        "`number`. `priority` defaults to `medium`. Audited `support.ticket.created`.",
        request=TicketCreateSerializer,
        responses={201: TicketSerializer},
    )
    def create(self, request):
        body = TicketCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.ticket_create(
            requester=request.user, request=request, **body.validated_data
        )
        return _ticket_response(request.user, ticket.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="A support ticket",
        description=WHO + "Internal notes are listed for support staff only.",
        parameters=[TICKET_PARAM],
    )
    def retrieve(self, request, ticket_id=None):
        return _ticket_response(request.user, ticket_id)

    @extend_schema(
        summary="Change a support ticket",
        description=WHO
        + "Support staff change `status`, `priority` and `assignee` (a support staff member "
        "or null). Status moves: open, pending and resolved move to any other status; a "
        "closed ticket can only be reopened (`open`), else 409 `invalid_transition`. The "
        "requester may only set `closed` (403 `status_not_allowed` for another status, 403 "
        "`staff_only` for priority or assignee). Setting the current value changes "
        "nothing. Audited `support.ticket.updated` with the old and new values.",
        parameters=[TICKET_PARAM],
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer},
    )
    def partial_update(self, request, ticket_id=None):
        ticket = selectors.ticket_for(request.user, ticket_id)
        body = TicketUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "assignee" in changes and changes["assignee"] is not None:
            assignee = User.objects.filter(pk=changes["assignee"]).first()
            if assignee is None:
                raise exceptions.ValidationError(
                    {"assignee": [exceptions.ErrorDetail("No such user.", "invalid_assignee")]}
                )
            changes["assignee"] = assignee
        services.ticket_update(ticket=ticket, actor=request.user, request=request, **changes)
        return _ticket_response(request.user, ticket.pk)

    @extend_schema(
        summary="Write on a support ticket",
        description=WHO
        + "`internal: true` is a staff-only note (403 `internal_staff_only` for the "
        "requester), never shown to the requester and notifying nobody. A staff reply "
        "notifies the requester (kind `support_reply`, by email too unless they turned it "
        "off); the requester's message notifies the assignee and reopens a `resolved` or "
        "`pending` ticket. A closed ticket takes no messages from its requester (409 "
        "`ticket_closed`). Audited `support.message.created` (without the text).",
        parameters=[TICKET_PARAM],
        request=MessageCreateSerializer,
        responses={201: MessageSerializer},
    )
    def messages(self, request, ticket_id=None):
        ticket = selectors.ticket_for(request.user, ticket_id)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = services.message_create(
            ticket=ticket, author=request.user, request=request, **body.validated_data
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Attach a file to a support ticket",
        description=WHO
        + "`multipart/form-data` with one part `file`. PNG, JPEG, PDF (starting `%PDF-`, "
        "ending `%%EOF`) or plain UTF-8 text without NUL or markup, judged by the bytes; "
        "the name's extension must agree (an HTML or SVG file named `.png` is 415 "
        "`unsupported_type`). At most 5 MB (413 `file_too_large`) and 5 files per ticket "
        "(409 `too_many_attachments`). Files are never opened past these checks. Stored "
        "outside any web root. Audited `support.attachment.created` with size and SHA-256.",
        parameters=[TICKET_PARAM],
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer},
    )
    def attachments(self, request, ticket_id=None):
        ticket = selectors.ticket_for(request.user, ticket_id)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > MAX_ATTACHMENT_BYTES + MULTIPART_OVERHEAD:
            # Refused before the body is read: the limit holds without spooling it to disk.
            raise AttachmentTooLargeBody()
        if len(request.FILES.getlist("file")) > 1:
            raise exceptions.ValidationError(
                {"file": [exceptions.ErrorDetail("Send one file per request.", "one_file")]}
            )
        body = AttachmentUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > MAX_ATTACHMENT_BYTES:
            raise AttachmentTooLargeBody()
        attachment = services.attachment_add(
            ticket=ticket,
            uploader=request.user,
            name=upload.name,
            data=upload.read(),
            request=request,
        )
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)

    def perform_content_negotiation(self, request, force=False):
        # The file answers any Accept; an error on that path is the JSON envelope whatever
        # was asked, never a 406.
        return super().perform_content_negotiation(
            request, force=force or self.action == "attachment"
        )

    @extend_schema(
        summary="Download a support ticket's attachment",
        description=WHO
        + "The file as uploaded, with the type found in its bytes, always as a download "
        "(`Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`, a "
        "`sandbox` Content-Security-Policy); its SHA-256 is the ETag.",
        parameters=[TICKET_PARAM, ATTACHMENT_PARAM],
        responses={
            (200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
            for content_type in Attachment.ContentType.values
        },
    )
    def attachment(self, request, ticket_id=None, attachment_id=None):
        ticket = selectors.ticket_for(request.user, ticket_id)
        row = selectors.attachment_for(request.user, ticket, attachment_id)
        return attachment_response(row)
