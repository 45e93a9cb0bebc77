"""The sign-up door of the API, on the rules of the sign-up page (allauth's adapter)."""

from __future__ import annotations

from allauth.account import app_settings as account_settings
from allauth.account import signals as account_signals
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.utils import setup_user_email
from allauth.core import context as allauth_context
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from accounts.flows.limits import consume, consume_or_429
from accounts.flows.login import email_verification_mandatory
from accounts.models import User
from accounts.services.fields import clean_text
from audit.services import record
from config.errors import Conflict, Forbidden

# Where allauth keeps a verified address for the sign-up to come (allauth's adapter,
# ``stash_verified_email``).
_STASHED_EMAIL = "account_verified_email"


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


def send_signup_mail(request, *, email: str, address: EmailAddress | None) -> None:
    """The page's mail after a sign-up: the confirmation link for ``address``, or, when the
    address belongs to someone already (``address`` None), allauth's "someone tried to sign
    up with your address". Under allauth's ``confirm_email`` limit, skipped quietly when it
    is used up (the links already sent still work). Verification is by link (settings turn
    allauth's verification by code off)."""
    django_request = getattr(request, "_request", request)
    if consume(django_request, action="confirm_email", key=email.lower()) is None:
        return
    with allauth_context.request_context(django_request):
        if address is None:
            get_adapter(django_request).send_account_already_exists_mail(email)
            return
        confirmation = address.send_confirmation(django_request, signup=True)
        account_signals.email_confirmation_sent.send(
            sender=confirmation.__class__,
            request=django_request,
            confirmation=confirmation,
            signup=True,
        )


def _username_taken(username: str) -> bool:
    """Case-insensitive, through the users' unique index on ``LOWER(username)`` (allauth's
    own check compares ``UPPER(...)``, a table scan on PostgreSQL)."""
    return (
        User.objects.alias(username_lower=Lower("username"))
        .filter(username_lower=username.lower())
        .exists()
    )


def _clean_username(adapter, username: str) -> str:
    try:
        # allauth's validators and blacklist; whether it is taken is asked below.
        username = adapter.clean_username(username, shallow=True)
        if _username_taken(username):
            raise adapter.validation_error("username_taken")
        User(username=username).clean_fields(
            exclude=[f.name for f in User._meta.fields if f.name != "username"]
        )
    except ValidationError as exc:
        if getattr(exc, "error_dict", None):
            exc = ValidationError(exc.error_dict["username"])
        if any(error.code == "username_taken" for error in exc.error_list):
            raise Conflict("username_taken", "This username is taken.", attr="username") from None
        raise _validation_errors(exc, "username") from None
    return username


def _clean(adapter, *, email: str, password: str, username: str | None, display_name: str):
    try:
        email = adapter.clean_email(email)
    except ValidationError as exc:
        raise _validation_errors(exc, "email") from None
    if username:
        username = _clean_username(adapter, username)
    candidate = User(email=email, username=username or None, display_name=display_name)
    try:
        adapter.clean_password(password, user=candidate)
    except ValidationError as exc:
        raise _validation_errors(exc, "password") from None
    return email, username


def _email_taken(email: str) -> bool:
    """Whether ``email`` (cleaned: lower case) is an account's or any account's address.

    Each question is asked through an index: the users' unique index on ``LOWER(email)``,
    and allauth's index on the address, which allauth keeps lower-cased and looks up as such
    (``EmailAddress.objects.lookup``). ``email__iexact`` compares ``UPPER(...)`` on
    PostgreSQL, which no index serves: two table scans on every sign-up."""
    return (
        User.objects.alias(email_lower=Lower("email")).filter(email_lower=email).exists()
        or EmailAddress.objects.lookup([email]).exists()
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
    django_request = getattr(request, "_request", request)
    adapter = get_adapter(django_request)
    consume_or_429(request, action="signup")
    if not adapter.is_open_for_signup(django_request):
        raise Forbidden("signup_closed", "Sign-up is closed.")
    # The same cleaning as every other door that sets a display name (no control characters).
    display_name = clean_text(display_name, field="display_name") if display_name else ""
    email, username = _clean(
        adapter, email=email, password=password, username=username, display_name=display_name
    )
    if _email_taken(email):
        if signup_hides_taken_addresses():
            # Hash as a creation would, so the time taken does not tell the cases apart.
            make_password(password)
            send_signup_mail(request, email=email, address=None)
            return None
        raise Conflict("email_taken", "An account with this email address exists.", attr="email")
    # Hashed before the transaction: on SQLite (IMMEDIATE transactions) the write lock would
    # otherwise be held through argon2, and concurrent sign-ups would hash one at a time.
    created = _create_user(
        request,
        email=email,
        password_hash=make_password(password),
        username=username,
        display_name=display_name,
    )
    if created is None:
        return None
    user, address = created
    if (
        address is not None
        and account_settings.EMAIL_VERIFICATION != account_settings.EmailVerificationMethod.NONE
    ):
        send_signup_mail(request, email=address.email, address=address)
    return user


def _setup_email(request, user: User) -> EmailAddress | None:
    """allauth's ``setup_user_email`` (the account's primary address; a verified address
    the session has stashed, e.g. from an invitation, is honoured as on the page), without
    saving the session for nothing: allauth sets its stash to None even when there was none,
    which would create a session row (and a second write transaction) and send a cookie to
    an API caller on every sign-up. When nothing was stashed the session is left as it was."""
    django_request = getattr(request, "_request", request)
    session = getattr(django_request, "session", None)
    if session is None or session.get(_STASHED_EMAIL):
        return setup_user_email(django_request, user, [])
    present, modified = _STASHED_EMAIL in session, session.modified
    address = setup_user_email(django_request, user, [])
    if not present:
        del session[_STASHED_EMAIL]
    session.modified = modified
    return address


def _as_created(user: User, *, address: EmailAddress | None) -> User:
    """``user`` with two flags of the user object (accounts.selectors.user_as_dict) as this
    sign-up left them, so the answer does not ask the database again: the address's
    verification, and no second factor (the account did not exist before this request).
    Its roles are read as for any user object."""
    user.email_verified_flag = (
        address is not None and address.verified and address.email.lower() == user.email.lower()
    )
    user.mfa_enabled_flag = False
    return user


def _create_user(
    request, *, email: str, password_hash: str, username: str | None, display_name: str
) -> tuple[User, EmailAddress | None] | None:
    """The new account, its email address and the ``user.created`` event, in one
    transaction; the account (its flags set, :func:`_as_created`) and its primary address.
    When a concurrent sign-up wins the race for the address or the username: 409, or
    ``None`` (its owner mailed) where sign-up hides taken addresses."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=None,
                password_hash=password_hash,
                username=username or None,
                display_name=display_name,
                # Checked by user_register; a concurrent creation is the IntegrityError below.
                unique_checked=True,
            )
            address = _setup_email(request, user)
            record(
                action="user.created",
                actor=user,
                target=user,
                request=request,
                metadata={"door": "api"},
            )
    except IntegrityError:
        if username and User.objects.filter(username__iexact=username).exists():
            raise Conflict("username_taken", "This username is taken.", attr="username") from None
        if signup_hides_taken_addresses():
            send_signup_mail(request, email=email, address=None)
            return None
        raise Conflict(
            "email_taken", "An account with this email address exists.", attr="email"
        ) from None
    return _as_created(user, address=address), address
