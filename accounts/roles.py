"""Roles are Django groups with model permissions.

member: no model permissions (own data only, through the API's own scoping).
manager: read users, slots and usage.
admin: every permission.
support: the support app's permissions (``support.manage``: every ticket, the agents' console).
The groups are created by a data migration; their permissions are (re)synced after every
``migrate``, because permissions of apps migrated later do not exist yet at that point.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from accounts.models import ROLE_NAMES

MANAGER_APPS_READ = ("accounts", "slots", "usage", "audit")
SUPPORT_APPS = ("support",)
# The role of every user created without one: self sign-up through any door (the page, the
# register API, a social sign-up) and ``create_user``.
DEFAULT_ROLE = "member"


def _manager_permissions():
    return Permission.objects.filter(
        content_type__app_label__in=MANAGER_APPS_READ, codename__startswith="view_"
    )


def sync_role_permissions(sender=None, **kwargs) -> None:
    using = kwargs.get("using", "default")
    # The groups come from a data migration; recreate any that a flush (or a hand) removed,
    # so that every database that has been migrated has the three roles.
    groups = {name: Group.objects.using(using).get_or_create(name=name)[0] for name in ROLE_NAMES}
    groups["manager"].permissions.set(_manager_permissions())
    groups["admin"].permissions.set(Permission.objects.using(using).all())
    groups["member"].permissions.clear()
    groups["support"].permissions.set(
        Permission.objects.using(using).filter(content_type__app_label__in=SUPPORT_APPS)
    )


@transaction.atomic
def assign_roles(user, roles: Iterable[str]) -> None:
    """Replace the user's roles. Staff access follows: managers, admins and support agents
    use the admin."""
    wanted = [r for r in ROLE_NAMES if r in set(roles)] or [DEFAULT_ROLE]
    groups = list(Group.objects.filter(name__in=wanted))
    other = Group.objects.filter(name__in=ROLE_NAMES).exclude(name__in=wanted)
    user.groups.remove(*other)
    user.groups.add(*groups)
    is_staff = bool({"manager", "admin", "support"} & set(wanted)) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])


def assign_default_role(user) -> None:
    """Give a newly created user the default role, unless a role was already given.

    What :func:`assign_roles` does for ``[DEFAULT_ROLE]`` when the user has no role, in
    four statements instead of eight (every sign-up runs it): there is no other role to
    remove, and a member is staff only as a superuser. The group is looked up by name each
    time, not kept in the process: a group recreated by another process (a flush and
    ``migrate``) would leave a kept id pointing nowhere, which the deferred foreign key
    would only refuse at the sign-up's commit."""
    if user.groups.filter(name__in=ROLE_NAMES).exists():
        return
    with transaction.atomic(savepoint=False):
        user.groups.add(Group.objects.get(name=DEFAULT_ROLE))
        if user.is_staff != user.is_superuser:
            user.is_staff = user.is_superuser
            user.save(update_fields=["is_staff"])
