"""The organizations section of the admin dashboard: seats used / limit, members, teams."""

import pytest
from django.test import Client

from console.dashboard import dashboard_numbers
from orgs.services import invitations, members, organizations, teams
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tenants(db):
    owner = verified(UserFactory(email="boss@example.com"))
    big = organizations.org_create(name="Big", slug="big", actor=owner, seat_limit=10)
    for i in range(3):
        members.member_add(organization=big, actor=owner, user=UserFactory(email=f"m{i}@x.example"))
    invitations.invitation_create(organization=big, actor=owner, email="soon@example.com")
    teams.team_create(organization=big, actor=owner, name="One")
    teams.team_create(organization=big, actor=owner, name="Two")
    small = organizations.org_create(name="Small", slug="small", actor=owner)
    gone = organizations.org_create(name="Gone", slug="gone", actor=owner)
    organizations.org_archive(organization=gone, actor=owner)
    return big, small


def test_figures_per_organization(tenants):
    numbers = dashboard_numbers(refresh=True)["organizations"]
    rows = {row["slug"]: row for row in numbers["rows"]}
    assert list(rows) == ["big", "small"]  # most seats used first; the archived one left out
    assert numbers["more"] is False
    big = rows["big"]
    assert (big["member_total"], big["pending_total"], big["seats_used"]) == (4, 1, 5)
    assert (big["seat_limit"], big["team_total"]) == (10, 2)
    assert (rows["small"]["seats_used"], rows["small"]["seat_limit"]) == (1, None)


def test_the_index_shows_them_to_admins_only(tenants, admin_user, member):
    html = _signed_in(admin_user).get("/admin/?refresh=1").content.decode()
    assert 'id="dash-orgs"' in html
    assert '<tr data-org="big">' in html
    assert 'data-figure="seats">5 / 10<' in html
    assert 'data-figure="teams">2<' in html
    assert 'data-figure="seats">1 / ∞<' in html
    assert "/admin/orgs/organization/onboard/" in html
    response = _signed_in(member).get("/admin/")
    assert response.status_code == 302  # members are sent to sign in as staff
