"""``POST /api/v1/auth/token/mfa/sms``: text a sign-in code during the API's MFA step."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.flows import mfa
from accounts.sms import services
from accounts.sms.models import masked_phone
from config.api.serializers import StrictCharField, StrictFieldsMixin


class SmsSendRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    mfa_token = StrictCharField(
        max_length=128, help_text="The `mfa_token` of `POST /auth/token`; it is not used up."
    )


class SmsSentSerializer(serializers.Serializer):
    sent_to = serializers.CharField(help_text="The number the code went to, masked.")
    expires_in = serializers.IntegerField(help_text="Seconds the code stays valid.")


class TokenMfaSmsView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    error_codes = {
        401: ["invalid_mfa_token", "invalid_credentials"],
        409: ["sms_not_enabled"],
        429: ["too_many_sms"],
        503: ["sms_unavailable"],
    }
    throttle_scope = "mfa"  # the same stricter per-IP bucket as the second factor

    @extend_schema(
        tags=["auth"],
        summary="Send a sign-in code by SMS",
        description=(
            "During the MFA step (`methods` of `POST /auth/token` lists `sms`), text a "
            "six-digit code to the account's verified phone; send it as `code` to "
            "`POST /auth/token/mfa`. The answer is 202 (the gateway accepted the message) "
            "with the masked number and the code's lifetime (5 minutes). The `mfa_token` is "
            "not used up: it still expires with its own lifetime. Each send replaces the "
            "code sent before; a code works once. Sends are limited per account and per "
            "number (429 `too_many_sms` with `Retry-After`). An expired or spent `mfa_token` "
            "is 401 `invalid_mfa_token`; an account without a phone set up is 409 "
            "`sms_not_enabled`; a gateway that does not take the message is 503 "
            "`sms_unavailable` (no code is kept)."
        ),
        request=SmsSendRequestSerializer,
        responses={202: SmsSentSerializer},
        examples=[
            OpenApiExample(
                "Sent",
                value={"sent_to": "+1*********23", "expires_in": 300},
                response_only=True,
                status_codes=["202"],
            )
        ],
        auth=[],
    )
    def post(self, request):
        serializer = SmsSendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = mfa.mfa_challenge_user(serializer.validated_data["mfa_token"])
        device = services.send_login_code(request, user=user)
        return Response(
            {
                "sent_to": masked_phone(device.phone),
                "expires_in": int(services.code_ttl().total_seconds()),
            },
            status=status.HTTP_202_ACCEPTED,
        )
