"""The organization pages through the test client: what each role sees and may submit, the
services' refusals shown as form errors with their status, 404 for everything outside."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from orgs.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationDomain,
    Role,
    TeamMembership,
)
from orgs.services import organizations
from orgs.views import ACTIVE_ORG_SESSION_KEY
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "manager", "member"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def org_pages(world) -> dict[str, str]:
    org = world.org.pk
    return {
        "members": reverse("org-detail", args=[org]),
        "member": reverse("org-member", args=[org, world.member.pk]),
        "teams": reverse("org-teams", args=[org]),
        "team": reverse("org-team", args=[org, world.core.pk]),
        "invitations": reverse("org-invitations", args=[org]),
        "roles": reverse("org-roles", args=[org]),
        "domains": reverse("org-domains", args=[org]),
    }


# Which forms each role gets on each page (the same answers as orgs.permissions.can).
FORMS = {
    "members": {"owner", "admin"},
    "member": {"owner", "admin"},
    "teams": {"owner", "admin", "manager"},
    "team": {"owner", "admin", "manager"},  # the manager leads Core
    "invitations": {"owner", "admin"},
    "roles": {"owner", "admin"},
    "domains": {"owner", "admin"},
}
FORM_FLAG = {
    "members": "may_manage",
    "member": "may_manage",
    "teams": "may_create",
    "team": "may_manage",
    "invitations": "may_invite",
    "roles": "may_manage",
    "domains": "may_manage",
}


@pytest.mark.parametrize("role", ROLES)
def test_members_read_every_page_and_get_the_forms_their_permissions_allow(world, role):
    client = signed_in(world.person(role))
    for page, url in org_pages(world).items():
        response = client.get(url)
        assert response.status_code == 200, (page, role)
        assert response.context[FORM_FLAG[page]] is (role in FORMS[page]), (page, role)
        has_form = 'method="post"' in response.content.decode().split("<main", 1)[1]
        # (A member's own page and a team they are in offer them to leave: no other form.)
        if role not in FORMS[page] and page not in ("member", "team"):
            assert not has_form, (page, role)


def test_non_members_get_404_for_every_page_and_every_write(world):
    client = signed_in(world.outsider)
    for url in org_pages(world).values():
        assert client.get(url).status_code == 404
        assert client.post(url, {"email": "x@example.com", "name": "X"}).status_code == 404
    org = world.org.pk
    for name, args in (
        ("org-member-remove", [org, world.member.pk]),
        ("org-team-member-remove", [org, world.core.pk, world.member.pk]),
        ("org-invitation-action", [org, world.pending.pk, "cancel"]),
        ("org-role-delete", [org, "auditor"]),
        ("org-domain-remove", [org, "acme.example"]),
    ):
        assert client.post(reverse(name, args=args)).status_code == 404, name
    assert Membership.objects.filter(organization=world.org, user=world.member).exists()
    assert Invitation.objects.get(pk=world.pending.pk).status == "pending"


def test_pages_need_sign_in(world):
    for url in [reverse("org-list"), *org_pages(world).values()]:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_objects_of_another_organization_are_404(world):
    owner = verified(UserFactory(email="elsewhere@example.com"))
    elsewhere = organizations.org_create(name="Elsewhere", slug="elsewhere", actor=owner)
    client = signed_in(world.owner)
    org = world.org.pk
    # Another organization's page, and this organization's URL with others' objects.
    assert client.get(reverse("org-detail", args=[elsewhere.pk])).status_code == 404
    assert client.get(reverse("org-member", args=[org, owner.pk])).status_code == 404
    assert client.get(reverse("org-team", args=[org, uuid.uuid4()])).status_code == 404
    assert client.get(reverse("org-detail", args=[uuid.uuid4()])).status_code == 404
    response = client.post(reverse("org-invitation-action", args=[org, world.pending.pk, "x"]))
    assert response.status_code == 404
    response = client.post(reverse("org-switch"), {"organization": str(elsewhere.pk)})
    assert response.status_code == 404
    assert client.post(reverse("org-switch"), {"organization": "nope"}).status_code == 404


def test_create_an_organization_makes_it_active_and_shows_it_in_the_nav(world):
    client = signed_in(world.member)
    response = client.post(
        reverse("org-list"), {"name": "Beta Works", "slug": "", "description": ""}
    )
    org = Organization.objects.get(slug="beta-works")
    assert response.status_code == 302 and response["Location"] == reverse(
        "org-detail", args=[org.pk]
    )
    assert client.session[ACTIVE_ORG_SESSION_KEY] == str(org.pk)
    page = client.get(reverse("account-overview")).content.decode()
    assert 'data-testid="org-nav"' in page and "Beta Works" in page
    assert AuditEvent.objects.filter(action="org.created").exists()
    # Switching back to Acme.
    response = client.post(reverse("org-switch"), {"organization": str(world.org.pk)})
    assert response.status_code == 302
    assert client.session[ACTIVE_ORG_SESSION_KEY] == str(world.org.pk)


@pytest.mark.parametrize(
    "data, field, status",
    [
        ({"name": ""}, "name", 400),
        ({"name": "X", "slug": "Not A Slug"}, "slug", 400),
        ({"name": "Again", "slug": "acme"}, "slug", 409),
    ],
)
def test_bad_organization_input_is_a_form_error(world, data, field, status):
    response = signed_in(world.member).post(reverse("org-list"), data)
    assert response.status_code == status
    assert response.context["form"].errors[field]
    assert Organization.objects.count() == 1


def test_an_unverified_account_is_told_why_it_cannot_create(db):
    client = signed_in(UserFactory(email="fresh@example.com"))
    response = client.post(reverse("org-list"), {"name": "Nope"})
    assert response.status_code == 403
    assert "Verify your email" in str(response.context["form"].non_field_errors())


def test_an_admin_adds_a_member_and_changes_roles(world):
    newcomer = verified(UserFactory(email="newcomer@example.com"))
    client = signed_in(world.admin)
    url = reverse("org-detail", args=[world.org.pk])
    response = client.post(url, {"email": "newcomer@example.com", "role": "member"})
    assert response.status_code == 302
    member_url = reverse("org-member", args=[world.org.pk, newcomer.pk])
    response = client.post(member_url, {"roles": ["manager"], "status": "suspended"})
    assert response.status_code == 302
    membership = Membership.objects.get(organization=world.org, user=newcomer)
    assert [r.key for r in membership.roles.all()] == ["manager"]
    assert membership.status == "suspended"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"org.member.added", "org.member.roles.changed"} <= actions
    # An admin cannot give the owner role (cannot_grant), shown on the form, nothing changes.
    response = client.post(member_url, {"roles": ["owner"], "status": "active"})
    assert response.status_code == 403
    assert "cannot grant" in str(response.context["form"].non_field_errors())
    assert [r.key for r in membership.roles.all()] == ["manager"]
    response = client.post(member_url, {"roles": ["member"], "status": "gone"})
    assert response.status_code == 400 and response.context["form"].errors["status"]
    # The last owner keeps the owner role.
    owner_url = reverse("org-member", args=[world.org.pk, world.owner.pk])
    response = signed_in(world.owner).post(owner_url, {"roles": ["admin"], "status": "active"})
    assert response.status_code == 409
    assert (
        Membership.objects.get(organization=world.org, user=world.owner).roles.get().key == "owner"
    )
    # Unknown accounts and roles are form errors.
    response = client.post(url, {"email": "nobody@example.com", "role": "member"})
    assert response.status_code == 404 and response.context["form"].errors
    response = client.post(url, {"email": "newcomer@example.com", "role": "emperor"})
    assert response.status_code == 400 and response.context["form"].errors["role"]


def test_a_member_posting_a_form_they_do_not_get_is_refused(world):
    client = signed_in(world.member)
    url = reverse("org-detail", args=[world.org.pk])
    response = client.post(url, {"email": "spare2@example.com", "role": "admin"})
    assert response.status_code == 403
    for page, data in (
        ("org-teams", {"name": "Mine"}),
        ("org-roles", {"key": "boss", "name": "Boss"}),
        ("org-domains", {"domain": "mine.example", "join_mode": "off"}),
        ("org-invitations", {"email": "x@example.com", "role": "member"}),
    ):
        assert client.post(reverse(page, args=[world.org.pk]), data).status_code == 403, page
    assert not Role.objects.filter(key="boss").exists()


def test_the_last_owner_cannot_leave_and_a_member_can(world):
    owner = signed_in(world.owner)
    response = owner.post(reverse("org-member-remove", args=[world.org.pk, world.owner.pk]))
    assert response.status_code == 302
    assert Membership.objects.filter(organization=world.org, user=world.owner).exists()
    member = signed_in(world.spare2)
    response = member.post(reverse("org-member-remove", args=[world.org.pk, world.spare2.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("org-list")
    assert not Membership.objects.filter(organization=world.org, user=world.spare2).exists()


def test_a_manager_manages_the_team_they_lead_only(world):
    client = signed_in(world.manager)
    core = reverse("org-team", args=[world.org.pk, world.core.pk])
    response = client.post(core, {"user_email": "spare2@example.com", "role": "member"})
    assert response.status_code == 302
    assert TeamMembership.objects.filter(team=world.core, user=world.spare2).exists()
    other = reverse("org-team", args=[world.org.pk, world.other.pk])
    assert client.get(other).context["may_manage"] is False
    response = client.post(other, {"user_email": "spare2@example.com", "role": "member"})
    assert response.status_code == 403
    assert not TeamMembership.objects.filter(team=world.other, user=world.spare2).exists()
    # Someone outside the organization cannot join a team.
    response = client.post(core, {"user_email": "outsider@example.com", "role": "member"})
    assert response.status_code == 400 and response.context["form"].errors["user_email"]
    remove = reverse("org-team-member-remove", args=[world.org.pk, world.core.pk, world.spare2.pk])
    assert client.post(remove).status_code == 302
    assert not TeamMembership.objects.filter(team=world.core, user=world.spare2).exists()
    # A team member leaves a team by themself; the last lead stays while others remain.
    leave = reverse("org-team-member-remove", args=[world.org.pk, world.core.pk, world.member.pk])
    assert signed_in(world.member).post(leave).status_code == 302
    assert not TeamMembership.objects.filter(team=world.core, user=world.member).exists()
    lead_leaves = reverse(
        "org-team-member-remove", args=[world.org.pk, world.core.pk, world.manager.pk]
    )
    assert client.post(lead_leaves).status_code == 302
    assert TeamMembership.objects.filter(team=world.core, user=world.manager).exists()


def test_team_setup_and_duplicate_names(world):
    client = signed_in(world.manager)
    url = reverse("org-teams", args=[world.org.pk])
    response = client.post(url, {"name": "Platform", "team_type": "", "description": ""})
    assert response.status_code == 302
    team = world.org.teams.get(name="Platform")
    assert TeamMembership.objects.get(team=team).user == world.manager
    response = client.post(url, {"name": "platform"})
    assert response.status_code == 409 and response.context["form"].errors["name"]


def test_invitations_are_sent_resent_and_canceled(world, django_capture_on_commit_callbacks):
    client = signed_in(world.admin)
    url = reverse("org-invitations", args=[world.org.pk])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"email": "Guest@Example.com", "role": "member", "team": str(world.core.pk)}
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="guest@example.com")
    assert [t.pk for t in invitation.teams.all()] == [world.core.pk]
    assert mail.outbox[-1].to == ["guest@example.com"]
    response = client.post(url, {"email": "guest@example.com", "role": "member"})
    assert response.status_code == 409 and response.context["form"].errors["email"]
    response = client.post(url, {"email": "member@example.com", "role": "member"})
    assert response.status_code == 409
    response = client.post(url, {"email": "bad", "role": "member", "expires_in_days": "99"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"email", "expires_in_days"}
    action = "org-invitation-action"
    assert (
        client.post(reverse(action, args=[world.org.pk, invitation.pk, "resend"])).status_code
        == 302
    )
    assert (
        client.post(reverse(action, args=[world.org.pk, invitation.pk, "cancel"])).status_code
        == 302
    )
    invitation.refresh_from_db()
    assert invitation.status == "canceled"
    # The member's page lists nothing of the invitations.
    assert signed_in(world.member).get(url).context["invitations"] == []


def test_custom_roles_are_defined_without_granting_above_oneself(world):
    client = signed_in(world.admin)
    url = reverse("org-roles", args=[world.org.pk])
    response = client.post(
        url, {"key": "lead-dev", "name": "Lead dev", "permissions": ["teams:create"]}
    )
    assert response.status_code == 302
    response = client.post(url, {"key": "boss", "name": "Boss", "permissions": ["org:delete"]})
    assert response.status_code == 403 and "cannot grant" in response.content.decode()
    response = client.post(url, {"key": "x", "name": "X", "permissions": ["made:up"]})
    assert response.status_code == 400 and response.context["form"].errors["permissions"]
    response = client.post(url, {"key": "Bad Key", "name": "X"})
    assert response.status_code == 400 and response.context["form"].errors["key"]
    assert (
        client.post(reverse("org-role-delete", args=[world.org.pk, "lead-dev"])).status_code == 302
    )
    assert not Role.objects.filter(key__in=["lead-dev", "boss"]).exists()
    # Built-in roles cannot be deleted from here.
    assert client.post(reverse("org-role-delete", args=[world.org.pk, "owner"])).status_code == 404


def test_domains_are_added_and_removed(world):
    client = signed_in(world.owner)
    url = reverse("org-domains", args=[world.org.pk])
    assert (
        client.post(url, {"domain": "Widgets.Example", "join_mode": "suggest"}).status_code == 302
    )
    assert OrganizationDomain.objects.get(domain="widgets.example").join_mode == "suggest"
    response = client.post(url, {"domain": "acme.example", "join_mode": "off"})
    assert response.status_code == 409 and response.context["form"].errors["domain"]
    response = client.post(url, {"domain": "not a domain", "join_mode": "off"})
    assert response.status_code == 400 and response.context["form"].errors["domain"]
    response = client.post(url, {"domain": "ok.example", "join_mode": "sometimes"})
    assert response.status_code == 400 and response.context["form"].errors["join_mode"]
    remove = reverse("org-domain-remove", args=[world.org.pk, "widgets.example"])
    assert client.post(remove).status_code == 302
    assert not OrganizationDomain.objects.filter(domain="widgets.example").exists()


def test_pending_invitations_show_a_banner_and_are_accepted_from_the_list(world):
    invitee = verified(UserFactory(email="pending@example.com"))
    client = signed_in(invitee)
    page = client.get(reverse("account-overview")).content.decode()
    assert 'data-testid="invitation-banner"' in page
    listing = client.get(reverse("org-list"))
    assert [i.pk for i in listing.context["invitations"]] == [world.pending.pk]
    response = client.post(
        reverse("org-invitation", args=[world.pending.pk]), {"decision": "accept"}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(organization=world.org, user=invitee).exists()
    assert client.session[ACTIVE_ORG_SESSION_KEY] == str(world.org.pk)
    page = client.get(reverse("account-overview")).content.decode()
    assert 'data-testid="invitation-banner"' not in page
    # Someone else cannot act on the invitation of another address.
    other = signed_in(world.spare)
    response = other.post(
        reverse("org-invitation", args=[world.pending.pk]), {"decision": "decline"}
    )
    assert response.status_code == 404


def test_writes_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    for url, data in (
        (reverse("org-list"), {"name": "Forged"}),
        (
            reverse("org-detail", args=[world.org.pk]),
            {"email": "spare2@example.com", "role": "admin"},
        ),
        (reverse("org-member-remove", args=[world.org.pk, world.member.pk]), {}),
    ):
        assert client.post(url, data).status_code == 403
    assert not Organization.objects.filter(name="Forged").exists()
    assert Membership.objects.filter(organization=world.org, user=world.member).exists()


def test_the_members_page_costs_the_same_queries_for_few_and_many(world):
    client = signed_in(world.owner)
    url = reverse("org-detail", args=[world.org.pk])
    client.get(url)  # warm the session

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    few = count()
    for i in range(20):
        person = UserFactory(email=f"many{i}@example.com")
        Membership.objects.create(organization=world.org, user=person).roles.set(
            [Role.objects.get(organization=None, key="member")]
        )
        TeamMembership.objects.create(team=world.other, user=person)
    assert count() == few


def test_a_lead_makes_a_team_member_a_lead_and_the_last_lead_stays(world):
    client = signed_in(world.manager)
    role_url = reverse("org-team-member-role", args=[world.org.pk, world.core.pk, world.member.pk])
    assert client.post(role_url, {"role": "lead"}).status_code == 302
    assert TeamMembership.objects.get(team=world.core, user=world.member).role == "lead"
    assert client.post(role_url, {"role": "member"}).status_code == 302
    own = reverse("org-team-member-role", args=[world.org.pk, world.core.pk, world.manager.pk])
    response = client.post(own, {"role": "member"}, follow=True)
    assert "last lead" in response.content.decode()
    assert TeamMembership.objects.get(team=world.core, user=world.manager).role == "lead"
    client.post(role_url, {"role": "emperor"})
    assert TeamMembership.objects.get(team=world.core, user=world.member).role == "member"
    # A member cannot promote themself; another team's member is 404 here.
    signed_in(world.member).post(role_url, {"role": "lead"})
    assert TeamMembership.objects.get(team=world.core, user=world.member).role == "member"
    other = reverse("org-team-member-role", args=[world.org.pk, world.other.pk, world.member.pk])
    assert client.post(other, {"role": "lead"}).status_code == 404


def test_names_are_escaped_in_the_pages_and_the_nav(world):
    client = signed_in(world.member)
    client.post(reverse("org-list"), {"name": "<script>alert(1)</script>"})
    org = Organization.objects.get(name="<script>alert(1)</script>")
    for url in (reverse("org-detail", args=[org.pk]), reverse("org-list")):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
