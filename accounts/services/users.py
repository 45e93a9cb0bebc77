"""Creating and editing users: profile, password, and (admins) status, roles and slot
limit. The last-admin rule and "a suspended user stops working at once" live here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import password_changed, validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.apikeys import api_keys_revoke_all
from accounts.credentials import credentials_revoke_on_password_change
from accounts.managers import normalize_email
from accounts.models import PROFILE_FIELDS, ROLE_NAMES, User
from accounts.roles import assign_roles
from accounts.services.fields import clean_profile, field_error
from accounts.sessions import revoke_user_sessions
from audit.services import diff, record
from config.errors import Conflict, Invalid, NotFound

SLOT_LIMIT_MAX = 100_000

Status = User.Status


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
                raise field_error(
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
        # What save() after set_password() does: the validators' hook (password history,
        # and when the password was set, which password expiry counts from).
        password_changed(new_password, locked)
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
        raise field_error("roles", f"Unknown role {unknown[0]!r}.", "invalid_choice")
    return [r for r in ROLE_NAMES if r in given] or ["member"]


def lock_admin_changes() -> None:
    """Serialise every change that can remove an active admin (the last-admin rule)."""
    Group.objects.select_for_update().filter(name="admin").first()


def current_roles(user: User) -> list[str]:
    names = set(user.groups.values_list("name", flat=True))
    return [r for r in ROLE_NAMES if r in names]


def ensure_an_admin_remains(user: User, *, roles_after: list[str], status_after: str) -> None:
    was_admin = user.status == Status.ACTIVE and "admin" in current_roles(user)
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


def revoke_access(user: User, *, actor, request, reason: str) -> None:
    revoke_user_sessions(user=user, actor=actor, request=request, reason=reason)
    api_keys_revoke_all(user=user, actor=actor, request=request)


def apply_status(locked: User, status: str, *, actor, request, reason: str = "") -> dict:
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
        revoke_access(locked, actor=actor, request=request, reason=reason or f"user_{status}")
    after = {
        "status": status,
        "deactivated_at": locked.deactivated_at,
        "erasure_due_at": locked.erasure_due_at,
    }
    return {k: [iso_text(v[0]), iso_text(v[1])] for k, v in diff(before, after).items()}


def iso_text(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def _clean_slot_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error("slot_limit", "Expected an integer or null.", "invalid")
    if value < 0 or value > SLOT_LIMIT_MAX:
        raise field_error("slot_limit", f"Must be between 0 and {SLOT_LIMIT_MAX}.", "out_of_range")
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
        raise field_error("status", f"Unknown status {status!r}.", "invalid_choice")
    wanted_roles = _clean_roles(roles) if roles is not None else None
    if slot_limit is not _UNSET:
        slot_limit = _clean_slot_limit(slot_limit)
    with transaction.atomic():
        lock_admin_changes()
        locked = lock_user(user.pk)
        if locked.erased_at is not None:
            raise Conflict("user_erased", "This account has been erased.")
        roles_before = current_roles(locked)
        roles_after = wanted_roles if wanted_roles is not None else roles_before
        status_after = status or locked.status
        ensure_an_admin_remains(locked, roles_after=roles_after, status_after=status_after)

        changes: dict[str, Any] = {}
        if status is not None:
            changes.update(_admin_status_change(locked, status, actor=actor, request=request))
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


def _admin_status_change(locked: User, status: str, *, actor, request) -> dict[str, Any]:
    """Apply ``status`` to the locked row. A deactivation is recorded on its own
    (``user.deactivated``); other changes are returned for the ``user.updated`` event."""
    status_changes = apply_status(locked, status, actor=actor, request=request)
    if status_changes and status == Status.DEACTIVATED:
        record(
            action="user.deactivated",
            actor=actor,
            target=locked,
            request=request,
            changes=status_changes,
        )
        return {}
    return status_changes


def user_set_status(*, user: User, status: str, actor, request=None) -> User:
    return user_admin_update(user=user, status=status, actor=actor, request=request)


def user_set_roles(*, user: User, roles: Iterable[str], actor, request=None) -> User:
    return user_admin_update(user=user, roles=roles, actor=actor, request=request)


def user_deactivate(*, user: User, actor, request=None) -> User:
    """Soft delete by an admin: the row, usage and audit stay; every door closes at once."""
    return user_admin_update(user=user, status=Status.DEACTIVATED, actor=actor, request=request)


def lock_user(pk) -> User:
    try:
        return User.objects.select_for_update().get(pk=pk)
    except User.DoesNotExist as exc:
        raise NotFound(detail="No such user.") from exc
