"""Setting up, using and removing the SMS second factor; every door calls these.

Codes: six digits, single-use, ``SMS_CODE_TTL`` seconds (5 minutes), stored as an HMAC of
the code (never the code itself), at most ``MAX_CODE_ATTEMPTS`` wrong tries each. Sending a
new code of a purpose replaces the outstanding one. Sends are limited per account and per
number (``ACCOUNT_RATE_LIMITS["sms_send"]``, counted by accounts.flows.limits) and counted
for /metrics (``roster_sms_sent_total{purpose, result}``); the code is neither logged nor
audited. The message is sent inside the transaction that stores its code: a gateway that
fails leaves nothing behind.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta

import phonenumbers
import prometheus_client
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.credentials import credentials_revoke_on_mfa_change
from accounts.flows import limits
from accounts.models import User
from accounts.sms.backends import get_backend
from accounts.sms.models import SmsCode, SmsDevice, masked_phone
from audit.services import record
from config.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests

SEND_ACTION = "sms_send"
CODE_DIGITS = 6
MAX_CODE_ATTEMPTS = 5

SMS_SENT = prometheus_client.Counter(
    "roster_sms_sent_total", "Text messages handed to the SMS gateway", ["purpose", "result"]
)


def code_ttl() -> timedelta:
    return timedelta(seconds=int(settings.SMS_CODE_TTL))


def normalize_phone(text: str) -> str:
    """The number in E.164 (``+4915123456789``); 400 ``invalid_phone`` when it is not one.
    A number must carry its country code (``+``): there is no default region to guess."""
    text = (text or "").strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise Invalid(
            "invalid_phone",
            "Enter a valid phone number in international format, e.g. +14155550123.",
            attr="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def device_of(user: User) -> SmsDevice | None:
    return SmsDevice.objects.filter(user_id=user.pk).first()


def _code_hash(code_id: uuid.UUID, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"roster.sms:{code_id}:{code}".encode(), "sha256").hexdigest()


def _send_limited(request, *, user: User, phone: str) -> None:
    """One send against the account's and the number's budgets; 429 when either is used up
    (an attacker cannot flood one phone from many accounts, nor one account to many phones)."""
    for key in (f"sms:user:{user.pk}", f"sms:number:{phone}"):
        if limits.consume(request, action=SEND_ACTION, key=key, per="key") is None:
            wait = limits.retry_after(request, key=key, action=SEND_ACTION)
            raise TooManyRequests(
                wait, code="too_many_sms", detail="Too many codes were sent. Try again later."
            )


def _send_code(request, *, user: User, phone: str, purpose: str) -> SmsCode:
    _send_limited(request, user=user, phone=phone)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row_id = uuid.uuid4()
    now = timezone.now()
    try:
        with transaction.atomic():
            SmsCode.objects.filter(user_id=user.pk, purpose=purpose, used_at__isnull=True).delete()
            row = SmsCode.objects.create(
                id=row_id,
                user=user,
                phone=phone,
                purpose=purpose,
                code_hash=_code_hash(row_id, code),
                created_at=now,
                expires_at=now + code_ttl(),
            )
            minutes = max(1, int(code_ttl().total_seconds()) // 60)
            body = (
                f"{code} is your {settings.SITE_NAME} verification code. "
                f"It expires in {minutes} minutes. Do not share it."
            )
            get_backend().send(to=phone, body=body)
    except Exception:
        SMS_SENT.labels(purpose=purpose, result="failed").inc()
        raise
    SMS_SENT.labels(purpose=purpose, result="sent").inc()
    return row


def _take_code(*, user: User, purpose: str, code: str, phone: str | None = None) -> SmsCode | None:
    """Spend the outstanding code of ``purpose`` if ``code`` is it (once, however many
    requests race); a wrong code uses up one of its tries."""
    code = (code or "").strip().replace(" ", "")
    now = timezone.now()
    rows = SmsCode.objects.filter(
        user_id=user.pk, purpose=purpose, used_at__isnull=True, expires_at__gt=now
    )
    if phone is not None:
        rows = rows.filter(phone=phone)
    row = rows.order_by("-created_at").first()
    if row is None:
        return None
    if (
        len(code) == CODE_DIGITS
        and code.isdigit()
        and hmac.compare_digest(row.code_hash, _code_hash(row.id, code))
    ):
        spent = SmsCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now)
        return row if spent == 1 else None
    # Counted in the database (parallel wrong tries all count); the last one spends it.
    SmsCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
    SmsCode.objects.filter(pk=row.pk, used_at__isnull=True, attempts__gte=MAX_CODE_ATTEMPTS).update(
        used_at=now
    )
    return None


# --- setup ----------------------------------------------------------------------------


def _email_verified_or_refuse(user: User) -> None:
    """allauth's rule for adding any authenticator: not while an address of the account is
    unverified (whoever registered someone else's address could otherwise lock its owner
    out for good). ``MFA_ALLOW_UNVERIFIED_EMAIL`` lifts it, as for TOTP."""
    if mfa_settings.ALLOW_UNVERIFIED_EMAIL:
        return
    if EmailAddress.objects.filter(user_id=user.pk, verified=False).exists():
        raise Forbidden(
            "email_unverified", str(get_mfa_adapter().error_messages["unverified_email"])
        )


def setup_start(request, *, user: User, phone: str) -> str:
    """Send a code to a new number (E.164 returned); it becomes the account's SMS factor once
    the code comes back (:func:`setup_confirm`)."""
    _email_verified_or_refuse(user)
    number = normalize_phone(phone)
    _send_code(request, user=user, phone=number, purpose=SmsCode.Purpose.SETUP)
    return number


def pending_phone(user: User) -> str | None:
    """The number a setup code is waiting for, if one is."""
    row = (
        SmsCode.objects.filter(
            user_id=user.pk,
            purpose=SmsCode.Purpose.SETUP,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .first()
    )
    return row.phone if row else None


def _own_session_key(request, user: User) -> str | None:
    session = getattr(request, "session", None)
    if session is None or getattr(request, "user", None) != user:
        return None
    return session.session_key


def setup_confirm(request, *, user: User, code: str) -> SmsDevice:
    """The code sent by :func:`setup_start`: the number is the account's SMS factor now
    (replacing an earlier one). Audited ``auth.mfa.sms.added``; other sessions end."""
    _email_verified_or_refuse(user)
    # Outside the transaction below: a wrong try counts even though the request fails.
    row = _take_code(user=user, purpose=SmsCode.Purpose.SETUP, code=code)
    if row is None:
        raise Invalid("invalid_code", "The code is not valid or has expired.", attr="code")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        previous = device_of(user)
        if previous is not None:
            previous.delete()
        device = SmsDevice.objects.create(user=user, phone=row.phone)
        record(
            action="auth.mfa.sms.added",
            actor=user,
            target=user,
            request=request,
            metadata={
                "phone": masked_phone(device.phone),
                "replaced": masked_phone(previous.phone) if previous else None,
            },
        )
        credentials_revoke_on_mfa_change(
            user=user,
            actor=user,
            request=request,
            reason="mfa_changed",
            keep_web_session_key=_own_session_key(request, user),
        )
    return device


def remove(request, *, user: User) -> None:
    """Remove the account's SMS factor: audited ``auth.mfa.sms.removed``, other sessions end."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device = device_of(user)
        if device is None:
            raise NotFound("sms_not_enabled", "No phone is set up for SMS codes.")
        device.delete()
        SmsCode.objects.filter(user_id=user.pk).delete()
        record(
            action="auth.mfa.sms.removed",
            actor=user,
            target=user,
            request=request,
            metadata={"phone": masked_phone(device.phone)},
        )
        credentials_revoke_on_mfa_change(
            user=user,
            actor=user,
            request=request,
            reason="mfa_changed",
            keep_web_session_key=_own_session_key(request, user),
        )


# --- sign-in --------------------------------------------------------------------------


def send_login_code(request, *, user: User) -> SmsDevice:
    """Text a sign-in code to the account's verified number (409 ``sms_not_enabled`` without
    one)."""
    device = device_of(user)
    if device is None:
        raise Conflict("sms_not_enabled", "This account has no phone set up for SMS codes.")
    _send_code(request, user=user, phone=device.phone, purpose=SmsCode.Purpose.LOGIN)
    return device


def login_code_take(*, user: User, code: str) -> SmsDevice | None:
    """The device whose sign-in code ``code`` is (spent now), or None."""
    device = device_of(user)
    if device is None:
        return None
    if _take_code(user=user, purpose=SmsCode.Purpose.LOGIN, code=code, phone=device.phone) is None:
        return None
    SmsDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())
    return device
