"""Authenticators for tests, made through allauth's public surface only: its ``Authenticator``
model, the MFA adapter (``encrypt``, the override point for what is stored) and
``Authenticator.wrap()`` to read recovery codes back. TOTP codes come from pyotp (RFC 6238,
the 6 digits and 30 seconds allauth uses). No allauth ``internal`` module is imported: the
rows hold allauth's stored shape (``{"secret"}`` for TOTP, ``{"seed", "used_mask"}`` for
recovery codes), as the admin tests already write TOTP rows.
"""

from __future__ import annotations

import secrets
import time

import pyotp
from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator


class TOTP(pyotp.TOTP):
    """pyotp's TOTP whose ``now()`` never hands out a code about to expire: allauth accepts
    only the current 30-second window, so a code read in its last seconds could reach the
    server in the next window on a loaded machine and fail for no fault of the code under
    test. Within ``MARGIN`` seconds of the window's end it waits for the next window."""

    MARGIN = 3.0

    def now(self) -> str:
        left = self.interval - time.time() % self.interval
        if left < self.MARGIN:
            time.sleep(left + 0.05)
        return super().now()


def totp_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32, as allauth makes them."""
    return pyotp.random_base32()


def totp_activate(user, secret: str | None = None) -> pyotp.TOTP:
    """Turn TOTP on for ``user`` (with ``secret``, or a fresh one); what makes its codes."""
    secret = secret or totp_secret()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": get_adapter().encrypt(secret)}
    )
    return TOTP(secret)


def _recovery_authenticator(user) -> Authenticator:
    return Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)


def recovery_codes_activate(user) -> list[str]:
    """Give ``user`` recovery codes (those already held are kept); the codes."""
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists():
        Authenticator.objects.create(
            user=user,
            type=Authenticator.Type.RECOVERY_CODES,
            data={"seed": get_adapter().encrypt(secrets.token_hex(40)), "used_mask": 0},
        )
    return recovery_codes(user)


def recovery_codes(user) -> list[str]:
    """Every recovery code of ``user``, used or not."""
    return _recovery_authenticator(user).wrap().generate_codes()


def unused_recovery_codes(user) -> list[str]:
    return _recovery_authenticator(user).wrap().get_unused_codes()
