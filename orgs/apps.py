from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which are not loaded at import time.
        from allauth.account import signals as account_signals

        from accounts import hooks
        from orgs.selectors import memberships_export_for_user
        from orgs.services.members import memberships_end_for_erasure

        # A person's export lists their organizations; erasing a person ends their memberships.
        hooks.register_export_section("organizations", memberships_export_for_user)
        hooks.register_erasure_step(memberships_end_for_erasure)
        account_signals.email_confirmed.connect(
            _join_by_domain, dispatch_uid="orgs.join_by_verified_domain"
        )


def _join_by_domain(sender, request, email_address, **kwargs) -> None:
    """A newly verified email at an organization's verified ``auto`` domain makes its owner a
    member (``orgs.services.domains``)."""
    from orgs.services.domains import domains_join_on_verified_email

    domains_join_on_verified_email(user=email_address.user, email=email_address.email)
