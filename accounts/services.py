"""Write side of users, profiles, typed settings and roles.

Every function opens its own transaction, enforces its rule, records the audit event in that
transaction, and is the one path the API, the pages, the admin and the tasks use.
"""

from __future__ import annotations

import functools
import unicodedata
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import hooks, settings_registry
from accounts.managers import normalize_email
from accounts.models import ROLE_NAMES, SettingDefinition, User, UserSetting, username_validator
from accounts.roles import assign_roles
from audit.personal import subject_forget
from audit.services import diff, record
from config.errors import Conflict, DomainError, Invalid, NotFound

PROFILE_FIELDS = (
    "username",
    "display_name",
    "first_name",
    "last_name",
    "phone",
    "department",
    "timezone",
    "locale",
)
TEXT_FIELDS = ("display_name", "first_name", "last_name", "department")
TEXT_MAX_LENGTH = 150
BULK_MAX_ITEMS = 500
SETTINGS_MAX_KEYS_PER_REQUEST = 100
SLOT_LIMIT_MAX = 100_000

Status = User.Status


# --- field rules (shared by the API serializers, the pages and the services) --------------


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def clean_text(value: Any, *, field: str, max_length: int = TEXT_MAX_LENGTH) -> str:
    """Names and labels: trimmed, bounded, printable (emoji and right-to-left text welcome)."""
    if not isinstance(value, str):
        raise _field_error(field, "Expected a string.", "invalid")
    value = value.strip()
    if len(value) > max_length:
        raise _field_error(
            field, f"Ensure this field has no more than {max_length} characters.", "max_length"
        )
    # Cc: control characters (NUL, newlines, escapes); Cs: lone surrogates, which no
    # database encoding accepts; Zl/Zp: line and paragraph separators.
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value):
        raise _field_error(field, "Control characters are not allowed.", "invalid_characters")
    return value


def clean_username(value: Any) -> str | None:
    if value is None:
        return None
    value = clean_text(value, field="username")
    if not value:
        return None
    try:
        username_validator(value)
    except ValidationError as exc:
        raise _field_error("username", exc.messages[0], "invalid_username") from exc
    return value


def clean_phone(value: Any) -> str:
    """An E.164 number (``+`` and the country code); stored in canonical E.164 form."""
    value = clean_text(value, field="phone", max_length=32)
    if not value:
        return ""
    if not value.startswith("+"):
        raise _field_error(
            "phone", "Use the international format, e.g. +41446681800.", "invalid_phone"
        )
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise _field_error("phone", "This is not a phone number.", "invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise _field_error("phone", "This is not a valid phone number.", "invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def clean_timezone(value: Any) -> str:
    value = clean_text(value, field="timezone", max_length=64)
    if value not in _timezones():
        raise _field_error(
            "timezone", "Use an IANA time zone name, e.g. Europe/Zurich.", "invalid_timezone"
        )
    return value


def known_locales() -> dict[str, str]:
    return {code.lower(): code for code, _name in settings.LANGUAGES}


def clean_locale(value: Any) -> str:
    value = clean_text(value, field="locale", max_length=16)
    code = known_locales().get(value.lower().replace("_", "-"))
    if code is None:
        raise _field_error(
            "locale", "Use a language code Roster knows, e.g. en, de, pt-br.", "invalid_locale"
        )
    return code


_CLEANERS = {
    "username": clean_username,
    "phone": clean_phone,
    "timezone": clean_timezone,
    "locale": clean_locale,
    **{f: functools.partial(clean_text, field=f) for f in TEXT_FIELDS},
}


def clean_profile(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every given profile field; one error per bad field, all reported at once."""
    unknown = set(data) - set(PROFILE_FIELDS)
    errors: dict[str, list[ValidationError]] = {
        f: [ValidationError("Unknown field.", code="unknown_field")] for f in sorted(unknown)
    }
    cleaned: dict[str, Any] = {}
    for field in PROFILE_FIELDS:
        if field not in data:
            continue
        try:
            cleaned[field] = _CLEANERS[field](data[field])
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _profile_of(user: User) -> dict[str, Any]:
    return {f: getattr(user, f) for f in PROFILE_FIELDS}


def _username_taken(username: str | None, *, exclude_pk=None) -> bool:
    if not username:
        return False
    qs = User.objects.filter(username__iexact=username)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


# --- creating and editing users --------------------------------------------------------


def user_create(
    *,
    email: str,
    actor,
    request=None,
    password: str | None = None,
    password_hash: str | None = None,
    roles: Iterable[str] = ("member",),
    slot_limit: int | None = None,
    **profile: Any,
) -> User:
    """Create a user (admin door; self sign-up goes through allauth / the register endpoint).

    ``password_hash`` lets bulk imports hash outside the transaction; without any password
    the user gets an unusable one and sets it through the password reset email.
    """
    cleaned = clean_profile(profile)
    email = normalize_email(email)
    roles = _clean_roles(roles)
    if password is not None:
        validate_password(password)
        password_hash = make_password(password)
    with transaction.atomic():
        if User.objects.filter(email__iexact=email).exists():
            raise Conflict("email_taken", "A user with this email address exists.", attr="email")
        if _username_taken(cleaned.get("username")):
            raise Conflict("username_taken", "This username is taken.", attr="username")
        user = User(email=email, slot_limit=slot_limit, **cleaned)
        if password_hash:
            user.password = password_hash
        else:
            user.set_unusable_password()
        try:
            user.full_clean(exclude=["password", *PROFILE_FIELDS])
            with transaction.atomic():
                user.save(force_insert=True)
        except ValidationError as exc:
            if "email" in getattr(exc, "error_dict", {}):
                raise _field_error(
                    "email", exc.error_dict["email"][0].messages[0], "invalid"
                ) from exc
            raise
        except IntegrityError as exc:
            raise Conflict(
                "email_taken", "A user with this email address exists.", attr="email"
            ) from exc
        assign_roles(user, roles)
        record(
            action="user.created",
            actor=actor,
            target=user,
            request=request,
            changes={"email": [None, email], **{f: [None, v] for f, v in cleaned.items()}},
            metadata={"roles": roles},
        )
    return user


def user_update_profile(*, user: User, data: Mapping[str, Any], actor, request=None) -> User:
    """Change the writable profile fields. Email, status and roles are never changed here."""
    cleaned = clean_profile(data)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = _profile_of(locked)
        if "username" in cleaned and _username_taken(cleaned["username"], exclude_pk=locked.pk):
            raise Conflict("username_taken", "This username is taken.", attr="username")
        for field, value in cleaned.items():
            setattr(locked, field, value)
        changes = diff(before, _profile_of(locked))
        if changes:
            try:
                with transaction.atomic():
                    locked.save(update_fields=list(changes))
            except IntegrityError as exc:
                raise Conflict(
                    "username_taken", "This username is taken.", attr="username"
                ) from exc
            record(
                action="user.updated", actor=actor, target=locked, request=request, changes=changes
            )
    for field in PROFILE_FIELDS:
        setattr(user, field, getattr(locked, field))
    return user


def user_change_password(
    *,
    user: User,
    current_password: str,
    new_password: str,
    actor,
    request=None,
    keep_web_session_key: str | None = None,
    keep_api_session_id: str | None = None,
    revoke_api_keys: str = "recent",
) -> int:
    """Check the current password, apply Django's validators, then end every other session
    and the API keys ``revoke_api_keys`` names (``recent``, ``all``, ``none``: see
    accounts.credentials).

    Returns the number of sessions revoked. Wrong current password: 400 ``invalid_password``.
    """
    from accounts.credentials import credentials_revoke_on_password_change

    if not user.has_usable_password() or not user.check_password(current_password):
        raise Invalid("invalid_password", "The current password is wrong.", attr="current_password")
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.error_list}) from exc
    new_hash = make_password(new_password)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.password = new_hash
        locked.save(update_fields=["password"])
        user.password = new_hash
        record(action="auth.password.changed", actor=actor, target=locked, request=request)
        revoked = credentials_revoke_on_password_change(
            user=locked,
            actor=actor,
            request=request,
            api_keys=revoke_api_keys,
            reason="password_changed",
            keep_web_session_key=keep_web_session_key,
            keep_api_session_id=keep_api_session_id,
        )
    return revoked["sessions"]


# --- status, roles, slot limit (admin) -------------------------------------------------


def _clean_roles(roles: Iterable[str]) -> list[str]:
    if isinstance(roles, str):
        roles = [roles]
    given = list(roles)
    unknown = [r for r in given if r not in ROLE_NAMES]
    if unknown:
        raise _field_error("roles", f"Unknown role {unknown[0]!r}.", "invalid_choice")
    return [r for r in ROLE_NAMES if r in given] or ["member"]


def _lock_admin_changes() -> None:
    """Serialise every change that can remove an active admin (the last-admin rule)."""
    Group.objects.select_for_update().filter(name="admin").first()


def _current_roles(user: User) -> list[str]:
    names = set(user.groups.values_list("name", flat=True))
    return [r for r in ROLE_NAMES if r in names]


def _ensure_an_admin_remains(user: User, *, roles_after: list[str], status_after: str) -> None:
    was_admin = user.status == Status.ACTIVE and "admin" in _current_roles(user)
    stays_admin = status_after == Status.ACTIVE and "admin" in roles_after
    if not was_admin or stays_admin:
        return
    others = (
        User.objects.filter(groups__name="admin", status=Status.ACTIVE).exclude(pk=user.pk).exists()
    )
    if not others:
        raise Conflict(
            "last_admin",
            "This is the last active admin; make someone else admin first.",
            attr="roles" if "admin" not in roles_after else "status",
        )


def _revoke_access(user: User, *, actor, request, reason: str) -> None:
    from accounts.apikeys import api_keys_revoke_all
    from accounts.sessions import revoke_user_sessions

    revoke_user_sessions(user=user, actor=actor, request=request, reason=reason)
    api_keys_revoke_all(user=user, actor=actor, request=request)


def _apply_status(locked: User, status: str, *, actor, request, reason: str = "") -> dict:
    """Write the status on a locked row; returns the audit changes (empty if unchanged)."""
    before_status = locked.status
    if status == before_status:
        return {}
    before = {
        "status": before_status,
        "deactivated_at": locked.deactivated_at,
        "erasure_due_at": locked.erasure_due_at,
    }
    now = timezone.now()
    locked.status = status
    locked.is_active = status == Status.ACTIVE
    if status == Status.DEACTIVATED:
        locked.deactivated_at = now
    elif status == Status.ACTIVE:
        # Reactivation also cancels a pending self-deletion.
        locked.deactivated_at = None
        locked.erasure_due_at = None
    locked.save(update_fields=["status", "is_active", "deactivated_at", "erasure_due_at"])
    if status != Status.ACTIVE:
        # Suspended and deactivated users stop working at once through every door.
        _revoke_access(locked, actor=actor, request=request, reason=reason or f"user_{status}")
    after = {
        "status": status,
        "deactivated_at": locked.deactivated_at,
        "erasure_due_at": locked.erasure_due_at,
    }
    return {k: [_iso(v[0]), _iso(v[1])] for k, v in diff(before, after).items()}


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def _clean_slot_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _field_error("slot_limit", "Expected an integer or null.", "invalid")
    if value < 0 or value > SLOT_LIMIT_MAX:
        raise _field_error("slot_limit", f"Must be between 0 and {SLOT_LIMIT_MAX}.", "out_of_range")
    return value


_UNSET: Any = object()


def user_admin_update(
    *,
    user: User,
    actor,
    request=None,
    status: str | None = None,
    roles: Iterable[str] | None = None,
    slot_limit: Any = _UNSET,
) -> User:
    """An admin changes status, roles and/or slot limit, all or nothing.

    Audit: ``user.deactivated`` for a deactivation, ``user.roles.changed`` for roles,
    ``user.updated`` for other status changes and the slot limit.
    """
    if status is not None and status not in Status.values:
        raise _field_error("status", f"Unknown status {status!r}.", "invalid_choice")
    wanted_roles = _clean_roles(roles) if roles is not None else None
    if slot_limit is not _UNSET:
        slot_limit = _clean_slot_limit(slot_limit)
    with transaction.atomic():
        _lock_admin_changes()
        locked = _lock_user(user.pk)
        if locked.erased_at is not None:
            raise Conflict("user_erased", "This account has been erased.")
        roles_before = _current_roles(locked)
        roles_after = wanted_roles if wanted_roles is not None else roles_before
        status_after = status or locked.status
        _ensure_an_admin_remains(locked, roles_after=roles_after, status_after=status_after)

        changes: dict[str, Any] = {}
        if status is not None:
            status_changes = _apply_status(locked, status, actor=actor, request=request)
            if status_changes and status == Status.DEACTIVATED:
                record(
                    action="user.deactivated",
                    actor=actor,
                    target=locked,
                    request=request,
                    changes=status_changes,
                )
            else:
                changes.update(status_changes)
        if slot_limit is not _UNSET and slot_limit != locked.slot_limit:
            changes["slot_limit"] = [locked.slot_limit, slot_limit]
            locked.slot_limit = slot_limit
            locked.save(update_fields=["slot_limit"])
        if changes:
            record(
                action="user.updated", actor=actor, target=locked, request=request, changes=changes
            )
        if roles_after != roles_before:
            assign_roles(locked, roles_after)
            record(
                action="user.roles.changed",
                actor=actor,
                target=locked,
                request=request,
                changes={"roles": [roles_before, roles_after]},
            )
    user.refresh_from_db()
    return user


def user_set_status(*, user: User, status: str, actor, request=None) -> User:
    return user_admin_update(user=user, status=status, actor=actor, request=request)


def user_set_roles(*, user: User, roles: Iterable[str], actor, request=None) -> User:
    return user_admin_update(user=user, roles=roles, actor=actor, request=request)


def user_deactivate(*, user: User, actor, request=None) -> User:
    """Soft delete by an admin: the row, usage and audit stay; every door closes at once."""
    return user_admin_update(user=user, status=Status.DEACTIVATED, actor=actor, request=request)


def _lock_user(pk) -> User:
    try:
        return User.objects.select_for_update().get(pk=pk)
    except User.DoesNotExist as exc:
        raise NotFound(detail="No such user.") from exc


# --- deleting one's own account ----------------------------------------------------------


def erasure_grace() -> timedelta:
    return timedelta(days=settings.ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"])


def user_request_erasure(*, user: User, actor, request=None) -> User:
    """Delete an account: deactivated now, personal data erased after the grace period.

    Until then an admin may reactivate the account, which cancels the erasure.
    """
    with transaction.atomic():
        _lock_admin_changes()
        locked = _lock_user(user.pk)
        if locked.erased_at is not None:
            raise Conflict("user_erased", "This account has been erased.")
        if locked.erasure_due_at is not None:
            user.refresh_from_db()
            return user  # already scheduled: asking twice changes nothing
        _ensure_an_admin_remains(
            locked, roles_after=_current_roles(locked), status_after=Status.DEACTIVATED
        )
        due = timezone.now() + erasure_grace()
        before_status = locked.status
        locked.erasure_due_at = due
        locked.save(update_fields=["erasure_due_at"])
        changes = _apply_status(
            locked, Status.DEACTIVATED, actor=actor, request=request, reason="account_deleted"
        )
        if before_status == Status.DEACTIVATED:
            # Already deactivated by an admin: sessions are gone, keys revoked; nothing to
            # revoke, only the erasure to schedule.
            changes = {"erasure_due_at": [None, _iso(due)]}
        else:
            changes["erasure_due_at"] = [None, _iso(due)]
        record(
            action="user.deactivated",
            actor=actor,
            target=locked,
            request=request,
            changes=changes,
            metadata={"reason": "deletion_requested", "erasure_due_at": _iso(due)},
        )
    user.refresh_from_db()
    return user


def erased_email(user_id) -> str:
    """The pseudonymous address an erased account keeps (unique, never deliverable)."""
    return f"erased-{user_id.hex}@erased.invalid"


def user_erase(*, user_id, now: datetime | None = None) -> bool:
    """Erase the personal data of an account whose grace period has passed.

    The row stays under its random id (the pseudonym), so usage and audit history keep
    pointing at it; everything that identifies the person goes. Safe to run twice: returns
    False when there is nothing (more) to erase.
    """
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.socialaccount.models import SocialAccount
    from allauth.usersessions.models import UserSession

    from accounts.models import ApiKey, ApiSession

    now = now or timezone.now()
    with transaction.atomic():
        try:
            locked = User.objects.select_for_update().get(pk=user_id)
        except User.DoesNotExist:
            return False
        due = locked.erasure_due_at
        if (
            locked.erased_at is not None
            or due is None
            or due > now
            or locked.status != Status.DEACTIVATED
        ):
            return False
        _revoke_access(locked, actor=None, request=None, reason="account_erased")
        # What the other apps hold of the account (slots are released, which drops their
        # stored credentials): registered with accounts.hooks by those apps.
        hooks.run_erasure_steps(user=locked)
        for web_session in UserSession.objects.filter(user=locked):
            web_session.end()
        erased = {
            "settings": UserSetting.objects.filter(user=locked).delete()[0],
            "api_sessions": ApiSession.objects.filter(user=locked).delete()[0],
            "access_keys": ApiKey.objects.filter(user=locked).delete()[0],
            "email_addresses": EmailAddress.objects.filter(user=locked).delete()[0],
            "social_accounts": SocialAccount.objects.filter(user=locked).delete()[0],
            "authenticators": Authenticator.objects.filter(user=locked).delete()[0],
        }
        locked.email = erased_email(locked.pk)
        locked.username = None
        for field in TEXT_FIELDS:
            setattr(locked, field, "")
        locked.phone = ""
        locked.timezone = "UTC"
        locked.locale = "en"
        locked.last_login = None
        locked.set_unusable_password()
        locked.erased_at = now
        locked.save()
        # Crypto-shredding: the audit log keeps its (sealed) events, but the personal values
        # in them were encrypted under this key, and nothing can read them once it is gone.
        erased["audit_keys"] = subject_forget(locked.pk)
        record(
            action="user.deleted",
            actor=None,
            target=locked,
            changes={"erased_at": [None, _iso(now)]},
            metadata={"pseudonym": str(locked.pk), "removed": erased},
        )
    return True


def users_due_for_erasure(*, now: datetime | None = None, limit: int = 1000) -> list:
    now = now or timezone.now()
    return list(
        User.objects.filter(
            erasure_due_at__lte=now, erased_at__isnull=True, status=Status.DEACTIVATED
        )
        .order_by("erasure_due_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- bulk administration ---------------------------------------------------------------

BULK_ACTIONS = ("create", "update", "deactivate", "delete")


class BulkConflict(Exception):
    """A bulk request whose every failing item conflicts with the current state (409):
    an address or username taken, the last admin, an erased account."""

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        self.errors = errors  # {"users.<index>.<field>": [(code, detail), ...]}
        super().__init__("Some users conflict with the current state.")


def _errors_of(exc: Exception) -> list[tuple[str | None, str, str]]:
    """(attr, code, detail) triples from a domain or validation error."""
    if isinstance(exc, DomainError):
        return [(exc.attr, exc.code, exc.detail)]
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [
                (field, e.code or "invalid", m)
                for field, errs in exc.error_dict.items()
                for e in errs
                for m in e.messages
            ]
        return [(None, e.code or "invalid", m) for e in exc.error_list for m in e.messages]
    raise exc


def users_bulk(*, action: str, items: list[dict], actor, request=None) -> list[dict]:
    """Apply one action to up to 500 users, all or nothing.

    Items: ``create`` → ``{email, password?, roles?, slot_limit?, <profile fields>}``;
    ``update`` → ``{id, status?, roles?, slot_limit?}``; ``deactivate`` / ``delete`` →
    ``{id}`` (``delete`` deactivates now and erases after the grace period, as when users
    delete their own account). Each change is audited as if made one by one. Any failing
    item rolls everything back and raises a ValidationError whose keys are
    ``users.<index>.<field>`` (:class:`BulkConflict` when every failure is a conflict).
    """
    if action not in BULK_ACTIONS:
        raise _field_error("action", f"Unknown action {action!r}.", "invalid_choice")
    if not items:
        raise _field_error("users", "Give at least one user.", "empty")
    if len(items) > BULK_MAX_ITEMS:
        raise _field_error("users", f"At most {BULK_MAX_ITEMS} users per request.", "max_length")

    errors: dict[str, list[ValidationError]] = {}
    failures: list[Exception] = []

    def add_errors(index: int, exc: Exception) -> None:
        failures.append(exc)
        for attr, code, detail in _errors_of(exc):
            key = f"users.{index}.{attr}" if attr else f"users.{index}"
            errors.setdefault(key, []).append(ValidationError(detail, code=code))

    # Password hashing is slow by design: do it before the transaction holds any lock.
    prepared: list[dict] = []
    for index, item in enumerate(items):
        item = dict(item)
        if action == "create" and item.get("password") is not None:
            try:
                validate_password(item["password"])
                item["password_hash"] = make_password(item.pop("password"))
            except ValidationError as exc:
                add_errors(index, ValidationError({"password": exc.error_list}))
        prepared.append(item)
    if errors:
        raise ValidationError(errors)

    results: list[dict] = []

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            for index, item in enumerate(prepared):
                try:
                    with transaction.atomic():
                        results.append(
                            {
                                "index": index,
                                **_bulk_one(action, item, actor=actor, request=request),
                            }
                        )
                except (DomainError, ValidationError) as exc:
                    add_errors(index, exc)
            if errors:
                raise _Rollback
    except _Rollback:
        from accounts.sessions import resync_revocation_cache

        # Nothing changed, so nobody may stay signed out by an item that rolled back.
        touched = [r["id"] for r in results] + [item.get("id") for item in prepared]
        resync_revocation_cache(user_ids=[u for u in touched if _is_uuid(u)])
        if all(isinstance(exc, Conflict) for exc in failures):
            raise BulkConflict(
                {key: [(e.code, e.messages[0]) for e in errs] for key, errs in errors.items()}
            ) from None
        raise ValidationError(errors) from None
    return results


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _bulk_target(item: dict) -> User:
    try:
        return User.objects.get(pk=item.get("id"))
    except (User.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound(detail="No such user.", attr="id") from exc


def _bulk_one(action: str, item: dict, *, actor, request) -> dict:
    if action == "create":
        fields = dict(item)
        user = user_create(
            email=fields.pop("email", ""),
            actor=actor,
            request=request,
            password_hash=fields.pop("password_hash", None),
            roles=fields.pop("roles", None) or ("member",),
            slot_limit=fields.pop("slot_limit", None),
            **fields,
        )
        return {"id": str(user.pk), "result": "created"}
    user = _bulk_target(item)
    if action == "update":
        changes = {k: item[k] for k in ("status", "roles", "slot_limit") if k in item}
        user_admin_update(user=user, actor=actor, request=request, **changes)
        return {"id": str(user.pk), "result": "updated"}
    if action == "deactivate":
        user_deactivate(user=user, actor=actor, request=request)
        return {"id": str(user.pk), "result": "deactivated"}
    user_request_erasure(user=user, actor=actor, request=request)
    return {"id": str(user.pk), "result": "deletion_scheduled"}


# --- typed settings --------------------------------------------------------------------


def settings_update(
    *, user: User, values: Mapping[str, Any], actor, request=None, category: str | None = None
) -> None:
    """Set several settings at once, all or nothing.

    Each key must name a definition (in ``category`` when given), each value must obey it;
    ``null`` resets a setting to its default. Every error names its key (``attr``) and rule
    (``code``). Audit: one ``user.settings.updated`` with ``{key: [old, new]}``.
    """
    if not isinstance(values, Mapping):
        raise Invalid("invalid", "Expected an object of {key: value}.")
    if len(values) > SETTINGS_MAX_KEYS_PER_REQUEST:
        raise Invalid(
            "too_many_keys", f"At most {SETTINGS_MAX_KEYS_PER_REQUEST} settings per request."
        )
    definitions = SettingDefinition.objects.filter(key__in=[str(k) for k in values])
    if category is not None:
        definitions = definitions.filter(category=category)
    by_key = {d.key: d for d in definitions}

    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            where = f" in {category}" if category else ""
            errors[key] = [ValidationError(f"No setting {key!r}{where}.", code="unknown_setting")]
            continue
        if value is None:
            cleaned[key] = None
            continue
        try:
            cleaned[key] = settings_registry.validate_value(definition, value)
        except settings_registry.SettingValueError as exc:
            errors[key] = [ValidationError(exc.detail, code=exc.code)]
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        return

    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one writer per user
        stored = {
            s.definition_id: s
            for s in UserSetting.objects.filter(user=user, definition__in=by_key.values())
        }
        changes: dict[str, list] = {}
        for key, value in cleaned.items():
            definition = by_key[key]
            row = stored.get(definition.pk)
            before = settings_registry.effective_value(
                definition, row.value if row else None, has_stored=row is not None
            )
            if value is None:
                if row is not None:
                    row.delete()
                after = definition.default
            else:
                if row is None:
                    UserSetting.objects.create(user=user, definition=definition, value=value)
                elif row.value != value:
                    row.value = value
                    row.save(update_fields=["value", "updated_at"])
                after = value
            if before != after:
                changes[key] = [before, after]
        if changes:
            record(
                action="user.settings.updated",
                actor=actor,
                target=user,
                request=request,
                changes=changes,
            )


# --- setting definitions (admin) -------------------------------------------------------


def settings_clear_invalid(*, definition: SettingDefinition, actor, request=None) -> int:
    """Delete the stored values a changed definition no longer allows (they already read as
    the default; this makes it final). Returns how many were removed."""
    with transaction.atomic():
        rows = (
            UserSetting.objects.select_for_update()
            .filter(definition=definition)
            .values_list("pk", "user_id", "value")
        )
        invalid = [
            (pk, user_id)
            for pk, user_id, value in rows
            if not settings_registry.is_valid(definition, value)
        ]
        if not invalid:
            return 0
        pks = [pk for pk, _ in invalid]
        for start in range(0, len(pks), 500):
            UserSetting.objects.filter(pk__in=pks[start : start + 500]).delete()
        record(
            action="setting_definition.invalid_values_cleared",
            actor=actor,
            target=definition,
            request=request,
            metadata={
                "key": definition.key,
                "removed": len(invalid),
                "user_ids": [str(user_id) for _, user_id in invalid[:100]],
            },
        )
    return len(invalid)
