from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which are not loaded at import time.
        from allauth.account import signals as account_signals
        from django.db.models.signals import post_migrate

        from accounts import hooks
        from notifications import audience, ws_hooks
        from orgs import ws
        from orgs.notification_audience import send_audience, send_choices
        from orgs.selectors import memberships_export_for_user
        from orgs.services.invitations import invitations_end_for_erasure
        from orgs.services.members import memberships_end_for_erasure
        from orgs.tokens import org_claims_for

        # A person's export lists their organizations; erasing a person ends their memberships
        # and the invitations addressed to them.
        hooks.register_export_section("organizations", memberships_export_for_user)
        hooks.register_erasure_step(memberships_end_for_erasure)
        hooks.register_erasure_step(invitations_end_for_erasure)
        # Who may send a notification to whom is the organizations' rule.
        audience.register(send_audience, choices=send_choices)
        # Access tokens name an active organization; its claims come from orgs.permissions.
        hooks.register_org_claims(org_claims_for)
        # The notifications socket's channels and presence follow organization membership.
        ws_hooks.register_directory(
            may_subscribe=ws.may_subscribe,
            organizations_of=ws.organizations_of,
            members_of=ws.members_of,
            activity_teams=ws.activity_teams,
        )
        account_signals.email_confirmed.connect(
            _join_by_domain, dispatch_uid="orgs.join_by_verified_domain"
        )
        post_migrate.connect(
            ensure_builtin_roles, sender=self, dispatch_uid="orgs.ensure_builtin_roles"
        )
        # SAML per organization: allauth's apps, the sign-in policy, membership on sign-in.
        from orgs.saml.wiring import connect as connect_saml

        connect_saml()


def ensure_builtin_roles(sender=None, using="default", **kwargs) -> None:
    """The built-in roles come from a data migration; recreate any that a flush (or a hand)
    removed, so that every migrated database has them (as accounts does for its groups).
    Their permissions are not stored: they are read from ``orgs.catalogue``."""
    from orgs.catalogue import BUILTIN_ROLES
    from orgs.models import Role

    for key, spec in BUILTIN_ROLES.items():
        Role.objects.using(using).get_or_create(
            organization=None,
            key=key,
            defaults={"name": spec["name"], "description": spec["description"], "builtin": True},
        )


def _join_by_domain(sender, request, email_address, **kwargs) -> None:
    """A newly verified email at an organization's verified ``auto`` domain makes its owner a
    member (``orgs.services.domains``)."""
    from orgs.services.domains import domains_join_on_verified_email

    domains_join_on_verified_email(user=email_address.user, email=email_address.email)
