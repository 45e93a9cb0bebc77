import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from accounts.models import User
from accounts.roles import assign_roles
from audit.models import AuditEvent
from tests.accounts.users_helpers import api_key_client, assert_error, jwt_client

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users"


def _detail(user) -> str:
    return f"{USERS}/{user.pk}"


# --- GET /users ------------------------------------------------------------------------------


def test_list_anonymous_401_member_403(anon_client, member, client_for):
    assert_error(anon_client.get(USERS), 401, "not_authenticated")
    assert_error(client_for(member).get(USERS), 403, "permission_denied")


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_list_managers_and_admins_see_everyone(role, user_factory, client_for):
    viewer = user_factory(roles=[role])
    user_factory.create_batch(3)
    response = client_for(viewer).get(USERS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    row = body["results"][0]
    assert "slot_limit" in row and "roles" in row and "password" not in row


def test_list_api_keys_are_refused_even_for_admins(admin_user):
    client = api_key_client(admin_user, ["profile:read"])
    assert_error(client.get(USERS), 403, "api_key_not_allowed")


def test_list_with_jwt(manager):
    assert jwt_client(manager).get(USERS).status_code == 200


def test_list_filters_by_status_role_and_q(manager, user_factory, client_for):
    suspended = user_factory(email="sus@example.com")
    User.objects.filter(pk=suspended.pk).update(status="suspended", is_active=False)
    admin = user_factory(email="boss@example.com", roles=["admin"])
    user_factory(email="zoe@example.com", display_name="Zoë Ünïcode")
    client = client_for(manager)

    emails = lambda r: sorted(u["email"] for u in r.json()["results"])  # noqa: E731
    assert emails(client.get(USERS, {"status": "suspended"})) == ["sus@example.com"]
    assert emails(client.get(USERS, {"role": "admin"})) == [admin.email]
    assert emails(client.get(USERS, {"role": "manager"})) == [manager.email]
    assert emails(client.get(USERS, {"q": "Ünï"})) == ["zoe@example.com"]
    assert emails(client.get(USERS, {"q": "BOSS@"})) == ["boss@example.com"]
    assert emails(client.get(USERS, {"q": "%"})) == []  # LIKE wildcards are literal
    assert emails(client.get(USERS, {"q": "' OR 1=1 --"})) == []


def test_list_ordering_and_pagination(manager, user_factory, client_for):
    for name in ("b", "c", "a"):
        user_factory(email=f"{name}@example.com")
    client = client_for(manager)
    body = client.get(USERS, {"ordering": "email", "page_size": 2}).json()
    assert [u["email"] for u in body["results"]] == ["a@example.com", "b@example.com"]
    assert body["count"] == 4 and body["next"] is not None
    body = client.get(USERS, {"ordering": "-email", "page_size": 2, "page": 2}).json()
    assert [u["email"] for u in body["results"]] == ["b@example.com", "a@example.com"]


@pytest.mark.parametrize("ordering", ["", " ", ",", "email,", ",email", "email,,-status"])
def test_list_blank_sort_keys_are_400(manager, client_for, ordering):
    response = client_for(manager).get(USERS, {"ordering": ordering})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "ordering" and error["code"] == "invalid_choice"
    assert client_for(manager).get(USERS, {"ordering": "email,-status"}).status_code == 200


def test_list_page_size_capped_at_200(manager, user_factory, client_for):
    User.objects.bulk_create([User(email=f"bulk{i}@example.com", password="!") for i in range(205)])
    client = client_for(manager)
    assert len(client.get(USERS, {"page_size": 200}).json()["results"]) == 200
    # Above the cap: refused or capped (the pagination's choice), never more than 200 rows.
    response = client.get(USERS, {"page_size": 1000})
    if response.status_code == 400:
        assert_error(response, 400, "max_value", "page_size")
    else:
        assert len(response.json()["results"]) == 200


@pytest.mark.parametrize(
    ("params", "code", "attr"),
    [
        ({"status": "gone"}, "invalid_choice", "status"),
        ({"role": "root"}, "invalid_choice", "role"),
        ({"status": ""}, "invalid_choice", "status"),
        ({"role": ""}, "invalid_choice", "role"),
        ({"ordering": "password"}, "invalid_choice", "ordering"),
        ({"q": "x" * 300}, "max_length", "q"),
        ({"q": "a\x00b"}, "null_characters_not_allowed", "q"),
    ],
)
def test_list_bad_filters_are_400(manager, client_for, params, code, attr):
    assert_error(client_for(manager).get(USERS, params), 400, code, attr)


def test_list_query_count_does_not_grow_with_the_page(
    manager, user_factory, client_for, django_assert_max_num_queries
):
    client = client_for(manager)
    user_factory.create_batch(2)
    client.get(USERS)  # the first request of a session also creates its activity row
    # 7 are the session and its activity tracking (middleware); the view itself needs the
    # two permission lookups, the count, the page, and one query for the flags of the page.
    with django_assert_max_num_queries(12) as small:
        assert client.get(USERS).status_code == 200
    for i, user in enumerate(user_factory.create_batch(40)):
        assign_roles(user, ["manager", "admin"] if i % 2 else ["member"])
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        Authenticator.objects.create(user=user, type="totp", data={})
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(USERS, {"page_size": 50}).json()
    assert len(body["results"]) == 43
    assert any(u["mfa_enabled"] and u["email_verified"] for u in body["results"])
    assert any(u["roles"] == ["manager", "admin"] for u in body["results"])


# --- GET/PATCH/DELETE /users/{id} ----------------------------------------------------------


def test_detail_anonymous_401(anon_client, member):
    assert_error(anon_client.get(_detail(member)), 401, "not_authenticated")


def test_detail_member_probing_someone_else_gets_404_for_every_method(
    member, other_member, client_for
):
    client = client_for(member)
    assert_error(client.get(_detail(other_member)), 404, "not_found")
    assert_error(client.patch(_detail(other_member), {"status": "suspended"}), 404, "not_found")
    assert_error(client.delete(_detail(other_member)), 404, "not_found")
    # Same answer as for an id that does not exist.
    assert_error(client.get(f"{USERS}/{uuid.uuid4()}"), 404, "not_found")
    other_member.refresh_from_db()
    assert other_member.status == "active"


def test_detail_member_sees_self_but_cannot_change_self(member, client_for):
    client = client_for(member)
    assert client.get(_detail(member)).json()["id"] == str(member.pk)
    assert_error(client.patch(_detail(member), {"roles": ["admin"]}), 403, "permission_denied")
    assert_error(client.delete(_detail(member)), 403, "permission_denied")
    member.refresh_from_db()
    assert member.roles == ["member"]


def test_detail_manager_reads_but_cannot_change(manager, member, client_for):
    client = client_for(manager)
    body = client.get(_detail(member)).json()
    assert body["email"] == member.email and body["slot_limit"] is None
    assert_error(client.patch(_detail(member), {"status": "suspended"}), 403, "permission_denied")
    assert_error(client.delete(_detail(member)), 403, "permission_denied")


def test_detail_unknown_id_404_and_non_uuid_404(admin_user, client_for):
    client = client_for(admin_user)
    assert_error(client.get(f"{USERS}/{uuid.uuid4()}"), 404, "not_found")
    assert_error(client.get(f"{USERS}/123"), 404, "not_found")


def test_detail_put_is_not_allowed(admin_user, member, client_for):
    assert_error(client_for(admin_user).put(_detail(member), {}), 405, "method_not_allowed")


def test_admin_patch_status_roles_and_slot_limit(admin_user, member, client_for):
    response = client_for(admin_user).patch(
        _detail(member), {"status": "suspended", "roles": ["manager"], "slot_limit": 7}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "suspended"
    assert body["roles"] == ["manager"]
    assert body["slot_limit"] == 7
    member.refresh_from_db()
    assert member.is_active is False and member.is_staff is True
    roles_event = AuditEvent.objects.get(action="user.roles.changed")
    assert roles_event.changes == {"roles": [["member"], ["manager"]]}
    assert roles_event.actor_id == str(admin_user.pk)
    updated = AuditEvent.objects.get(action="user.updated")
    assert updated.changes["status"] == ["active", "suspended"]
    assert updated.changes["slot_limit"] == [None, 7]


def test_admin_patch_with_trailing_slash(admin_user, member, client_for):
    response = client_for(admin_user).patch(_detail(member) + "/", {"slot_limit": None})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"status": "banned"}, "invalid_choice", "status"),
        ({"roles": ["root"]}, "invalid_choice", "roles.0"),
        ({"roles": []}, "min_length", "roles"),
        ({"roles": "admin"}, "not_a_list", "roles"),
        ({"slot_limit": -1}, "min_value", "slot_limit"),
        ({"slot_limit": "5"}, "invalid", "slot_limit"),
        ({"slot_limit": 10**12}, "max_value", "slot_limit"),
        ({"email": "x@example.com"}, "read_only_field", "email"),
        ({"display_name": "x"}, "read_only_field", "display_name"),
        ({"is_superuser": True}, "unknown_field", "is_superuser"),
    ],
)
def test_admin_patch_bad_input(admin_user, member, client_for, payload, code, attr):
    assert_error(client_for(admin_user).patch(_detail(member), payload), 400, code, attr)


def test_admin_cannot_remove_own_admin_role_when_last(admin_user, client_for):
    client = client_for(admin_user)
    assert_error(client.patch(_detail(admin_user), {"roles": ["member"]}), 409, "last_admin")
    assert_error(client.patch(_detail(admin_user), {"status": "suspended"}), 409, "last_admin")
    assert_error(client.delete(_detail(admin_user)), 409, "last_admin")
    admin_user.refresh_from_db()
    assert admin_user.roles == ["admin"] and admin_user.status == "active"


def test_admin_can_step_down_when_another_active_admin_exists(admin_user, user_factory, client_for):
    user_factory(roles=["admin"])
    response = client_for(admin_user).patch(_detail(admin_user), {"roles": ["member"]})
    assert response.status_code == 200
    assert response.json()["roles"] == ["member"]


def test_suspended_admin_does_not_count_as_remaining_admin(admin_user, user_factory, client_for):
    other = user_factory(roles=["admin"])
    User.objects.filter(pk=other.pk).update(status="suspended", is_active=False)
    assert_error(
        client_for(admin_user).patch(_detail(admin_user), {"roles": ["member"]}), 409, "last_admin"
    )


def test_admin_delete_deactivates(admin_user, member, client_for):
    client = client_for(admin_user)
    assert client.delete(_detail(member)).status_code == 204
    member.refresh_from_db()
    assert member.status == "deactivated" and member.is_active is False
    assert member.deactivated_at is not None and member.erasure_due_at is None
    assert (
        AuditEvent.objects.filter(action="user.deactivated", target_id=str(member.pk)).count() == 1
    )
    # Idempotent: a second DELETE changes nothing and records nothing.
    assert client.delete(_detail(member)).status_code == 204
    assert (
        AuditEvent.objects.filter(action="user.deactivated", target_id=str(member.pk)).count() == 1
    )


def test_admin_reactivates(admin_user, member, client_for):
    client = client_for(admin_user)
    client.delete(_detail(member))
    response = client.patch(_detail(member), {"status": "active"})
    assert response.json()["status"] == "active"
    member.refresh_from_db()
    assert member.is_active and member.deactivated_at is None


# --- POST /users/bulk ----------------------------------------------------------------------

BULK = f"{USERS}/bulk"


def test_bulk_role_matrix(anon_client, member, manager, client_for):
    body = {"action": "deactivate", "users": [{"id": str(member.pk)}]}
    assert_error(anon_client.post(BULK, body), 401, "not_authenticated")
    assert_error(client_for(member).post(BULK, body), 403, "permission_denied")
    assert_error(client_for(manager).post(BULK, body), 403, "permission_denied")
    member.refresh_from_db()
    assert member.status == "active"


def test_bulk_create_creates_and_audits_each(admin_user, client_for):
    users = [
        {"email": "New1@Example.com", "display_name": "Nü Ōne", "roles": ["manager"]},
        {"email": "new2@example.com", "password": "a-long-enough-passphrase", "slot_limit": 3},
    ]
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "create" and body["count"] == 2
    assert [r["result"] for r in body["results"]] == ["created", "created"]
    first = User.objects.get(email="new1@example.com")
    assert first.roles == ["manager"] and first.display_name == "Nü Ōne"
    assert not first.has_usable_password()
    second = User.objects.get(email="new2@example.com")
    assert second.check_password("a-long-enough-passphrase") and second.slot_limit == 3
    created = AuditEvent.objects.filter(action="user.created", actor_id=str(admin_user.pk))
    assert created.count() == 2
    assert all("password" not in str(e.changes) for e in created)


def test_bulk_one_bad_item_changes_nothing(admin_user, member, client_for):
    users = [
        {"email": "fine@example.com"},
        {"email": "member@example.com"},  # taken
        {"email": "also-fine@example.com", "username": "Member"},
        {"email": "third@example.com"},
    ]
    User.objects.filter(pk=member.pk).update(username="member")
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    body = assert_error(response, 409, "email_taken", "users.1.email")
    assert body["type"] == "client_error"
    # Every failing item is reported, not only the first.
    assert ("username_taken", "users.2.username") in [
        (e["code"], e["attr"]) for e in body["errors"]
    ]
    assert not User.objects.filter(email__in=["fine@example.com", "third@example.com"]).exists()
    assert not AuditEvent.objects.filter(action="user.created").exists()


def test_bulk_invalid_field_in_one_item_changes_nothing(admin_user, client_for):
    users = [{"email": "fine@example.com"}, {"email": "b@example.com", "phone": "nope"}]
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    assert_error(response, 400, "invalid_phone", "users.1.phone")
    assert not User.objects.filter(email="fine@example.com").exists()


def test_bulk_duplicate_within_one_request_fails_all(admin_user, client_for):
    users = [{"email": "dup@example.com"}, {"email": "DUP@example.com"}]
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    assert_error(response, 409, "email_taken", "users.1.email")
    assert not User.objects.filter(email="dup@example.com").exists()


def test_bulk_update_and_deactivate(admin_user, user_factory, client_for):
    a, b = user_factory(), user_factory()
    client = client_for(admin_user)
    response = client.post(
        BULK,
        {
            "action": "update",
            "users": [{"id": str(a.pk), "roles": ["manager"]}, {"id": str(b.pk), "slot_limit": 1}],
        },
    )
    assert response.status_code == 200, response.content
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.roles == ["manager"] and b.slot_limit == 1
    response = client.post(
        BULK, {"action": "deactivate", "users": [{"id": str(a.pk)}, {"id": str(b.pk)}]}
    )
    assert [r["result"] for r in response.json()["results"]] == ["deactivated"] * 2
    assert User.objects.filter(pk__in=[a.pk, b.pk], status="deactivated").count() == 2
    assert AuditEvent.objects.filter(action="user.deactivated").count() == 2


def test_bulk_deactivate_unknown_id_rolls_back_the_rest(admin_user, member, client_for):
    from tests.accounts.users_helpers import jwt_client

    signed_in = jwt_client(member)
    assert signed_in.get("/api/v1/users/me").status_code == 200
    users = [{"id": str(member.pk)}, {"id": str(uuid.uuid4())}]
    response = client_for(admin_user).post(BULK, {"action": "deactivate", "users": users})
    assert_error(response, 400, "not_found", "users.1.id")
    member.refresh_from_db()
    assert member.status == "active"
    assert not AuditEvent.objects.filter(action="user.deactivated").exists()
    # Nothing changed, so the member's API session still works.
    assert signed_in.get("/api/v1/users/me").status_code == 200


def test_bulk_mixed_failures_are_400_listing_all(admin_user, member, client_for):
    users = [{"id": str(member.pk)}, {"id": str(uuid.uuid4())}, {"id": str(admin_user.pk)}]
    response = client_for(admin_user).post(BULK, {"action": "deactivate", "users": users})
    body = assert_error(response, 400, "not_found", "users.1.id")
    assert ("last_admin", "users.2.status") in [(e["code"], e["attr"]) for e in body["errors"]]
    member.refresh_from_db()
    assert member.status == "active"


def test_bulk_delete_schedules_erasure(admin_user, member, client_for):
    response = client_for(admin_user).post(
        BULK, {"action": "delete", "users": [{"id": str(member.pk)}]}
    )
    assert response.json()["results"][0]["result"] == "deletion_scheduled"
    member.refresh_from_db()
    assert member.status == "deactivated" and member.erasure_due_at is not None


def test_bulk_cannot_remove_the_last_admin(admin_user, client_for):
    response = client_for(admin_user).post(
        BULK, {"action": "update", "users": [{"id": str(admin_user.pk), "roles": ["member"]}]}
    )
    assert_error(response, 409, "last_admin", "users.0.roles")
    assert admin_user.roles == ["admin"]


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"action": "explode", "users": [{}]}, "invalid_choice", "action"),
        ({"action": "create", "users": []}, "empty", "users.non_field_errors"),
        ({"action": "create"}, "required", "users"),
        ({"action": "create", "users": "all"}, "not_a_list", "users.non_field_errors"),
        ({"action": "create", "users": [{}]}, "required", "users.0.email"),
        ({"action": "create", "users": [{"email": "not-an-email"}]}, "invalid", "users.0.email"),
        (
            {"action": "create", "users": [{"email": "a@example.com", "id": str(uuid.uuid4())}]},
            "unknown_field",
            "users.0.id",
        ),
        ({"action": "update", "users": [{"id": "nope"}]}, "invalid", "users.0.id"),
        ({"action": "update", "users": [{"email": "a@example.com"}]}, "required", "users.0.id"),
        (
            {"action": "deactivate", "users": [{"id": str(uuid.uuid4()), "status": "active"}]},
            "unknown_field",
            "users.0.status",
        ),
        (
            {"action": "create", "users": [{"email": "a@example.com", "is_staff": True}]},
            "unknown_field",
            "users.0.is_staff",
        ),
        (
            {"action": "create", "users": [{"email": "a@example.com", "password": "123"}]},
            "password_too_short",
            "users.0.password",
        ),
        (
            {"action": "create", "users": [{"email": "a@example.com"}], "dry_run": True},
            "unknown_field",
            "dry_run",
        ),
    ],
)
def test_bulk_bad_input(admin_user, client_for, payload, code, attr):
    response = client_for(admin_user).post(BULK, payload)
    assert_error(response, 400, code, attr)
    assert User.objects.count() == 1


def test_bulk_limit_is_500(admin_user, client_for):
    users = [{"email": f"u{i}@example.com"} for i in range(501)]
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    assert_error(response, 400, "max_length", "users.non_field_errors")
    assert User.objects.count() == 1


def test_bulk_500_creates_in_one_request(admin_user, client_for):
    users = [{"email": f"u{i}@example.com"} for i in range(500)]
    response = client_for(admin_user).post(BULK, {"action": "create", "users": users})
    assert response.status_code == 200
    assert response.json()["count"] == 500
    assert User.objects.count() == 501


def test_bulk_api_key_refused(admin_user):
    client = api_key_client(admin_user, ["profile:write"])
    assert_error(
        client.post(BULK, {"action": "create", "users": [{"email": "a@example.com"}]}),
        403,
        "api_key_not_allowed",
    )


@pytest.mark.postgres
def test_list_search_has_trigram_indexes_on_postgres():
    from django.conf import settings
    from django.db import connection

    if not settings.IS_POSTGRES:
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'accounts_user' "
            "AND indexname LIKE 'user_search_%%_trgm'"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {
        f"user_search_{c}_trgm"
        for c in ("email", "username", "display_name", "first_name", "last_name")
    }
