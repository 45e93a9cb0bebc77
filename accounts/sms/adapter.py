"""allauth's MFA adapter, told about the SMS factor (``MFA_ADAPTER``)."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter

from accounts.sms.models import SmsDevice

# allauth asks "is a second factor on" (its login stage, its code page) with these types, or
# with none at all; per-type questions ("is TOTP set up") are left to allauth.
_SECOND_FACTOR_TYPES = {"totp", "webauthn"}


class MFAAdapter(DefaultMFAAdapter):
    def is_mfa_enabled(self, user, types=None) -> bool:
        if super().is_mfa_enabled(user, types=types):
            return True
        if user.is_anonymous:
            return False
        if types is not None and not _SECOND_FACTOR_TYPES <= {str(t) for t in types}:
            return False
        return SmsDevice.objects.filter(user_id=user.pk).exists()
