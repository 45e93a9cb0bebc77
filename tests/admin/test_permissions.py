"""Who may do what in the admin: admins everything, managers read-only, members nothing;
audit events read-only for everyone."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.models import User

pytestmark = pytest.mark.django_db

READ_ONLY_FOR_MANAGERS = ["accounts/user", "slots/slot", "audit/auditevent"]


@pytest.mark.parametrize("model", READ_ONLY_FOR_MANAGERS)
def test_members_have_no_admin_access(member, web_client_for, model):
    client = web_client_for(member)

    for url in ("/admin/", f"/admin/{model}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("model", READ_ONLY_FOR_MANAGERS)
def test_managers_read_but_cannot_add(manager_web, model):
    assert manager_web.get(f"/admin/{model}/").status_code == 200
    assert manager_web.get(f"/admin/{model}/add/").status_code == 403


def test_manager_sees_user_page_read_only(manager_web, member):
    url = f"/admin/accounts/user/{member.pk}/change/"

    page = manager_web.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert 'name="display_name"' not in html
    assert member.email in html
    response = manager_web.post(url, {"display_name": "Hijacked", "groups": []})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.display_name != "Hijacked"


def test_manager_has_no_user_actions(manager_web, member):
    page = manager_web.get("/admin/accounts/user/")
    assert page.context["action_form"] is None or not page.context["cl"].actions

    for action in ("suspend_users", "change_roles", "sign_out_everywhere", "reset_mfa"):
        manager_web.post(
            "/admin/accounts/user/",
            {"action": action, ACTION_CHECKBOX_NAME: [str(member.pk)], "confirm": "yes"},
        )
    member.refresh_from_db()
    assert member.status == User.Status.ACTIVE and member.roles == ["member"]


def test_admin_sees_every_user_action(admin_web):
    page = admin_web.get("/admin/accounts/user/")

    choices = {name for name, _ in page.context["action_form"].fields["action"].choices}
    assert {
        "suspend_users",
        "reactivate_users",
        "deactivate_users",
        "sign_out_everywhere",
        "reset_mfa",
        "resend_verification_email",
        "send_password_reset",
        "revoke_api_keys",
        "change_roles",
    } <= choices
    assert "delete_selected" not in choices


@pytest.mark.parametrize("client_fixture", ["admin_web", "manager_web"])
def test_audit_events_are_read_only_for_everyone(request, client_fixture):
    from audit.services import record

    # An event about the viewer: a manager sees only their own events (as in the API).
    viewer = request.getfixturevalue("admin_user" if client_fixture == "admin_web" else "manager")
    event = record(action="auth.login.failed", target=viewer)
    client = request.getfixturevalue(client_fixture)

    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (
        client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_admin_sign_in_goes_through_the_account_pages(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_admin_login_form_cannot_be_posted_directly(client, admin_user, password):
    response = client.post(
        "/admin/login/", {"username": admin_user.email, "password": password, "next": "/admin/"}
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_signed_in_member_gets_403_from_admin_login(member, web_client_for):
    assert web_client_for(member).get("/admin/login/").status_code == 403
