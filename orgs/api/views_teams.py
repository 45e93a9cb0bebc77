"""Teams and their members."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.response import Response

from orgs import selectors
from orgs.api.base import ORG_PARAM, TEAM_PARAM, USER_PARAM, OrgViewSet
from orgs.api.serializers.teams import (
    TeamCreateSerializer,
    TeamMemberAddSerializer,
    TeamMemberSerializer,
    TeamMemberUpdateSerializer,
    TeamSerializer,
    TeamUpdateSerializer,
)
from orgs.models import Membership, Team, TeamMembership
from orgs.services import teams as team_services


def _team_response(team: Team, code: int = status.HTTP_200_OK) -> Response:
    row = selectors.teams_of(team.organization).get(pk=team.pk)
    return Response(TeamSerializer(row).data, status=code)


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="An organization's teams",
        description="Its active members (and platform admins).",
        responses={200: TeamSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Set up a team",
        description="Needs `teams:create`; the creator leads the team. `initial_members` "
        "are emails or ids of organization members (400 naming the index otherwise).",
        request=TeamCreateSerializer,
        responses={201: TeamSerializer},
    ),
)
class OrgTeamViewSet(OrgViewSet):
    error_codes = {
        "create": {
            400: ["not_a_member", "invalid_email", "invalid_characters"],
            409: ["name_taken", "organization_inactive"],
        },
    }
    serializer_class = TeamSerializer
    queryset = Team.objects.none()

    def list(self, request, org_id=None):
        org = self.organization()
        self.require_member(org)
        page = self.paginate_queryset(selectors.teams_of(org).order_by("name", "id"))
        return self.get_paginated_response(TeamSerializer(page, many=True).data)

    def create(self, request, org_id=None):
        body = TeamCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = team_services.team_create(
            organization=self.organization(),
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return _team_response(team, status.HTTP_201_CREATED)


@extend_schema(parameters=[TEAM_PARAM])
@extend_schema_view(
    retrieve=extend_schema(summary="One team", description="The organization's members."),
    partial_update=extend_schema(
        summary="Change a team",
        description="Needs `teams:manage` on this team (organization admins; managers on "
        "the teams they lead).",
        request=TeamUpdateSerializer,
        responses={200: TeamSerializer},
    ),
    destroy=extend_schema(summary="Delete a team", description="Needs `teams:manage`."),
)
class TeamViewSet(OrgViewSet):
    error_codes = {
        "partial_update": {
            400: ["invalid_characters"],
            409: ["name_taken", "organization_inactive"],
        },
        "destroy": {409: ["organization_inactive"]},
    }
    serializer_class = TeamSerializer
    queryset = Team.objects.none()

    def retrieve(self, request, team_id=None):
        team = self.team()
        self.require_member(team.organization)
        return _team_response(team)

    def partial_update(self, request, team_id=None):
        team = self.team()
        body = TeamUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = team_services.team_update(
            team=team, actor=request.user, request=request, **body.validated_data
        )
        return _team_response(team)

    def destroy(self, request, team_id=None):
        team_services.team_delete(team=self.team(), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[TEAM_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="A team's members",
        description="The organization's members.",
        responses={200: TeamMemberSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Add a team member",
        description="Needs `teams:manage` on the team. Only organization members can join "
        "(400 `not_a_member`). Team permissions add to the member's organization "
        "permissions inside this team only; nobody grants what they do not hold.",
        request=TeamMemberAddSerializer,
        responses={201: TeamMemberSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a team member",
        description="Needs `teams:manage`. The last lead cannot step down while others "
        "remain (409 `last_lead`).",
        parameters=[USER_PARAM],
        request=TeamMemberUpdateSerializer,
        responses={200: TeamMemberSerializer},
    ),
    destroy=extend_schema(
        summary="Remove a team member",
        description="Needs `teams:manage`, or the member themself. 409 `last_lead` for the "
        "last lead while others remain.",
        parameters=[USER_PARAM],
    ),
)
class TeamMemberViewSet(OrgViewSet):
    error_codes = {
        "create": {
            400: [
                "not_a_member",
                "unknown_permission",
                "not_a_team_permission",
                "invalid_email",
                "invalid_characters",
            ],
            403: ["cannot_grant"],
            409: ["already_member", "organization_inactive"],
        },
        "partial_update": {
            400: ["unknown_permission", "not_a_team_permission", "invalid_characters"],
            403: ["cannot_grant"],
            409: ["last_lead", "organization_inactive"],
        },
        "destroy": {409: ["last_lead"]},
    }
    serializer_class = TeamMemberSerializer
    queryset = TeamMembership.objects.none()

    def _row(self, team: Team, user_id) -> TeamMembership:
        row = selectors.team_members(team).filter(user_id=user_id).first()
        if row is None:
            raise exceptions.NotFound()
        return row

    def list(self, request, team_id=None):
        team = self.team()
        self.require_member(team.organization)
        page = self.paginate_queryset(selectors.team_members(team))
        return self.get_paginated_response(TeamMemberSerializer(page, many=True).data)

    def create(self, request, team_id=None):
        team = self.team()
        body = TeamMemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        user = None
        if "user" in data:
            member = (
                Membership.objects.filter(
                    organization_id=team.organization_id, user_id=data.pop("user")
                )
                .select_related("user")
                .first()
            )
            if member is None:
                raise exceptions.ValidationError(
                    {
                        "user": [
                            exceptions.ErrorDetail(
                                "Not a member of the organization.", code="not_a_member"
                            )
                        ]
                    }
                )
            user = member.user
        row = team_services.team_member_add(
            team=team, actor=request.user, user=user, request=request, **data
        )
        return Response(
            TeamMemberSerializer(self._row(team, row.user_id)).data,
            status=status.HTTP_201_CREATED,
        )

    def partial_update(self, request, team_id=None, user_id=None):
        team = self.team()
        self._row(team, user_id)
        body = TeamMemberUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team_services.team_member_update(
            team=team,
            user_id=user_id,
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(TeamMemberSerializer(self._row(team, user_id)).data)

    def destroy(self, request, team_id=None, user_id=None):
        team = self.team()
        self._row(team, user_id)
        team_services.team_member_remove(
            team=team, user_id=user_id, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
