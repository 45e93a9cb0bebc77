from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which are not loaded at import time.
        from access.selectors import grant_permission_sources
        from access.services.requests import grants_end_for_membership
        from orgs.hooks import register_membership_ended
        from orgs.permissions import register_source

        # Active org-role grants add the role's permissions while they last.
        register_source(grant_permission_sources)
        # A membership's end (removed, left, suspended, archived) revokes its grants there.
        register_membership_ended(grants_end_for_membership)
        # Security policies: accounts' password validator reads them (accounts.policy_rules).
        from access.policies import admin as policies_admin  # noqa: F401 - its admin pages
        from access.policies.provider import register as register_policies

        register_policies()
