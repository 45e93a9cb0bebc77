"""The database holds the organization invariants even when a service is bypassed."""

import pytest
from django.db import IntegrityError, transaction

from orgs.catalogue import BUILTIN_ROLES
from orgs.models import Invitation, Membership, Organization, Plan, Role, Team

pytestmark = pytest.mark.django_db


def test_seeded_plans_and_builtin_roles_exist():
    assert set(Plan.objects.values_list("key", flat=True)) >= {"free", "team", "enterprise"}
    builtin = Role.objects.filter(organization=None, builtin=True)
    assert set(builtin.values_list("key", flat=True)) == set(BUILTIN_ROLES)


def test_slug_is_unique():
    Organization.objects.create(slug="acme", name="Acme")
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(slug="acme", name="Acme again")


def test_team_names_are_unique_per_organization_case_insensitively():
    acme = Organization.objects.create(slug="acme", name="Acme")
    other = Organization.objects.create(slug="other", name="Other")
    Team.objects.create(organization=acme, name="Platform")
    Team.objects.create(organization=other, name="Platform")
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(organization=acme, name="platform")


def test_one_membership_per_user_and_organization(member):
    acme = Organization.objects.create(slug="acme", name="Acme")
    Membership.objects.create(organization=acme, user=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(organization=acme, user=member)


def test_one_pending_invitation_per_address(member):
    from django.utils import timezone

    acme = Organization.objects.create(slug="acme", name="Acme")
    soon = timezone.now() + timezone.timedelta(days=1)
    Invitation.objects.create(organization=acme, email="a@example.com", expires_at=soon)
    Invitation.objects.create(
        organization=acme, email="A@example.com", expires_at=soon, status="canceled"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(organization=acme, email="A@EXAMPLE.com", expires_at=soon)


@pytest.mark.django_db(transaction=True)
def test_builtin_roles_come_back_after_a_flush(member):
    """A flush (as transactional tests do) or a hand may remove the seeded rows; every migrate
    puts the built-in roles back, so creating an organization still finds its owner role."""
    from django.core.management.sql import emit_post_migrate_signal

    from orgs.services.organizations import org_create
    from tests.orgs.conftest import verified

    verified(member)
    Role.objects.filter(organization=None).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    builtin = Role.objects.filter(organization=None, builtin=True)
    assert set(builtin.values_list("key", flat=True)) == set(BUILTIN_ROLES)
    org = org_create(name="Acme", actor=member)
    assert Membership.objects.get(organization=org, user=member).roles.get().key == "owner"
