"""The organization pages at 360 px wide: nothing scrolls sideways, tables scroll inside
their wrapper (no cell squeezed to a letter per line), every control has a label."""

import pytest
from django.urls import reverse

from orgs.services import domains, invitations, members, organizations, roles, teams
from tests.factories import UserFactory
from tests.pages.conftest import browser_login, screenshot, verified_user
from tests.pages.test_layout import UNLABELLED

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLES_OUTSIDE_WRAPPER = """() => [...document.querySelectorAll('main table')]
  .filter(t => !t.closest('.table-wrap')).length"""

NARROWEST_CELL = """() => Math.min(...[...document.querySelectorAll('main td')]
  .filter(td => td.textContent.trim().length > 1).map(td => td.clientWidth), 9999)"""


def test_organization_pages_fit_a_small_phone(page, site):
    owner = verified_user("owner.with.a.long.address@example.com", "pw-unused-1234")
    org = organizations.org_create(
        name="An organization with a rather long name", actor=owner, description="Ours."
    )
    colleague = UserFactory(email="colleague.with.a.long.address@example.com")
    members.member_add(organization=org, actor=owner, user=colleague, roles=["manager"])
    team = teams.team_create(
        organization=org,
        actor=owner,
        name="Infrastructure and operations",
        initial_members=[colleague.email],
    )
    roles.role_create(
        organization=org,
        actor=owner,
        key="auditor",
        name="Auditor",
        permissions=["reports:read", "members:read"],
    )
    invitations.invitation_create(
        organization=org, actor=owner, email="someone.invited@example.com", teams=[str(team.pk)]
    )
    domains.domain_add(organization=org, actor=owner, domain="a-long-company-domain.example")
    other_owner = verified_user("other@example.com", "pw-unused-1234")
    other = organizations.org_create(name="Elsewhere", actor=other_owner)
    invitations.invitation_create(organization=other, actor=other_owner, email=owner.email)

    page.set_viewport_size({"width": 360, "height": 740})
    browser_login(page, site.url, owner)
    for path in (
        reverse("org-list"),
        reverse("org-detail", args=[org.pk]),
        reverse("org-member", args=[org.pk, colleague.pk]),
        reverse("org-teams", args=[org.pk]),
        reverse("org-team", args=[org.pk, team.pk]),
        reverse("org-invitations", args=[org.pk]),
        reverse("org-roles", args=[org.pk]),
        reverse("org-domains", args=[org.pk]),
    ):
        page.goto(site.url + path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(TABLES_OUTSIDE_WRAPPER) == 0, path
        assert page.evaluate(NARROWEST_CELL) >= 40, path
    page.goto(site.url + reverse("org-list"))
    assert page.get_by_test_id("invitation-banner").is_visible()
    screenshot(page, "layout-orgs-360px")
