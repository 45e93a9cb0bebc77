"""``/users/me/connected-apps``: the apps the caller signed in to with Roster (OpenID
Connect), and revoking one (accounts.oidc_grants). The same rule as the "Connected apps"
page; a JWT or the browser session, never an API key (like the sessions)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import oidc_grants
from config.api.permissions import NotApiKey

TAG = ["sessions"]


class ConnectedAppSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    client_name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    authorized_at = serializers.DateTimeField(help_text="When its oldest live token was issued.")
    last_used_at = serializers.DateTimeField(help_text="When its newest token was issued.")


class ConnectedAppListView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=TAG,
        summary="Apps I signed in to with Roster",
        description=(
            "The OpenID Connect clients holding an unexpired token of the caller, most "
            "recently used first, with the scopes granted. Never a token. Not available to "
            "API keys."
        ),
        responses={200: ConnectedAppSerializer(many=True)},
    )
    def get(self, request):
        grants = oidc_grants.oidc_grants_of(user=request.user)
        return Response(ConnectedAppSerializer(grants, many=True).data)


class ConnectedAppDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=TAG,
        summary="Revoke an app I signed in to with Roster",
        description=(
            "Deletes every token the app holds for the caller (access, refresh, pending "
            "codes): it stops working at once and must ask for consent again. Audited "
            "`oidc.revoked`. An app holding no live token of the caller (another user's, "
            "unknown, already revoked) is 404."
        ),
        responses={204: None},
    )
    def delete(self, request, client_id: str):
        oidc_grants.oidc_grant_revoke(
            user=request.user, client_id=client_id, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
