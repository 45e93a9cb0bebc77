"""The access API through JWTs and API keys: who may do what (per role), what is hidden
(404), bad input (precise 4xx), and GET /access/check in a pinned number of queries."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from access.models import AccessRequest, Grant
from access.services import requests as svc
from tests.access.conftest import assert_error, jwt_client, key_client

pytestmark = pytest.mark.django_db

RESOURCE_BODY = {
    "key": "billing",
    "name": "Billing",
    "levels": ["read", "write"],
    "approvers": {"roles": ["admin"], "teams": [], "users": []},
    "max_duration_days": 10,
}


def _resources(world) -> str:
    return f"/api/v1/orgs/{world.org.pk}/resources"


def _ask(client, world, **kw):
    body = {
        "organization": str(world.org.pk),
        "resource": "production-db",
        "access_level": "write",
        "justification": "Incident 42",
        "duration_days": 3,
    }
    body.update(kw)
    return client.post("/api/v1/access-requests", body, format="json")


# --- resources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, code", [("owner", 201), ("admin", 201), ("manager", 403), ("member", 403)]
)
def test_resource_create_per_role(world, role, code):
    response = jwt_client(world.person(role)).post(_resources(world), RESOURCE_BODY, format="json")
    assert response.status_code == code, response.content
    if code == 201:
        assert response.json()["max_duration_days"] == 10
        assert response.json()["pending_days"] == 7


def test_resource_non_member_404_and_anonymous_401(world, db_resource):
    assert jwt_client(world.outsider).get(_resources(world)).status_code == 404
    assert jwt_client(world.outsider).get(f"{_resources(world)}/production-db").status_code == 404
    assert APIClient().get(_resources(world)).status_code == 401
    assert jwt_client(world.member).get(f"/api/v1/orgs/{uuid.uuid4()}/resources").status_code == 404


def test_resource_list_read_update_delete(world, db_resource):
    member = jwt_client(world.member)
    keys = [r["key"] for r in member.get(_resources(world)).json()]
    assert keys[0] == "production-db" and "org-role:admin" in keys
    assert member.get(f"{_resources(world)}/org-role:member").json()["builtin"] is True
    assert_error(member.get(f"{_resources(world)}/nope"), 404, "unknown_resource")
    admin = jwt_client(world.admin)
    url = f"{_resources(world)}/production-db"
    assert member.patch(url, {"min_approvals": 2}, format="json").status_code == 403
    assert admin.patch(url, {"min_approvals": 2}, format="json").json()["min_approvals"] == 2
    assert_error(
        admin.patch(f"{_resources(world)}/org-role:member", {"name": "x"}, format="json"),
        409,
        "resource_builtin",
    )
    assert member.delete(url).status_code == 403
    assert admin.delete(url).status_code == 204
    assert member.get(url).status_code == 404


def test_resource_bad_input(world, db_resource):
    admin = jwt_client(world.admin)
    assert_error(
        admin.post(_resources(world), {**RESOURCE_BODY, "key": "Bad Key"}, format="json"),
        400,
        "invalid",
        "key",
    )
    assert_error(
        admin.post(_resources(world), {**RESOURCE_BODY, "levels": []}, format="json"),
        400,
        "min_length",
        "levels",
    )
    assert_error(
        admin.post(
            _resources(world), {**RESOURCE_BODY, "auto_approve_levels": ["admin"]}, format="json"
        ),
        400,
        "unknown_level",
    )
    assert_error(
        admin.post(
            _resources(world), {**RESOURCE_BODY, "approvers": {"roles": ["ghost"]}}, format="json"
        ),
        400,
        "unknown_role",
    )
    assert_error(
        admin.post(
            _resources(world),
            {**RESOURCE_BODY, "approvers": {"users": [str(world.outsider.pk)]}},
            format="json",
        ),
        400,
        "not_a_member",
    )
    assert_error(
        admin.post(_resources(world), {**RESOURCE_BODY, "colour": 1}, format="json"),
        400,
        "unknown_field",
    )
    assert_error(
        admin.post(_resources(world), {**RESOURCE_BODY, "key": "production-db"}, format="json"),
        409,
        "key_taken",
    )
    bad_json = admin.post(_resources(world), "{not json", content_type="application/json")
    assert bad_json.status_code == 400


# --- requests and reviews -----------------------------------------------------------------


def test_request_review_flow_through_the_api(world, db_resource):
    member = jwt_client(world.member)
    response = _ask(member, world)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert {a["id"] for a in body["approvers"]} == {str(world.admin.pk), str(world.manager.pk)}
    assert body["decide_by"].endswith("Z")
    rid = body["id"]
    # Visible to an access:manage holder who is not an approver: 403 on review.
    assert_error(
        jwt_client(world.owner).post(
            f"/api/v1/access-requests/{rid}/review", {"action": "approve"}, format="json"
        ),
        403,
        "not_an_approver",
    )
    # Invisible to a member who is neither requester nor approver: 404.
    assert (
        jwt_client(world.spare)
        .post(f"/api/v1/access-requests/{rid}/review", {"action": "approve"}, format="json")
        .status_code
        == 404
    )
    manager = jwt_client(world.manager)
    assert [
        r["id"] for r in manager.get("/api/v1/access-requests?as=approver").json()["results"]
    ] == [rid]
    assert manager.get("/api/v1/access-requests?as=requester").json()["results"] == []
    assert_error(
        manager.post(
            f"/api/v1/access-requests/{rid}/review",
            {"action": "approve", "conditions": {"duration_days": 9}},
            format="json",
        ),
        400,
        "conditions_wider",
    )
    response = manager.post(
        f"/api/v1/access-requests/{rid}/review",
        {"action": "approve", "comments": "go", "conditions": {"access_level": "read"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved"
    assert body["reviews"][0]["comment"] == "go"
    assert body["grant"]["access_level"] == "read" and body["grant"]["status"] == "active"
    assert_error(
        jwt_client(world.admin).post(
            f"/api/v1/access-requests/{rid}/review", {"action": "deny"}, format="json"
        ),
        409,
        "already_decided",
    )
    grants = member.get("/api/v1/users/me/grants").json()["results"]
    assert [g["id"] for g in grants] == [body["grant"]["id"]]
    assert member.get(f"/api/v1/orgs/{world.org.pk}/grants").status_code == 403
    assert (
        len(jwt_client(world.admin).get(f"/api/v1/orgs/{world.org.pk}/grants").json()["results"])
        == 1
    )
    assert jwt_client(world.outsider).get(f"/api/v1/orgs/{world.org.pk}/grants").status_code == 404


def test_request_bad_input(world, db_resource):
    member = jwt_client(world.member)
    assert_error(_ask(member, world, resource="nope"), 404, "unknown_resource")
    assert_error(_ask(member, world, access_level="root"), 400, "unknown_level")
    assert_error(_ask(member, world, duration_days=15), 400, "duration_too_long")
    assert_error(_ask(member, world, duration_days=0), 400, "min_value", "duration_days")
    assert_error(_ask(member, world, organization="not-a-uuid"), 400, "invalid", "organization")
    assert _ask(jwt_client(world.outsider), world).status_code == 404
    assert _ask(jwt_client(world.manager), world).status_code == 403
    assert _ask(member, world).status_code == 201
    assert_error(_ask(member, world), 409, "request_pending")
    rid = AccessRequest.objects.get().pk
    assert_error(
        member.post(f"/api/v1/access-requests/{rid}/review", {"action": "approve"}, format="json"),
        403,
        "not_an_approver",
    )
    assert (
        member.post("/api/v1/access-requests/not-a-uuid/review", {}, format="json").status_code
        == 404
    )
    assert member.post(f"/api/v1/access-requests/{uuid.uuid4()}/cancel").status_code == 404
    manager = jwt_client(world.manager)
    assert_error(
        manager.post(
            f"/api/v1/access-requests/{rid}/review",
            {"action": "delegate", "delegate_to": str(world.member.pk)},
            format="json",
        ),
        400,
        "invalid_delegate",
    )
    assert_error(
        manager.post(f"/api/v1/access-requests/{rid}/review", {"action": "maybe"}, format="json"),
        400,
        "invalid_choice",
    )
    assert manager.post(f"/api/v1/access-requests/{rid}/cancel").status_code == 403
    assert member.post(f"/api/v1/access-requests/{rid}/cancel").json()["status"] == "canceled"
    assert_error(member.post(f"/api/v1/access-requests/{rid}/cancel"), 409, "already_decided")
    assert_error(
        member.get("/api/v1/access-requests?status=unknown"), 400, "invalid_choice", "status"
    )


def test_revoke_through_the_api(world, db_resource):
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="production-db",
        access_level="read",
        justification="x",
        duration_days=1,
    )
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get()
    url = f"/api/v1/grants/{grant.pk}/revoke"
    assert jwt_client(world.spare).post(url).status_code == 404
    assert jwt_client(world.member).post(url).json()["status"] == "revoked"
    assert_error(jwt_client(world.owner).post(url), 409, "grant_ended")


# --- check --------------------------------------------------------------------------------


def _granted(world):
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="production-db",
        access_level="write",
        justification="x",
        duration_days=1,
    )
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    return Grant.objects.get(request=req)


def _check_url(world, user, level="write") -> str:
    return (
        f"/api/v1/access/check?user={user.pk}&organization={world.org.pk}"
        f"&resource=production-db&access_level={level}"
    )


def test_check_by_jwt(world, db_resource):
    grant = _granted(world)
    client = jwt_client(world.member)
    body = client.get(_check_url(world, world.member)).json()
    assert body == {
        "allowed": True,
        "via": "grant",
        "grant": str(grant.pk),
        "expires_at": body["expires_at"],
    }
    assert body["expires_at"].endswith("Z")
    assert client.get(_check_url(world, world.member, level="read")).json() == {
        "allowed": False,
        "via": None,
        "grant": None,
        "expires_at": None,
    }
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        # The expiry task has not run; the check compares the time itself.
        late = jwt_client(world.member).get(_check_url(world, world.member))
        assert late.json()["allowed"] is False
        assert Grant.objects.get(pk=grant.pk).status == "active"
    # With a JWT a user asks about themself only.
    assert jwt_client(world.admin).get(_check_url(world, world.member)).status_code == 403
    assert APIClient().get(_check_url(world, world.member)).status_code == 401


def _work_queries(client, url) -> list[str]:
    """The statements a warm request runs beyond authentication (which the accounts tests
    pin: none on Redis, the user or key row without it)."""
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in ctx.captured_queries]
    return [q for q in sql if "access_" in q or "orgs_" in q]


def test_check_queries_pinned(world, db_resource):
    """By JWT the check is one query on the grant_check index. By API key it adds the key
    owner's access:manage (organization, its domains, membership, roles, role grants)."""
    _granted(world)
    jwt = jwt_client(world.member)
    for level in ("write", "read"):
        work = _work_queries(jwt, _check_url(world, world.member, level=level))
        assert len(work) == 1 and "access_grant" in work[0] and "LIMIT 1" in work[0]
    key = key_client(world.admin, ["access:check"])
    assert len(_work_queries(key, _check_url(world, world.member))) == 6


def test_check_by_api_key(world, db_resource):
    _granted(world)
    admin_key = key_client(world.admin, ["access:check"])
    assert admin_key.get(_check_url(world, world.member)).json()["allowed"] is True
    # A key without the scope, or whose owner lacks access:manage, is refused.
    assert_error(
        key_client(world.admin, ["orgs:read"]).get(_check_url(world, world.member)),
        403,
        "insufficient_scope",
    )
    assert (
        key_client(world.manager, ["access:check"]).get(_check_url(world, world.member)).status_code
        == 403
    )
    assert (
        key_client(world.outsider, ["access:check"])
        .get(_check_url(world, world.member))
        .status_code
        == 404
    )
    assert_error(
        admin_key.get("/api/v1/access/check?user=x&organization=y&resource=a&access_level=b"),
        400,
        "invalid",
        "user",
    )


def test_org_role_grant_answers_via_grant_and_role(world):
    member = jwt_client(world.member)
    url = (
        f"/api/v1/access/check?user={world.member.pk}&organization={world.org.pk}"
        "&resource=org-role:member&access_level=assume"
    )
    assert member.get(url).json()["via"] == "role"
    response = _ask(member, world, resource="org-role:admin", access_level="assume")
    assert response.status_code == 201, response.content
    assert {a["id"] for a in response.json()["approvers"]} == {
        str(world.owner.pk),
        str(world.admin.pk),
    }


# --- who may do what, per role ------------------------------------------------------------

MATRIX = {
    # role: (GET resources, POST resources, GET org grants, POST access-requests)
    "owner": (200, 201, 200, 201),
    "admin": (200, 201, 200, 201),
    "manager": (200, 403, 403, 403),
    "member": (200, 403, 403, 201),
    "outsider": (404, 404, 404, 404),
}


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_routes_per_role(world, db_resource, role):
    client = jwt_client(world.person(role))
    got = (
        client.get(_resources(world)).status_code,
        client.post(_resources(world), RESOURCE_BODY, format="json").status_code,
        client.get(f"/api/v1/orgs/{world.org.pk}/grants").status_code,
        _ask(client, world, access_level="read").status_code,
    )
    assert got == MATRIX[role]


def test_lists_cost_the_same_for_more_rows(world, db_resource):
    """GET /access-requests (with approvers, reviews and grants) and the grant lists run a
    fixed number of statements, whatever the number of rows."""
    member_urls = ["/api/v1/access-requests", "/api/v1/users/me/grants"]
    admin_urls = [f"/api/v1/orgs/{world.org.pk}/grants", "/api/v1/access-requests?as=approver"]

    def grant_one(level: str, who) -> None:
        req = svc.request_submit(
            organization=world.org,
            requester=who,
            resource="production-db",
            access_level=level,
            justification="x",
            duration_days=1,
        )
        svc.request_review(access_request=req, reviewer=world.manager, action="approve")

    def counts() -> list[int]:
        found = []
        for client, urls in (
            (jwt_client(world.member), member_urls),
            (jwt_client(world.admin), admin_urls),
        ):
            for url in urls:
                client.get(url)
                with CaptureQueriesContext(connection) as ctx:
                    assert client.get(url).status_code == 200
                found.append(len(ctx.captured_queries))
        return found

    grant_one("read", world.member)
    few = counts()
    grant_one("write", world.member)
    grant_one("admin", world.member)
    grant_one("read", world.spare)
    assert (
        len(jwt_client(world.admin).get("/api/v1/access-requests?as=approver").json()["results"])
        == 4
    )
    assert counts() == few
