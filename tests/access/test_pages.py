"""The Access pages through the test client: asking, reviewing, canceling and ending grants in
the account area; an organization's resources, grants and policies for those who manage
them. Each role sees what ``can`` allows; the services' refusals come back in words with
their status and nothing written; other organizations' and users' objects are 404."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AccessRequest, Grant, RequestableResource, Review
from access.policies import selectors as policy_selectors
from access.policies.models import SecurityPolicy
from access.services import requests as svc
from audit.models import AuditEvent
from orgs.services import organizations
from tests.access.conftest import verified
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(world, **overrides) -> AccessRequest:
    data = {
        "organization": world.org,
        "requester": world.member,
        "resource": "production-db",
        "access_level": "write",
        "justification": "Migrate the billing tables",
        "duration_days": 7,
    }
    return svc.request_submit(**{**data, **overrides})


@pytest.fixture
def other_org(db):
    boss = verified(UserFactory(email="boss@elsewhere.example"))
    org = organizations.org_create(name="Elsewhere", slug="elsewhere", actor=boss)
    return org, boss


# --- the account area ---------------------------------------------------------------------


def test_pages_need_sign_in(world):
    for name in ("access-home", "access-request-new", "access-reviews"):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_member_asks_for_access_and_sees_the_request(world, db_resource):
    client = signed_in(world.member)
    page = client.get(reverse("access-request-new"), {"organization": world.org.pk})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Production database" in text and "org-role:admin" in text
    response = client.post(
        reverse("access-request-new"),
        {
            "organization": world.org.pk,
            "resource": "production-db",
            "access_level": "write",
            "duration_days": 5,
            "justification": "Migrate the billing tables",
        },
    )
    row = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("access-request", args=[row.pk])
    assert (row.requester, row.access_level, row.duration_days) == (world.member, "write", 5)
    assert AuditEvent.objects.filter(action="access.request.created").count() == 1
    home = client.get(reverse("access-home")).content.decode()
    assert "production-db" in home and "Pending" in home


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"duration_days": 30}, 400, "At most 14 days for this resource."),
        ({"access_level": "assume"}, 400, "The resource does not offer this level."),
        ({"justification": "   "}, 400, "This field is required."),
        ({"resource": "nothing"}, 400, "Select a valid choice."),
        ({"duration_days": 0}, 400, "greater than or equal to 1"),
    ],
)
def test_bad_requests_are_refused_in_words_and_nothing_is_written(
    world, db_resource, change, status, words
):
    body = {
        "organization": world.org.pk,
        "resource": "production-db",
        "access_level": "write",
        "duration_days": 5,
        "justification": "Migrate",
        **change,
    }
    response = signed_in(world.member).post(reverse("access-request-new"), body)
    assert response.status_code == status
    assert words in response.content.decode()
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="access.request").exists()


def test_a_second_pending_request_is_a_409_in_words(world, db_resource):
    submit(world)
    response = signed_in(world.member).post(
        reverse("access-request-new"),
        {
            "organization": world.org.pk,
            "resource": "production-db",
            "access_level": "write",
            "duration_days": 5,
            "justification": "Again",
        },
    )
    assert response.status_code == 409
    assert "You have a pending request for this resource and level." in response.content.decode()
    assert AccessRequest.objects.count() == 1


def test_asking_another_organization_is_404(world, db_resource, other_org):
    org, _boss = other_org
    response = signed_in(world.member).post(
        reverse("access-request-new"),
        {
            "organization": org.pk,
            "resource": "production-db",
            "access_level": "read",
            "duration_days": 1,
            "justification": "x",
        },
    )
    assert response.status_code == 404
    assert not AccessRequest.objects.exists()


def test_outsider_has_nothing_to_ask_for(world, db_resource):
    page = signed_in(world.outsider).get(reverse("access-request-new"))
    assert page.status_code == 200
    assert "active member of no organization" in page.content.decode()


def test_approver_sees_and_approves_with_a_shorter_duration(world, db_resource):
    req = submit(world)
    admin = signed_in(world.admin)
    assert "1 request waits for your decision" in admin.get(reverse("access-home")).content.decode()
    reviews = admin.get(reverse("access-reviews")).content.decode()
    assert "member@example.com" in reviews and reverse("access-request", args=[req.pk]) in reviews
    detail = reverse("access-request", args=[req.pk])
    assert "Record decision" in admin.get(detail).content.decode()
    response = admin.post(
        detail,
        {"action": "approve", "comments": "Two days do", "duration_days": 2, "access_level": ""},
    )
    assert response.status_code == 302
    grant = Grant.objects.get()
    assert (grant.user, grant.access_level) == (world.member, "write")
    assert (grant.expires_at - grant.starts_at).days == 2
    review = Review.objects.get()
    assert review.comment == "Two days do" and review.conditions == {"duration_days": 2}
    mine = signed_in(world.member).get(reverse("access-home")).content.decode()
    assert "production-db" in mine and "Active" in mine


@pytest.mark.parametrize(
    "body, status, words",
    [
        (
            {"action": "approve", "duration_days": 30},
            400,
            "At most the 7 days asked for.",
        ),
        (
            {"action": "approve", "access_level": "admin"},
            400,
            "Select a valid choice.",
        ),
        ({"action": "deny", "duration_days": 2}, 400, "Conditions go with an approval."),
        ({"action": "delegate"}, 400, "user id."),
        ({"action": "maybe"}, 400, "Select a valid choice."),
    ],
)
def test_bad_reviews_are_refused_in_words_and_nothing_is_written(
    world, db_resource, body, status, words
):
    req = submit(world)
    response = signed_in(world.admin).post(reverse("access-request", args=[req.pk]), body)
    assert response.status_code == status
    assert words in response.content.decode()
    assert not Review.objects.exists() and not Grant.objects.exists()
    req.refresh_from_db()
    assert req.status == "pending"


def test_delegation_hands_the_decision_to_a_member(world, db_resource):
    req = submit(world)
    response = signed_in(world.admin).post(
        reverse("access-request", args=[req.pk]),
        {"action": "delegate", "comments": "Ask Spare", "delegate_to": world.spare.pk},
    )
    assert response.status_code == 302
    assert world.spare in req.approvers.all() and world.admin not in req.approvers.all()
    page = signed_in(world.spare).get(reverse("access-request", args=[req.pk])).content.decode()
    assert "Record decision" in page


def test_deny_and_a_second_review_is_refused(world, db_resource):
    req = submit(world)
    url = reverse("access-request", args=[req.pk])
    assert signed_in(world.admin).post(url, {"action": "deny"}).status_code == 302
    req.refresh_from_db()
    assert req.status == "denied"
    again = signed_in(world.manager).post(url, {"action": "approve"})
    assert again.status_code == 409
    assert "The request is denied." in again.content.decode()


def test_requester_cannot_review_and_cancels(world, db_resource):
    req = submit(world)
    client = signed_in(world.member)
    url = reverse("access-request", args=[req.pk])
    page = client.get(url).content.decode()
    assert "Record decision" not in page and "Cancel the request" in page
    refused = client.post(url, {"action": "approve"})
    assert refused.status_code == 403
    assert "You are not an approver of this request." in refused.content.decode()
    response = client.post(reverse("access-request-cancel", args=[req.pk]))
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == "canceled"
    assert AuditEvent.objects.filter(action="access.request.canceled").count() == 1


def test_only_the_requester_cancels(world, db_resource):
    req = submit(world)
    signed_in(world.admin).post(reverse("access-request-cancel", args=[req.pk]))
    req.refresh_from_db()
    assert req.status == "pending"


@pytest.mark.parametrize("who", ["spare", "outsider"])
def test_someone_elses_request_is_404(world, db_resource, who):
    req = submit(world)
    client = signed_in(world.person(who))
    assert client.get(reverse("access-request", args=[req.pk])).status_code == 404
    assert (
        client.post(reverse("access-request", args=[req.pk]), {"action": "approve"}).status_code
        == 404
    )
    assert client.post(reverse("access-request-cancel", args=[req.pk])).status_code == 404
    assert client.get(reverse("access-request", args=[uuid.uuid4()])).status_code == 404


def test_holder_ends_a_grant_and_others_get_404(world, db_resource):
    req = submit(world)
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get()
    url = reverse("access-grant-revoke", args=[grant.pk])
    assert signed_in(world.spare).post(url).status_code == 404
    assert signed_in(world.outsider).post(url).status_code == 404
    response = signed_in(world.member).post(url)
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked"
    signed_in(world.member).post(url)  # already ended: a message, nothing written
    assert AuditEvent.objects.filter(action="access.grant.revoked").count() == 1


# --- an organization's pages --------------------------------------------------------------


def org_urls(world) -> dict[str, str]:
    org = world.org.pk
    return {
        "resources": reverse("org-access-resources", args=[org]),
        "resource": reverse("org-access-resource", args=[org, "production-db"]),
        "grants": reverse("org-access-grants", args=[org]),
        "policies": reverse("org-access-policies", args=[org]),
        "policy": reverse("org-access-policy", args=[org, "password"]),
    }


# Per page, who gets it (200); other members get 403, the resources list aside (members read
# it, without the form).
ALLOWED = {
    "resources": {"owner", "admin", "manager", "member"},
    "resource": {"owner", "admin"},
    "grants": {"owner", "admin"},
    "policies": {"owner", "admin"},
    "policy": {"owner", "admin"},
}


@pytest.mark.parametrize("role", ["owner", "admin", "manager", "member"])
def test_access_home_links_the_organizations_one_manages(world, role):
    page = signed_in(world.person(role)).get(reverse("access-home")).content.decode()
    link = reverse("org-access-resources", args=[world.org.pk])
    assert (link in page) == (role in {"owner", "admin"})


@pytest.mark.parametrize("role", ["owner", "admin", "manager", "member"])
def test_organization_pages_per_role(world, db_resource, role):
    client = signed_in(world.person(role))
    for name, url in org_urls(world).items():
        response = client.get(url)
        expected = 200 if role in ALLOWED[name] else 403
        assert response.status_code == expected, (name, role, response.status_code)
    form = "Add resource" in client.get(org_urls(world)["resources"]).content.decode()
    assert form == (role in {"owner", "admin"})


@pytest.mark.parametrize("who", ["outsider", "boss"])
def test_organization_pages_are_404_outside(world, db_resource, other_org, who):
    user = other_org[1] if who == "boss" else world.outsider
    client = signed_in(user)
    for name, url in org_urls(world).items():
        assert client.get(url).status_code == 404, name
    assert client.post(org_urls(world)["policy"], {"min_length": 20}).status_code == 404


def test_admin_describes_edits_and_deletes_a_resource(world):
    client = signed_in(world.admin)
    url = reverse("org-access-resources", args=[world.org.pk])
    response = client.post(
        url,
        {
            "key": "billing",
            "name": "Billing console",
            "levels": "read, write",
            "approver_roles": ["owner"],
            "approver_users": [str(world.manager.pk)],
            "min_approvals": 1,
            "max_duration_days": 3,
            "pending_days": 2,
            "auto_approve_levels": "read",
        },
    )
    assert response.status_code == 302
    row = RequestableResource.objects.get(key="billing")
    assert row.levels == ["read", "write"] and row.auto_approve_levels == ["read"]
    assert row.approvers == {"roles": ["owner"], "teams": [], "users": [str(world.manager.pk)]}
    edit = reverse("org-access-resource", args=[world.org.pk, "billing"])
    assert "Billing console" in client.get(edit).content.decode()
    response = client.post(
        edit,
        {
            "name": "Billing",
            "levels": "read write admin",
            "approver_roles": ["owner"],
            "min_approvals": 1,
            "max_duration_days": 5,
            "pending_days": 2,
            "auto_approve_levels": "",
        },
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.name, row.levels, row.max_duration_days) == (
        "Billing",
        ["read", "write", "admin"],
        5,
    )
    assert row.approvers["users"] == []
    delete = reverse("org-access-resource-delete", args=[world.org.pk, "billing"])
    assert signed_in(world.member).post(delete).status_code == 403
    assert client.post(delete).status_code == 302
    assert not RequestableResource.objects.filter(key="billing").exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "access.resource.created",
        "access.resource.updated",
        "access.resource.deleted",
    } <= actions


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"levels": "Read"}, 400, "Lower-case letters, digits, - and _."),
        ({"auto_approve_levels": "admin"}, 400, "Not among the levels: admin."),
        ({"max_duration_days": 999}, 400, "Between 1 and 365."),
        ({"key": "production-db"}, 409, "The organization has a resource with this key."),
        ({"key": "Bad Key"}, 400, "Lower-case letters"),
    ],
)
def test_bad_resources_are_refused_in_words(world, db_resource, change, status, words):
    body = {
        "key": "billing",
        "name": "Billing",
        "levels": "read, write",
        "min_approvals": 1,
        "max_duration_days": 3,
        "pending_days": 2,
        **change,
    }
    before = RequestableResource.objects.count()
    response = signed_in(world.admin).post(
        reverse("org-access-resources", args=[world.org.pk]), body
    )
    assert response.status_code == status
    assert words in response.content.decode()
    assert RequestableResource.objects.count() == before


def test_member_cannot_post_a_resource(world):
    response = signed_in(world.member).post(
        reverse("org-access-resources", args=[world.org.pk]),
        {"key": "x", "name": "x", "levels": "read", "min_approvals": 1},
    )
    assert response.status_code == 403
    assert not RequestableResource.objects.exists()


def test_built_in_resources_are_not_edited(world):
    url = reverse("org-access-resource", args=[world.org.pk, "org-role:admin"])
    assert signed_in(world.owner).get(url).status_code == 404


def test_org_grants_list_and_revoke(world, db_resource):
    req = submit(world)
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get()
    client = signed_in(world.owner)
    assert "member@example.com" in client.get(org_urls(world)["grants"]).content.decode()
    response = client.post(
        reverse("access-grant-revoke", args=[grant.pk]), {"back": "organization"}
    )
    assert response["Location"] == org_urls(world)["grants"]
    grant.refresh_from_db()
    assert grant.status == "revoked"


def test_policies_page_lists_every_policy_type(world):
    from access.policies.types import POLICY_TYPES

    page = signed_in(world.owner).get(org_urls(world)["policies"]).content.decode()
    for policy_type, fields in POLICY_TYPES.items():
        assert f'data-testid="policy-{policy_type}"' in page
        assert reverse("org-access-policy", args=[world.org.pk, policy_type]) in page
        form = signed_in(world.owner).get(
            reverse("org-access-policy", args=[world.org.pk, policy_type])
        )
        for f in fields:
            assert f'name="{f.name}"' in form.content.decode()


def test_owner_tightens_the_password_policy(world):
    values = policy_selectors.policy_values(world.org, "password")
    body = {k: v for k, v in values.items() if not isinstance(v, bool) or v}
    body["min_length"] = values["min_length"] + 6
    response = signed_in(world.owner).post(org_urls(world)["policy"], body)
    assert response.status_code == 302
    stored = SecurityPolicy.objects.get(organization=world.org, policy_type="password")
    assert stored.values["min_length"] == values["min_length"] + 6
    assert AuditEvent.objects.filter(action="policy.password.updated").count() == 1


def test_a_weaker_policy_is_refused_in_words(world):
    values = policy_selectors.policy_values(world.org, "password")
    body = {k: v for k, v in values.items() if not isinstance(v, bool) or v}
    body["min_length"] = values["min_length"] - 1
    response = signed_in(world.owner).post(org_urls(world)["policy"], body)
    assert response.status_code == 400
    assert "may not be weaker than the platform" in response.content.decode()
    assert not SecurityPolicy.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_unknown_policy_type_is_404(world):
    url = reverse("org-access-policy", args=[world.org.pk, "nothing"])
    assert signed_in(world.owner).get(url).status_code == 404


def test_admin_cannot_post_a_policy_without_policies_manage(world):
    response = signed_in(world.manager).post(org_urls(world)["policy"], {"min_length": 30})
    assert response.status_code == 403
    assert not SecurityPolicy.objects.exists()


def test_an_organization_that_is_not_a_uuid_shows_the_first_one(world, db_resource):
    page = signed_in(world.member).get(reverse("access-request-new"), {"organization": "x'<"})
    assert page.status_code == 200 and "Production database" in page.content.decode()
    refused = signed_in(world.member).post(
        reverse("access-request-new"), {"organization": "x'<", "resource": "production-db"}
    )
    assert refused.status_code == 404


def test_a_new_policy_type_is_set_from_its_definition(world):
    """A type with a list of choices (mfa's required_for) works on the page as it is
    defined, with no page of its own."""
    from access.policies.types import POLICY_TYPES

    policy_type, fields = next(
        ((t, fs) for t, fs in POLICY_TYPES.items() if any(f.choices for f in fs)), (None, ())
    )
    if policy_type is None:
        pytest.skip("no policy type with choices")
    values = policy_selectors.policy_values(world.org, policy_type)
    body = {}
    for f in fields:
        if f.choices:
            body[f.name] = f.choices[-1]  # the strictest
        elif f.kind is bool:
            if values[f.name]:
                body[f.name] = "on"
        else:
            body[f.name] = values[f.name]
    url = reverse("org-access-policy", args=[world.org.pk, policy_type])
    response = signed_in(world.owner).post(url, body)
    assert response.status_code == 302, response.content.decode()[-2000:]
    stored = SecurityPolicy.objects.get(organization=world.org, policy_type=policy_type)
    choice = next(f for f in fields if f.choices)
    assert stored.values[choice.name] == choice.choices[-1]


def test_list_pages_read_in_a_fixed_number_of_queries(
    world, db_resource, django_assert_max_num_queries
):
    for level in ("read", "write", "admin"):
        req = submit(world, access_level=level)
        svc.request_review(access_request=req, reviewer=world.admin, action="approve")
        submit(world, requester=world.spare, access_level=level)
    pages = [
        (world.member, reverse("access-home")),
        (world.admin, reverse("access-reviews")),
        (world.admin, reverse("access-home")),
        (world.owner, reverse("org-access-grants", args=[world.org.pk])),
        (world.owner, reverse("org-access-resources", args=[world.org.pk])),
    ]
    for user, url in pages:
        client = signed_in(user)
        with django_assert_max_num_queries(40):
            assert client.get(url).status_code == 200, url
