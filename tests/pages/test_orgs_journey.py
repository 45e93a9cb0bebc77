"""Journey: an owner creates an organization and invites by email; the invitee signs up from
the emailed link, verifies the address and lands in the organization; a manager sets up a
team (and so leads it) and manages it by adding the newcomer."""

import pytest
from django.core import mail

from orgs.models import Membership, Organization, TeamMembership
from tests.pages.conftest import browser_login, link_in_mail, screenshot, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-lattice-47-otters"


def nav_text(page) -> str:
    return " ".join(page.get_by_test_id("org-nav").inner_text().split())


def test_organization_invitation_team_journey(page, new_page, site):
    owner = verified_user("founder@example.com", PASSWORD)
    verified_user("lead@example.com", PASSWORD)

    # The owner creates the organization: it becomes the active one, shown in the nav.
    browser_login(page, site.url, owner)
    page.goto(f"{site.url}/account/organizations/")
    page.get_by_label("Name").fill("Northwind Journeys")
    page.get_by_role("button", name="Create organization").click()
    page.get_by_role("heading", name="Northwind Journeys").wait_for()
    assert nav_text(page) == "Active organization: Northwind Journeys"

    # An existing account joins as a manager; a new person is invited by email.
    page.get_by_label("Email").fill("lead@example.com")
    page.get_by_label("Role").select_option("manager")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("lead@example.com is now a member.").wait_for()
    page.get_by_role("navigation", name="Organization").get_by_role(
        "link", name="Invitations"
    ).click()
    page.get_by_label("Email").fill("newbie@example.com")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("An invitation was sent to newbie@example.com.").wait_for()
    invitation_mail = [m for m in mail.outbox if m.to == ["newbie@example.com"]][-1]
    link = link_in_mail(invitation_mail, "/invitations/")

    # The invitee follows the link, signs up with the invited address and verifies it.
    invitee = new_page()
    invitee.goto(site.url + link)
    invitee.get_by_role("link", name="Create an account").click()
    invitee.get_by_label("Email").fill("newbie@example.com")
    invitee.get_by_label("Password", exact=True).fill(PASSWORD)
    invitee.get_by_label("Password (again)").fill(PASSWORD)
    invitee.get_by_role("button", name="Sign Up").click()
    invitee.get_by_role("heading", name="Verify Your Email Address").wait_for()
    confirm = [m for m in mail.outbox if m.to == ["newbie@example.com"]][-1]
    invitee.goto(site.url + link_in_mail(confirm, "/accounts/confirm-email/"))
    invitee.get_by_role("button", name="Confirm").click()
    # Confirming signs in and returns to the invitation.
    invitee.get_by_role("heading", name="Invitation to Northwind Journeys").wait_for()
    invitee.get_by_role("button", name="Accept").click()
    invitee.get_by_text("You joined Northwind Journeys").wait_for()
    assert nav_text(invitee) == "Active organization: Northwind Journeys"
    invitee.get_by_test_id("org-nav").click()
    invitee.get_by_role("heading", name="Northwind Journeys").wait_for()
    # A member reads the lists and gets no forms.
    assert invitee.get_by_role("button", name="Add member").count() == 0

    # The manager switches to the organization, sets up a team and adds the newcomer.
    manager = new_page()
    browser_login(manager, site.url, Membership.objects.get(user__email="lead@example.com").user)
    manager.goto(f"{site.url}/account/organizations/")
    manager.get_by_role("button", name="Switch to Northwind Journeys").click()
    manager.get_by_role("navigation", name="Organization").get_by_role("link", name="Teams").click()
    manager.get_by_label("Name").fill("Field crew")
    manager.get_by_role("button", name="Set up team").click()
    manager.get_by_text("Team Field crew is set up; you lead it.").wait_for()
    manager.get_by_label("Email").fill("someone@elsewhere.example")
    manager.get_by_role("button", name="Add to team").click()
    manager.get_by_text("Only organization members can join a team.").wait_for()
    manager.get_by_label("Email").fill("newbie@example.com")
    manager.get_by_label("Title").fill("Scout")
    manager.get_by_role("button", name="Add to team").click()
    manager.get_by_text("newbie@example.com joined Field crew.").wait_for()
    rows = manager.get_by_test_id("team-member-row")
    assert rows.count() == 2

    org = Organization.objects.get(name="Northwind Journeys")
    crew = org.teams.get(name="Field crew")
    assert {(r.user.email, r.role) for r in TeamMembership.objects.filter(team=crew)} == {
        ("lead@example.com", "lead"),
        ("newbie@example.com", "member"),
    }

    # At 360 px the team table scrolls in its wrapper instead of squeezing its cells.
    manager.set_viewport_size({"width": 360, "height": 800})
    manager.reload()
    widths = manager.eval_on_selector_all(
        "[data-testid=team-member-row] td:first-child", "cells => cells.map(c => c.clientWidth)"
    )
    assert min(widths) > 60, widths
    screenshot(manager, "journey-orgs-team")
