"""The one login policy. Every door asks it: the allauth pages (through
:class:`accounts.adapters.AccountAdapter`), ``POST /api/v1/auth/token``, the MFA step and
API-key authentication.

- **Who may sign in**: an ``active`` account with the right password; with email
  verification ``mandatory``, a verified address. Unknown email, wrong password and
  inactive account look the same (``invalid_credentials``) and cost the same: a password
  hash runs in every case (a dummy one when there is no usable password).
- **Limits** are allauth's ``login_failed`` rate limits (``ACCOUNT_RATE_LIMITS``), with
  allauth's own counters and cache keys: a lockout earned through one door holds at every
  door. An attempt is counted *before* the password is checked and handed back when it
  succeeds (as allauth does), so N parallel wrong attempts cannot get more than the limit
  (the count is taken under allauth's cache lock, which is atomic on Redis).
- **MFA**: allauth's authenticators and forms. A password alone never yields tokens when
  TOTP or WebAuthn is active; codes are checked by allauth's ``AuthenticateForm`` (same
  rate limit key, same single-use recovery codes, same TOTP replay guard).
- **Signup and password reset** go through allauth's adapter, validators and forms.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from allauth.core import context as allauth_context
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.managers import normalize_email
from accounts.models import User
from audit.services import record
from config.client_ip import client_ip
from config.errors import Conflict, Forbidden, TooManyRequests, Unauthenticated

RATE_LIMIT_APP = "allauth.account"
LOGIN_FAILED = "login_failed"
INVALID_CREDENTIALS_DETAIL = "The email address or password is not correct."


def invalid_credentials() -> Unauthenticated:
    return Unauthenticated("invalid_credentials", INVALID_CREDENTIALS_DETAIL)


def _django_request(request):
    """allauth's rate limits want Django's request, DRF wraps it."""
    return getattr(request, "_request", request)


# --- limits (allauth's counters) ----------------------------------------------------------


def login_attempt_key(email: str) -> str:
    """The per-account counter key. Host-independent: allauth's default mixes in the host
    name, which would give an attacker one budget per accepted ``Host`` header."""
    return f"login:{normalize_email(email)}"


def mfa_attempt_key(user) -> str:
    # allauth.mfa.base.internal.flows.check_rate_limit uses exactly this key.
    return f"mfa-auth-user-{user.pk}"


def _rates(per: str | None = None) -> list:
    rates = allauth_ratelimit.get_rates(app=RATE_LIMIT_APP, action=LOGIN_FAILED)
    return [r for r in rates if per is None or r.per == per]


def retry_after(request, *, key: str | None) -> int:
    """Seconds until the login_failed limits let one more attempt through."""
    request = _django_request(request)
    now = time.time()
    wait = 0.0
    for rate in _rates():
        if rate.per == "key" and key is None:
            continue
        if rate.per not in ("ip", "key"):
            continue
        cache_key = allauth_ratelimit.get_cache_key(
            request, app=RATE_LIMIT_APP, action=LOGIN_FAILED, rate=rate, key=key
        )
        history = [ts for ts in (cache.get(cache_key) or []) if ts > now - rate.duration]
        if len(history) >= rate.amount:
            history.sort(reverse=True)
            wait = max(wait, history[rate.amount - 1] + rate.duration - now)
    return max(1, int(wait + 0.999))


def lockout_error(
    request, *, key: str | None, email: str | None = None, user=None
) -> TooManyRequests:
    """The 429 for a refused attempt; audits ``auth.lockout`` once per locked window."""
    wait = retry_after(request, key=key)
    # One auth.lockout event per locked window and key, however often the door is knocked.
    subject = hashlib.sha256((key or client_ip(request) or "").encode()).hexdigest()
    marker = f"auth:lockout-audited:{subject}"
    if cache.add(marker, 1, timeout=wait):
        record(
            action="auth.lockout",
            actor=None,
            target=user,
            request=request,
            metadata={"email": email, "retry_after": wait} if email else {"retry_after": wait},
        )
    count_sign_in(door=door_of(request), result="locked_out")
    return TooManyRequests(wait, code="too_many_attempts", detail="Too many failed attempts.")


def consume_login_attempt(request, *, email: str, user=None):
    """Count one attempt against the account and the IP; 429 (with wait) when over."""
    key = login_attempt_key(email)
    usage = allauth_ratelimit.consume(
        _django_request(request),
        app=RATE_LIMIT_APP,
        action=LOGIN_FAILED,
        key=key,
        limit_get=True,
    )
    if usage is None:
        raise lockout_error(request, key=key, email=normalize_email(email), user=user)
    return usage


def consume_ip_attempt(request) -> None:
    """A failed credential that names no account (a bad API key) counts against the IP."""
    django_request = _django_request(request)
    for rate in _rates(per="ip"):
        usage = allauth_ratelimit._consume_single_rate(
            django_request, app=RATE_LIMIT_APP, action=LOGIN_FAILED, rate=rate
        )
        if usage is None:
            raise lockout_error(request, key=None)


# --- sign-in counters for /metrics -------------------------------------------------------


def door_of(request) -> str:
    path = getattr(_django_request(request), "path", "") or ""
    if path.startswith("/api/"):
        return "api"
    return "admin" if path.startswith("/admin/") else "page"


def count_sign_in(*, door: str, result: str) -> None:
    """``roster_login_attempts_total{door, result}`` (result: succeeded, failed, locked_out).

    The API door counts here directly; the pages and the admin through Django's
    ``user_logged_in`` / ``user_login_failed`` signals (connected in AccountsConfig.ready).
    """
    from config.metrics import LOGIN_ATTEMPTS

    LOGIN_ATTEMPTS.labels(door=door, result=result).inc()


def _counted_door(request) -> str | None:
    # No path: a login made in code (tests' force_login, management commands), not a door.
    if request is None or not getattr(request, "path", ""):
        return None
    door = door_of(request)
    return None if door == "api" else door


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    door = _counted_door(request)
    if door:
        count_sign_in(door=door, result="succeeded")


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    door = _counted_door(request)
    if door:
        count_sign_in(door=door, result="failed")


# --- who may sign in ----------------------------------------------------------------------


def user_may_sign_in(user: User) -> bool:
    return bool(user.is_active) and user.status == User.Status.ACTIVE


def email_verification_mandatory() -> bool:
    return account_settings.EMAIL_VERIFICATION == account_settings.EmailVerificationMethod.MANDATORY


def email_verified(user: User) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def auth_flags(user: User) -> tuple[bool, bool]:
    """(mfa_enabled, email_verified) in one cheap statement, for GET /auth/status.

    ``mfa_enabled`` follows :func:`mfa_required` (TOTP or WebAuthn active);
    ``email_verified`` follows :func:`email_verified`. Raw SQL because this runs on every
    status request and the ORM's compilation of two EXISTS subqueries costs more than the
    query (see bench/scenarios/auth.py).
    """
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django.db import connection

    q = connection.ops.quote_name
    authenticators = q(Authenticator._meta.db_table)
    addresses = q(EmailAddress._meta.db_table)
    user_pk = User._meta.pk.get_db_prep_value(user.pk, connection)
    sql = (
        f"SELECT EXISTS(SELECT 1 FROM {authenticators} WHERE {q('user_id')} = %s "  # noqa: S608
        f"AND {q('type')} IN (%s, %s)), "
        f"EXISTS(SELECT 1 FROM {addresses} WHERE {q('user_id')} = %s "
        f"AND {q('email')} = %s AND {q('verified')} = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                user_pk,
                Authenticator.Type.TOTP.value,
                Authenticator.Type.WEBAUTHN.value,
                user_pk,
                user.email,
                True,
            ],
        )
        mfa, verified = cursor.fetchone()
    return bool(mfa), bool(verified)


def ensure_email_verified(user: User) -> None:
    if email_verification_mandatory() and not email_verified(user):
        raise Forbidden(
            "email_unverified",
            "Confirm your email address first; the confirmation link was sent by email.",
        )


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


_DUMMY_HASH: str | None = None


def check_credentials(*, email: str, password: str) -> tuple[User | None, str]:
    """(user, reason) after one password hash, whatever the outcome. ``user`` is None on
    failure; ``reason`` is for the audit log only, never for the caller."""
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        # Refused before any hashing; the answer looks like any other failure.
        return None, "password_too_long"
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None or not user.has_usable_password():
        check_password(password, _dummy_hash())
        return None, "unknown_user" if user is None else "no_password"
    if not user.check_password(password):
        return None, "wrong_password"
    if not user_may_sign_in(user):
        return None, "inactive"
    return user, "ok"


def _failed(request, *, email: str, reason: str, door: str, user=None) -> None:
    target = user if user is not None else None
    record(
        action="auth.login.failed",
        actor=None,
        target=target,
        request=request,
        metadata={"door": door, "reason": reason, "identifier": normalize_email(email)[:254]},
    )


def authenticate_password(request, *, email: str, password: str, door: str = "api") -> User:
    """The password step of a login. Raises 429 / 401 ``invalid_credentials`` / 403
    ``email_unverified``; returns the user otherwise (MFA is the caller's next step)."""
    email = normalize_email(email)
    usage = consume_login_attempt(request, email=email)
    user, reason = check_credentials(email=email, password=password)
    if user is None:
        known = User.objects.filter(email=email).first() if reason != "unknown_user" else None
        _failed(request, email=email, reason=reason, door=door, user=known)
        count_sign_in(door=door, result="failed")
        raise invalid_credentials()
    # A successful attempt is handed back, as allauth does on the pages: wiping the whole
    # counter instead would let an attacker interleave good logins with guesses.
    usage.rollback()
    ensure_email_verified(user)
    return user


# --- MFA ----------------------------------------------------------------------------------

MFA_API_METHODS = ("totp", "recovery_codes")


def mfa_required(user: User) -> bool:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import is_mfa_enabled

    # The pages ask for a second factor exactly when TOTP or WebAuthn is active.
    return is_mfa_enabled(user, [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])


def mfa_methods(user: User) -> list[str]:
    from allauth.mfa.models import Authenticator

    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    return [m for m in MFA_API_METHODS if m in types]


def _mfa_cache_key(mfa_token: str) -> str:
    return f"auth:mfa:{hashlib.sha256(mfa_token.encode()).hexdigest()}"


def mfa_token_ttl() -> int:
    return int(settings.AUTH_MFA_TOKEN_TTL)


MFA_MAX_CODES_PER_TOKEN = 5


def mfa_challenge_create(user: User) -> str:
    """A short-lived, single-use ticket that stands for "password checked" (kept hashed)."""
    token = secrets.token_urlsafe(32)
    deadline = time.time() + mfa_token_ttl()
    cache.set(
        _mfa_cache_key(token),
        {"user_id": str(user.pk), "deadline": deadline, "attempts": 0},
        timeout=mfa_token_ttl(),
    )
    return token


@dataclass(frozen=True)
class MfaResult:
    user: User
    method: str


def mfa_challenge_complete(request, *, mfa_token: str, code: str) -> MfaResult:
    """Check the second factor. The ticket is taken out of the cache atomically (only one
    request can hold it); a wrong code puts it back until it expires or has been tried
    ``MFA_MAX_CODES_PER_TOKEN`` times, a right code spends it for good."""
    from allauth.mfa.base.forms import AuthenticateForm
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_used

    key = _mfa_cache_key(mfa_token or "")
    ticket = cache.get(key)
    # delete() answers True for exactly one caller (Redis DEL, unlink on the file cache).
    if not ticket or not cache.delete(key) or ticket["deadline"] <= time.time():
        raise Unauthenticated("invalid_mfa_token", "The MFA token is not valid or has expired.")
    user = User.objects.filter(pk=ticket["user_id"]).first()
    if user is None or not user_may_sign_in(user):
        raise invalid_credentials()

    django_request = _django_request(request)
    with allauth_context.request_context(django_request):
        form = AuthenticateForm(data={"code": code}, user=user)
        valid = form.is_valid()
    if valid:
        authenticator = form.authenticator
        authenticator.record_usage()
        authenticator_used.send(
            sender=Authenticator,
            request=django_request,
            user=user,
            authenticator=authenticator,
            reauthenticated=False,
            passwordless=False,
        )
        return MfaResult(user=user, method=authenticator.type)

    codes = {e.code for e in form.errors.as_data().get("code", [])}
    remaining = int(ticket["deadline"] - time.time())
    limited = "too_many_login_attempts" in codes
    ticket["attempts"] += 0 if limited else 1
    if remaining > 0 and ticket["attempts"] < MFA_MAX_CODES_PER_TOKEN:
        cache.add(key, ticket, timeout=remaining)
    if limited:
        raise lockout_error(request, key=mfa_attempt_key(user), user=user)
    # allauth's form already sent authentication_failed (audited as auth.mfa.failed).
    count_sign_in(door="api", result="failed")
    raise Unauthenticated("invalid_code", "The code is not valid.")


# --- signup and password reset ------------------------------------------------------------


def _consume_or_429(request, *, action: str, key: str | None = None) -> None:
    if not allauth_ratelimit.consume(
        _django_request(request), app=RATE_LIMIT_APP, action=action, key=key
    ):
        raise TooManyRequests(60, code="too_many_attempts", detail="Too many requests.")


def _validation_errors(exc: ValidationError, attr: str) -> ValidationError:
    """Every message of ``exc`` under ``attr``: ``validate_password`` collects the failures of
    all validators (``password_too_short``, ``password_too_common``, ...) and the API's one
    mapping of Django's ValidationError (config.api.exceptions) answers each code, as the
    password change does."""
    return ValidationError({attr: exc.error_list})


def signup_hides_taken_addresses() -> bool:
    """Whether sign-up keeps quiet about an address that already has an account.

    allauth's page does when verification is ``mandatory`` (and enumeration prevention is
    on, its default): nobody gets in without the link mailed to the address, so the page can
    answer "check your email" for a new and a taken address alike and mail the owner of the
    taken one instead. With ``optional`` verification a duplicate sign-up cannot be absorbed
    that way and both doors answer ``email_taken``. Usernames are public handles: a taken
    one is always said (409 ``username_taken``)."""
    return email_verification_mandatory() and bool(account_settings.PREVENT_ENUMERATION)


def _send_account_already_exists(request, email: str) -> None:
    """The page's mail for a sign-up with a taken address ("someone tried to sign up with
    your address"), through the same allauth flow and its verification-mail rate limit."""
    from allauth.account.internal.flows.email_verification import (
        send_verification_email_to_address,
    )
    from allauth.account.models import EmailAddress

    django_request = _django_request(request)
    with allauth_context.request_context(django_request):
        send_verification_email_to_address(
            django_request, EmailAddress(user=None, email=email), signup=True
        )


def user_register(
    *,
    request,
    email: str,
    password: str,
    username: str | None = None,
    display_name: str = "",
) -> User | None:
    """The signup door of the API, on the rules of the signup page: allauth's adapter
    (open for signup, email and username cleaning, password validators), the signup rate
    limit, the member role, and the confirmation email when verification is on.

    A taken address is 409 ``email_taken``, unless :func:`signup_hides_taken_addresses`:
    then its owner is mailed, nothing is created and ``None`` is returned."""
    from allauth.account.models import EmailAddress
    from allauth.account.utils import setup_user_email

    adapter = get_adapter(_django_request(request))
    _consume_or_429(request, action="signup")
    if not adapter.is_open_for_signup(_django_request(request)):
        raise Forbidden("signup_closed", "Sign-up is closed.")
    try:
        email = adapter.clean_email(email)
    except ValidationError as exc:
        raise _validation_errors(exc, "email") from None
    if username:
        try:
            username = adapter.clean_username(username)
            User(username=username).clean_fields(
                exclude=[f.name for f in User._meta.fields if f.name != "username"]
            )
        except ValidationError as exc:
            if getattr(exc, "error_dict", None):
                exc = ValidationError(exc.error_dict["username"])
            if any(error.code == "username_taken" for error in exc.error_list):
                raise Conflict(
                    "username_taken", "This username is taken.", attr="username"
                ) from None
            raise _validation_errors(exc, "username") from None
    candidate = User(email=email, username=username or None, display_name=display_name)
    try:
        adapter.clean_password(password, user=candidate)
    except ValidationError as exc:
        raise _validation_errors(exc, "password") from None
    if User.objects.filter(email__iexact=email).exists() or (
        EmailAddress.objects.filter(email__iexact=email).exists()
    ):
        if signup_hides_taken_addresses():
            # Hash as a creation would, so the time taken does not tell the cases apart.
            make_password(password)
            _send_account_already_exists(request, email)
            return None
        raise Conflict("email_taken", "An account with this email address exists.", attr="email")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, username=username or None, display_name=display_name
            )
            setup_user_email(_django_request(request), user, [])
            record(
                action="user.created",
                actor=user,
                target=user,
                request=request,
                metadata={"door": "api"},
            )
    except IntegrityError:
        # A concurrent registration won the race for this email or username.
        if username and User.objects.filter(username__iexact=username).exists():
            raise Conflict("username_taken", "This username is taken.", attr="username") from None
        if signup_hides_taken_addresses():
            _send_account_already_exists(request, email)
            return None
        raise Conflict(
            "email_taken", "An account with this email address exists.", attr="email"
        ) from None
    if account_settings.EMAIL_VERIFICATION != account_settings.EmailVerificationMethod.NONE:
        from allauth.account.internal.flows.email_verification import (
            send_verification_email_to_address,
        )

        address = EmailAddress.objects.get_primary(user)
        if address is not None:
            with allauth_context.request_context(_django_request(request)):
                send_verification_email_to_address(_django_request(request), address, signup=True)
    return user


def password_reset_request(*, request, email: str) -> None:
    """Send allauth's reset email (or its "no account" email); never tells which."""
    from allauth.account.forms import ResetPasswordForm

    django_request = _django_request(request)
    email = normalize_email(email)
    _consume_or_429(request, action="reset_password", key=email)
    with allauth_context.request_context(django_request):
        form = ResetPasswordForm(data={"email": email})
        if form.is_valid():
            form.save(django_request)
