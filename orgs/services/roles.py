"""An organization's custom roles. Built-in roles are fixed (``orgs.catalogue``)."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record
from config.errors import Conflict, Invalid, NotFound
from orgs.catalogue import BUILTIN_ROLES
from orgs.models import ROLE_KEY_RE, Organization, Role
from orgs.services.rules import (
    clean_permission_keys,
    clean_text,
    ensure_may_grant,
    ensure_writable,
    lock_organization,
    require,
)

_UNSET: Any = object()


def _key_taken() -> Conflict:
    return Conflict("role_key_taken", "A role with this key exists.", attr="key")


def role_create(
    *,
    organization: Organization,
    actor: Any,
    key: str,
    name: str,
    description: str = "",
    permissions: list[str] = (),
    request=None,
) -> Role:
    require(actor, "roles:manage", organization)
    if not isinstance(key, str) or not re.fullmatch(ROLE_KEY_RE, key):
        raise Invalid(
            "invalid_key",
            "Lower-case letters, digits, dashes and underscores, starting with a letter.",
            attr="key",
        )
    if key in BUILTIN_ROLES:
        raise _key_taken()
    name = clean_text(name, attr="name", max_length=100, required=True)
    description = clean_text(description or "", attr="description", max_length=2000)
    perms = clean_permission_keys(list(permissions), attr="permissions")
    ensure_may_grant(actor, organization, permissions=perms)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        try:
            with transaction.atomic():
                role = Role.objects.create(
                    organization=locked,
                    key=key,
                    name=name,
                    description=description,
                    permissions=perms,
                )
        except IntegrityError as exc:
            raise _key_taken() from exc
        record(
            action="org.role.created",
            actor=actor,
            target=role,
            request=request,
            changes={"key": [None, key], "permissions": [None, perms]},
            metadata={"organization": str(locked.pk)},
        )
    return role


def custom_role(organization: Organization, key: str) -> Role:
    role = Role.objects.filter(organization=organization, key=key).first()
    if role is None:
        if key in BUILTIN_ROLES:
            raise Conflict("role_builtin", "Built-in roles cannot be changed or deleted.")
        raise NotFound()
    return role


def role_update(
    *,
    organization: Organization,
    key: str,
    actor: Any,
    name: str = _UNSET,
    description: str = _UNSET,
    permissions: list[str] = _UNSET,
    request=None,
) -> Role:
    require(actor, "roles:manage", organization)
    role = custom_role(organization, key)
    clean: dict[str, Any] = {}
    if name is not _UNSET:
        clean["name"] = clean_text(name, attr="name", max_length=100, required=True)
    if description is not _UNSET:
        clean["description"] = clean_text(description, attr="description", max_length=2000)
    if permissions is not _UNSET:
        clean["permissions"] = clean_permission_keys(list(permissions), attr="permissions")
        added = set(clean["permissions"]) - set(role.permissions or [])
        ensure_may_grant(actor, organization, permissions=added)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        role = Role.objects.select_for_update().get(pk=role.pk)
        changes = {f: [getattr(role, f), v] for f, v in clean.items() if getattr(role, f) != v}
        if changes:
            for field, (_before, after) in changes.items():
                setattr(role, field, after)
            role.save(update_fields=list(changes))
            record(
                action="org.role.updated",
                actor=actor,
                target=role,
                request=request,
                changes=changes,
                metadata={"organization": str(locked.pk)},
            )
    return role


def role_delete(*, organization: Organization, key: str, actor: Any, request=None) -> None:
    require(actor, "roles:manage", organization)
    role = custom_role(organization, key)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        if role.memberships.exists() or role.invitations.filter(status="pending").exists():
            raise Conflict("role_in_use", "Members or pending invitations hold this role.")
        role.delete()
        record(
            action="org.role.deleted",
            actor=actor,
            target=("role", key),
            request=request,
            changes={"key": [key, None]},
            metadata={"organization": str(locked.pk)},
        )
