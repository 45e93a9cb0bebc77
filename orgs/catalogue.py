"""The one catalogue of organization permissions and of the built-in organization roles.

Every permission key anywhere in Roster (custom roles, direct permissions, team permissions,
invitations, the API's ``GET /permissions``) is checked against ``PERMISSIONS``; nothing else
lists them. Keys are ``resource:action``.
"""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "org:update": "Change the organization's name, description and domains.",
    "org:delete": "Archive the organization.",
    "owners:manage": "Make members owners or take the owner role away.",
    "members:read": "See the organization's members, roles and teams.",
    "members:invite": "Invite people and manage pending invitations.",
    "members:manage": "Add, suspend and remove members and change their roles.",
    "roles:manage": "Define custom roles and change members' permissions.",
    "teams:create": "Set up teams (the creator leads the new team).",
    "teams:manage": "Change a team and its members.",
    "access:request": "Ask for access to a requestable resource.",
    "access:approve": "Decide access requests as a named approver.",
    "access:manage": "Describe requestable resources and manage grants.",
    "reports:read": "Read the organization's reports.",
    "policies:manage": "Set the organization's security policies.",
    "sso:manage": "Configure the organization's identity provider.",
    "notifications:send": "Send notifications to members.",
    "support:read": "Read the organization's support tickets.",
}

ALL_PERMISSIONS = frozenset(PERMISSIONS)

OWNER_ROLE = "owner"
ADMIN_ROLE = "admin"
MANAGER_ROLE = "manager"
MEMBER_ROLE = "member"

# Built-in roles: fixed permission sets (docs/api.md, "Organizations").
BUILTIN_ROLES: dict[str, dict] = {
    OWNER_ROLE: {
        "name": "Owner",
        "description": "Everything, including archiving the organization and naming owners.",
        "permissions": ALL_PERMISSIONS,
    },
    ADMIN_ROLE: {
        "name": "Admin",
        "description": "Everything but archiving the organization and changing owners.",
        "permissions": ALL_PERMISSIONS - {"org:delete", "owners:manage"},
    },
    MANAGER_ROLE: {
        "name": "Manager",
        "description": "Sets up teams and manages the teams they lead.",
        "permissions": frozenset(
            {
                "members:read",
                "teams:create",
                "teams:manage",
                "access:approve",
                "reports:read",
                "notifications:send",
            }
        ),
    },
    MEMBER_ROLE: {
        "name": "Member",
        "description": "Sees the organization and asks for access.",
        "permissions": frozenset({"members:read", "access:request"}),
    },
}

# Permissions a built-in role gives only inside the teams its holder leads: a manager manages,
# reports on and notifies their own teams, not every team of the organization.
LEAD_SCOPED: dict[str, frozenset[str]] = {
    MANAGER_ROLE: frozenset({"teams:manage", "reports:read", "notifications:send"}),
}

# The most a team membership can add inside the team's scope.
TEAM_PERMISSIONS = frozenset(
    {"teams:manage", "reports:read", "notifications:send", "access:approve", "support:read"}
)


def unknown_permissions(keys) -> list[str]:
    """The keys that are not in the catalogue, in the order given."""
    return [k for k in keys if k not in ALL_PERMISSIONS]


def role_permissions(key: str, custom: list[str] | None = None) -> frozenset[str]:
    """A role's permissions: the built-in set for a built-in key, else the stored list."""
    if key in BUILTIN_ROLES:
        return BUILTIN_ROLES[key]["permissions"]
    return frozenset(custom or ())
