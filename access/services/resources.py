"""Requestable resources: described by ``access:manage``, one per key in an organization.

The built-in ``org-role:<role key>`` resources are not stored: :func:`resource_get` builds one
for any role the organization has, so a member may ask for a role for a while (the grant adds
the role's permissions while it is active, ``access.selectors.grant_permission_sources``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import LEVEL_RE, ORG_ROLE_PREFIX, RESOURCE_KEY_RE, RequestableResource
from audit.services import record
from config.errors import Conflict, Invalid, NotFound
from orgs.catalogue import ADMIN_ROLE, OWNER_ROLE
from orgs.models import Membership, Organization, Role, Team
from orgs.services.rules import clean_text, ensure_writable, require

ORG_ROLE_LEVEL = "assume"
LEVELS_MAX = 20
APPROVERS_MAX = 100
DURATION_MAX_DAYS = 365
PENDING_MAX_DAYS = 90
APPROVALS_MAX = 10
DEFAULTS = {"min_approvals": 1, "max_duration_days": 14, "pending_days": 7}

RESOURCE_ERROR_CODES = [
    "invalid",
    "invalid_key",
    "invalid_level",
    "unknown_level",
    "unknown_role",
    "unknown_team",
    "not_a_member",
    "out_of_range",
    "invalid_characters",
    "max_length",
    "blank",
]


@dataclass
class Resource:
    """A resource as the request machine sees it: a stored row or a built-in role resource."""

    key: str
    name: str
    description: str
    levels: list[str]
    approvers: dict[str, list[str]]
    min_approvals: int = 1
    max_duration_days: int = 14
    pending_days: int = 7
    auto_approve_levels: list[str] = field(default_factory=list)
    row: RequestableResource | None = None
    role: Role | None = None
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "levels": list(self.levels),
            "approvers": {k: list(self.approvers.get(k, [])) for k in ("roles", "teams", "users")},
            "min_approvals": self.min_approvals,
            "max_duration_days": self.max_duration_days,
            "pending_days": self.pending_days,
            "auto_approve_levels": list(self.auto_approve_levels),
            "builtin": self.builtin,
        }


def _from_row(row: RequestableResource) -> Resource:
    return Resource(
        key=row.key,
        name=row.name,
        description=row.description,
        levels=list(row.levels),
        approvers={k: list(row.approvers.get(k, [])) for k in ("roles", "teams", "users")},
        min_approvals=row.min_approvals,
        max_duration_days=row.max_duration_days,
        pending_days=row.pending_days,
        auto_approve_levels=list(row.auto_approve_levels),
        row=row,
    )


def _role_resource(role: Role) -> Resource:
    # Owners decide every role; admins too, except the owner role (which they do not hold:
    # the approver's own permissions are checked again when approving).
    approver_roles = [OWNER_ROLE] if role.key == OWNER_ROLE else [OWNER_ROLE, ADMIN_ROLE]
    return Resource(
        key=f"{ORG_ROLE_PREFIX}{role.key}",
        name=f"Role: {role.name}",
        description=f"The organization role {role.name!r} for a while.",
        levels=[ORG_ROLE_LEVEL],
        approvers={"roles": approver_roles, "teams": [], "users": []},
        role=role,
        builtin=True,
    )


def organization_roles(organization: Organization):
    return Role.objects.filter(organization__isnull=True) | Role.objects.filter(
        organization=organization
    )


def resource_get(organization: Organization, key: Any) -> Resource:
    """The resource ``key`` of ``organization`` (404 ``unknown_resource`` when none)."""
    if isinstance(key, str) and key.startswith(ORG_ROLE_PREFIX):
        role = organization_roles(organization).filter(key=key[len(ORG_ROLE_PREFIX) :]).first()
        if role is not None:
            return _role_resource(role)
    elif isinstance(key, str):
        row = RequestableResource.objects.filter(organization=organization, key=key).first()
        if row is not None:
            return _from_row(row)
    raise NotFound("unknown_resource", "The organization has no such requestable resource.")


def resources_of(organization: Organization) -> list[Resource]:
    """Stored resources by key, then the built-in role resources."""
    stored = [_from_row(r) for r in RequestableResource.objects.filter(organization=organization)]
    roles = organization_roles(organization).order_by("key")
    return stored + [_role_resource(r) for r in roles]


# --- input --------------------------------------------------------------------------------


def _clean_levels(value: Any, *, attr: str, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("invalid", "Expected a list of level names.", attr=attr)
    if not value and not allow_empty:
        raise Invalid("blank", "At least one level.", attr=attr)
    if len(value) > LEVELS_MAX:
        raise Invalid("max_length", f"At most {LEVELS_MAX} levels.", attr=attr)
    for i, level in enumerate(value):
        if not re.match(LEVEL_RE, level):
            raise Invalid("invalid_level", "Lower-case letters, digits, - and _.", f"{attr}.{i}")
    return list(dict.fromkeys(value))


def _clean_int(value: Any, *, attr: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("invalid", "Expected an integer.", attr=attr)
    if not low <= value <= high:
        raise Invalid("out_of_range", f"Between {low} and {high}.", attr=attr)
    return value


def _clean_approvers(organization: Organization, value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or set(value) - {"roles", "teams", "users"}:
        raise Invalid("invalid", "Expected {roles, teams, users}.", attr="approvers")
    out: dict[str, list[str]] = {}
    for kind in ("roles", "teams", "users"):
        items = value.get(kind, [])
        attr = f"approvers.{kind}"
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid("invalid", "Expected a list of strings.", attr=attr)
        if len(items) > APPROVERS_MAX:
            raise Invalid("max_length", f"At most {APPROVERS_MAX}.", attr=attr)
        out[kind] = list(dict.fromkeys(items))
    known_roles = set(
        organization_roles(organization).filter(key__in=out["roles"]).values_list("key", flat=True)
    )
    unknown = [r for r in out["roles"] if r not in known_roles]
    if unknown:
        raise Invalid(
            "unknown_role", f"No such role: {', '.join(unknown)[:200]}.", attr="approvers.roles"
        )
    out["teams"] = _clean_ids(out["teams"], attr="approvers.teams")
    teams = set(
        str(t)
        for t in Team.objects.filter(organization=organization, pk__in=out["teams"]).values_list(
            "pk", flat=True
        )
    )
    if len(teams) != len(out["teams"]):
        raise Invalid("unknown_team", "Teams of this organization only.", attr="approvers.teams")
    out["users"] = _clean_ids(out["users"], attr="approvers.users")
    members = set(
        str(u)
        for u in Membership.objects.filter(
            organization=organization,
            user_id__in=out["users"],
            status=Membership.Status.ACTIVE,
        ).values_list("user_id", flat=True)
    )
    if len(members) != len(out["users"]):
        raise Invalid("not_a_member", "Active members only.", attr="approvers.users")
    return out


def _clean_ids(items: list[str], *, attr: str) -> list[str]:
    try:
        return list(dict.fromkeys(str(uuid.UUID(i)) for i in items))
    except ValueError:
        raise Invalid("invalid", "Expected ids.", attr=attr) from None


def _clean(organization: Organization, data: dict[str, Any], *, current: dict | None) -> dict:
    """The cleaned fields of a create (``current=None``) or of a change (merged over
    ``current``, so the rules that tie fields together hold for the result)."""
    out = dict(current or {})
    if "name" in data:
        out["name"] = clean_text(data["name"], attr="name", max_length=100, required=True)
    if "description" in data:
        out["description"] = clean_text(data["description"], attr="description", max_length=2000)
    if "levels" in data:
        out["levels"] = _clean_levels(data["levels"], attr="levels", allow_empty=False)
    if "approvers" in data:
        out["approvers"] = _clean_approvers(organization, data["approvers"])
    if "min_approvals" in data:
        out["min_approvals"] = _clean_int(
            data["min_approvals"], attr="min_approvals", low=1, high=APPROVALS_MAX
        )
    if "max_duration_days" in data:
        out["max_duration_days"] = _clean_int(
            data["max_duration_days"], attr="max_duration_days", low=1, high=DURATION_MAX_DAYS
        )
    if "pending_days" in data:
        out["pending_days"] = _clean_int(
            data["pending_days"], attr="pending_days", low=1, high=PENDING_MAX_DAYS
        )
    if "auto_approve_levels" in data:
        out["auto_approve_levels"] = _clean_levels(
            data["auto_approve_levels"], attr="auto_approve_levels", allow_empty=True
        )
    extra = [lv for lv in out.get("auto_approve_levels", []) if lv not in out["levels"]]
    if extra:
        raise Invalid(
            "unknown_level",
            f"Not among the levels: {', '.join(extra)[:200]}.",
            attr="auto_approve_levels",
        )
    return out


def _key_taken() -> Conflict:
    return Conflict("key_taken", "The organization has a resource with this key.", attr="key")


# --- writes -------------------------------------------------------------------------------


def resource_create(
    *, organization: Organization, actor: Any, request: Any = None, **data: Any
) -> RequestableResource:
    require(actor, "access:manage", organization)
    ensure_writable(organization)
    key = data.get("key")
    if not isinstance(key, str) or not re.match(RESOURCE_KEY_RE, key):
        raise Invalid("invalid_key", "Lower-case letters, digits, ., - and _.", attr="key")
    if "levels" not in data:
        raise Invalid("required", "This field is required.", attr="levels")
    data.setdefault("approvers", {})
    data.setdefault("description", "")
    data.setdefault("auto_approve_levels", [])
    fields = _clean(organization, data, current=dict(DEFAULTS))
    if "name" not in fields:
        raise Invalid("required", "This field is required.", attr="name")
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = RequestableResource.objects.create(
                    organization=organization, key=key, **fields
                )
        except IntegrityError as exc:
            raise _key_taken() from exc
        record(
            action="access.resource.created",
            actor=actor,
            target=row,
            request=request,
            metadata={"organization": str(organization.pk), "key": key},
            changes={k: [None, v] for k, v in fields.items()},
        )
    return row


def resource_update(
    *, resource: RequestableResource, actor: Any, request: Any = None, **data: Any
) -> RequestableResource:
    organization = resource.organization
    require(actor, "access:manage", organization)
    ensure_writable(organization)
    with transaction.atomic():
        row = RequestableResource.objects.select_for_update().filter(pk=resource.pk).first()
        if row is None:
            raise NotFound()
        names = (
            "name",
            "description",
            "levels",
            "approvers",
            "min_approvals",
            "max_duration_days",
            "pending_days",
            "auto_approve_levels",
        )
        current = {f: getattr(row, f) for f in names}
        cleaned = _clean(organization, data, current=current)
        changes = {f: [current[f], cleaned[f]] for f in names if cleaned[f] != current[f]}
        if changes:
            for f, (_before, after) in changes.items():
                setattr(row, f, after)
            row.updated_at = timezone.now()
            row.save(update_fields=[*changes, "updated_at"])
            record(
                action="access.resource.updated",
                actor=actor,
                target=row,
                request=request,
                metadata={"organization": str(organization.pk), "key": row.key},
                changes=changes,
            )
    return row


def resource_delete(*, resource: RequestableResource, actor: Any, request: Any = None) -> None:
    """Pending requests for it keep their snapshot (approvers, levels) and can be decided;
    grants already given run until they end."""
    organization = resource.organization
    require(actor, "access:manage", organization)
    ensure_writable(organization)
    with transaction.atomic():
        record(
            action="access.resource.deleted",
            actor=actor,
            target=resource,
            request=request,
            metadata={"organization": str(organization.pk), "key": resource.key},
        )
        RequestableResource.objects.filter(pk=resource.pk).delete()
