"""The User admin: list, filters, detail, and each action calling its service and auditing."""

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from accounts.apikeys import api_key_create
from accounts.models import ApiSession, User
from accounts.sessions import api_session_create
from audit.models import AuditEvent
from audit.personal import reveal
from slots.services import slot_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"


def change_url(user) -> str:
    return f"/admin/accounts/user/{user.pk}/change/"


def run_action(client, action: str, users, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(u.pk) for u in users], **extra}
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def events(action: str, target) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(target.pk)))


def add_totp(user) -> Authenticator:
    return Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXPTOTPSECRET"}
    )


# --- list --------------------------------------------------------------------------------


def test_user_list_shows_roles_mfa_and_live_slot_count(admin_web, user_factory):
    holder = user_factory(email="holder@example.com", display_name="Slot Holder")
    add_totp(holder)
    for name in ("one", "two"):
        slot_create(owner=holder, type="workspace", name=name, actor=holder)
    released = slot_create(owner=holder, type="workspace", name="gone", actor=holder)
    from slots.services import slot_release

    slot_release(slot=released, actor=holder)
    user_factory(email="boss@example.com", roles=["manager", "admin"])

    response = admin_web.get(CHANGELIST)

    assert response.status_code == 200
    rows = {u.email: u for u in response.context["cl"].result_list}
    assert rows["holder@example.com"].live_slot_count == 2
    assert rows["holder@example.com"].mfa_enabled is True
    assert rows["boss@example.com"].mfa_enabled is False
    html = response.content.decode()
    assert "Slot Holder" in html
    assert "manager, admin" in html


def test_user_list_query_count_does_not_grow_with_rows(
    admin_web, user_factory, django_assert_max_num_queries
):
    for i in range(60):
        user = user_factory(email=f"bulk{i}@example.com", roles=["member", "manager"][: i % 2 + 1])
        if i % 3 == 0:
            add_totp(user)
    with django_assert_max_num_queries(14):
        response = admin_web.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=suspended", {"sus@example.com"}),
        ("role=manager", {"manager@example.com"}),
        ("mfa=on", {"mfa@example.com"}),
        ("q=Ada", {"ada@example.com"}),
        ("q=sus%40example", {"sus@example.com"}),
    ],
)
def test_user_list_filters_and_search(
    admin_web, admin_user, user_factory, manager, query, expected
):
    # Fixed names: a random one ("Adam …") would match the search for "Ada".
    admin_user.display_name = "Addie Minh"
    admin_user.save(update_fields=["display_name"])
    user_factory(
        email="sus@example.com", display_name="Sue Pended", status="suspended", is_active=False
    )
    add_totp(user_factory(email="mfa@example.com", display_name="Tote Pee"))
    manager.display_name = "Manny Ger"
    manager.save(update_fields=["display_name"])
    user_factory(email="ada@example.com", first_name="Ada", last_name="Lovelace")

    response = admin_web.get(f"{CHANGELIST}?{query}")

    assert response.status_code == 200
    assert {u.email for u in response.context["cl"].result_list} == expected


def test_user_list_filters_by_join_date(admin_web, user_factory):
    old = user_factory(email="old@example.com")
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - timedelta(days=90))

    since = (timezone.now() - timedelta(days=7)).isoformat()

    response = admin_web.get(CHANGELIST, {"date_joined__gte": since})

    emails = {u.email for u in response.context["cl"].result_list}
    assert "old@example.com" not in emails
    assert "admin@example.com" in emails


# --- detail ------------------------------------------------------------------------------


def test_user_detail_shows_metadata_never_secrets(admin_web, member):
    key, raw = api_key_create(user=member, name="ci", scopes=["slots:read"], actor=member)
    session = api_session_create(
        user=member,
        ip="203.0.113.9",
        user_agent="curl/8",
        expires_at=timezone.now() + timedelta(days=1),
    )
    ApiSession.objects.filter(pk=session.pk).update(refresh_jti="refresh-jti-secret-value")
    totp = add_totp(member)
    slot_create(owner=member, type="workspace", name="my-workspace", actor=member)

    response = admin_web.get(change_url(member))

    assert response.status_code == 200
    html = response.content.decode()
    assert key.prefix in html and "ci" in html
    assert "203.0.113.9" in html
    assert "my-workspace" in html
    assert "TOTP" in html
    assert "apikey.created" in html  # recent audit events of this user
    for secret in (raw, key.digest, totp.data["secret"], "refresh-jti-secret-value"):
        assert secret not in html


def change_form_data(response) -> dict:
    """What the browser would post back: the form's initial values and each inline's counts."""
    form = response.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if k in form.fields and v is not None}
    data["groups"] = [str(g.pk) for g in form.initial.get("groups", [])]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(formset.total_form_count())
        data[f"{formset.prefix}-INITIAL_FORMS"] = str(formset.initial_form_count())
        for index, inline_form in enumerate(formset.forms):
            data[f"{formset.prefix}-{index}-id"] = str(inline_form.instance.pk)
            data[f"{formset.prefix}-{index}-{formset.fk.name}"] = str(inline_form.instance.pk)
    return data


def test_user_detail_profile_edit_goes_through_users_service(admin_web, member):
    data = change_form_data(admin_web.get(change_url(member)))
    data.update(
        {
            "display_name": "Renamed Member",
            "phone": "+442071838750",
            "timezone": "Europe/London",
            "locale": "en",
        }
    )
    response = admin_web.post(change_url(member), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.display_name == "Renamed Member"
    (event,) = events("user.updated", member)
    assert reveal(event).changes["display_name"][1] == "Renamed Member"


def test_user_detail_profile_edit_rejects_invalid_timezone(admin_web, member):
    data = change_form_data(admin_web.get(change_url(member)))
    data["timezone"] = "Mars/Olympus_Mons"

    response = admin_web.post(change_url(member), data)

    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.timezone == "UTC"


def test_user_admin_has_no_hard_delete(admin_web, member):
    assert admin_web.get(f"/admin/accounts/user/{member.pk}/delete/").status_code == 403
    response = admin_web.get(CHANGELIST)
    assert "delete_selected" not in response.content.decode()


# --- actions: each calls the service and leaves its audit event ------------------------------


def test_action_suspend_and_reactivate(admin_web, member):
    response = run_action(admin_web, "suspend_users", [member])

    member.refresh_from_db()
    assert member.status == User.Status.SUSPENDED and member.is_active is False
    assert "Suspended: 1 user." in messages_of(response)
    (event,) = events("user.updated", member)
    assert event.changes["status"] == ["active", "suspended"]
    assert reveal(event).actor_display == "admin@example.com"

    run_action(admin_web, "reactivate_users", [member])

    member.refresh_from_db()
    assert member.status == User.Status.ACTIVE and member.is_active is True
    assert len(events("user.updated", member)) == 2


def test_action_deactivate(admin_web, member):
    run_action(admin_web, "deactivate_users", [member])

    member.refresh_from_db()
    assert member.status == User.Status.DEACTIVATED
    assert member.deactivated_at is not None
    assert len(events("user.deactivated", member)) == 1


def test_action_refusal_by_service_is_reported_not_applied(admin_web, admin_user):
    # The users service refuses to deactivate the last active admin.
    response = run_action(admin_web, "deactivate_users", [admin_user])

    admin_user.refresh_from_db()
    assert admin_user.status == User.Status.ACTIVE
    assert any("last active admin" in m for m in messages_of(response))
    assert events("user.deactivated", admin_user) == []


def test_action_sign_out_everywhere_revokes_web_and_api_sessions(admin_web, member, web_client_for):
    member_browser = web_client_for(member)
    member_browser.get("/account/")  # creates the tracked web session
    api = api_session_create(
        user=member,
        ip="198.51.100.7",
        user_agent="sdk",
        expires_at=timezone.now() + timedelta(days=1),
    )

    response = run_action(admin_web, "sign_out_everywhere", [member])

    assert "Signed out everywhere: 1 user." in messages_of(response)
    api.refresh_from_db()
    assert api.revoked_at is not None
    assert member_browser.get("/account/").status_code == 302  # back to the sign-in page
    kinds = sorted(e.metadata["kind"] for e in AuditEvent.objects.filter(action="session.revoked"))
    assert kinds == ["api", "web"]
    # The admin's own session is untouched.
    assert admin_web.get(CHANGELIST).status_code == 200


def test_action_revoke_api_keys(admin_web, member):
    key, _ = api_key_create(user=member, name="deploy", scopes=["usage:write"], actor=member)

    response = run_action(admin_web, "revoke_api_keys", [member])

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "API keys revoked: 1 user." in messages_of(response)
    (event,) = AuditEvent.objects.filter(action="apikey.revoked", target_id=str(key.pk))
    assert reveal(event).actor_display == "admin@example.com"


def test_action_change_roles_asks_then_calls_service(admin_web, member):
    response = run_action(admin_web, "change_roles", [member])

    assert response.status_code == 200
    assert "Set the roles" in response.content.decode()
    assert member.roles == ["member"]

    response = run_action(admin_web, "change_roles", [member], confirm="yes", roles=["manager"])

    member.refresh_from_db()
    assert member.roles == ["manager"]
    assert member.is_staff is True
    assert "Roles set to manager: 1 user." in messages_of(response)
    (event,) = events("user.roles.changed", member)
    assert event.changes == {"roles": [["member"], ["manager"]]}


def test_action_change_roles_rejects_unknown_role(admin_web, member):
    response = run_action(admin_web, "change_roles", [member], confirm="yes", roles=["root"])

    assert response.status_code == 200
    assert "roles" in response.context["form"].errors
    member.refresh_from_db()
    assert member.roles == ["member"]


def test_user_detail_roles_edit_calls_service(admin_web, member):
    from django.contrib.auth.models import Group

    data = change_form_data(admin_web.get(change_url(member)))
    data["groups"] = [str(Group.objects.get(name="manager").pk)]

    response = admin_web.post(change_url(member), data)

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.roles == ["manager"] and member.is_staff is True
    assert len(events("user.roles.changed", member)) == 1


def test_user_detail_cannot_remove_last_admin_role(admin_web, admin_user):
    data = change_form_data(admin_web.get(change_url(admin_user)))
    data["groups"] = []
    data["display_name"] = "Should Not Stick"

    response = admin_web.post(change_url(admin_user), data, follow=True)

    assert any("last active admin" in m for m in messages_of(response))
    admin_user.refresh_from_db()
    assert admin_user.roles == ["admin"]
    assert admin_user.display_name != "Should Not Stick"  # all or nothing


def test_action_reset_mfa_asks_for_confirmation_first(admin_web, member):
    add_totp(member)

    response = run_action(admin_web, "reset_mfa", [member])

    assert response.status_code == 200
    assert "Remove every MFA authenticator" in response.content.decode()
    assert Authenticator.objects.filter(user=member).exists()
    assert not AuditEvent.objects.filter(action="auth.mfa.disabled").exists()


def test_action_reset_mfa_removes_authenticators_and_audits(admin_web, admin_user, member):
    add_totp(member)
    Authenticator.objects.create(
        user=member, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "abc"}
    )

    response = run_action(admin_web, "reset_mfa", [member], confirm="yes")

    assert not Authenticator.objects.filter(user=member).exists()
    assert "MFA reset: 1 user." in messages_of(response)
    (event,) = events("auth.mfa.disabled", member)
    assert event.actor_id == str(admin_user.pk)
    assert event.metadata["authenticators"] == ["recovery_codes", "totp"]
    assert "abc" not in str(event.metadata)


def test_action_reset_mfa_reports_users_without_mfa(admin_web, member):
    response = run_action(admin_web, "reset_mfa", [member], confirm="yes")

    assert any("no MFA authenticator" in m for m in messages_of(response))


def test_action_resend_verification_email(admin_web, admin_user, member, mailoutbox):
    response = run_action(admin_web, "resend_verification_email", [member])

    assert "Verification email sent: 1 user." in messages_of(response)
    (mail,) = mailoutbox
    assert mail.to == [member.email]
    assert "/accounts/confirm-email/" in mail.body
    (event,) = events("auth.email.verification_sent", member)
    assert event.actor_id == str(admin_user.pk)


def test_action_resend_verification_refuses_verified_address(admin_web, member, mailoutbox):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=member, email=member.email, primary=True, verified=True)

    response = run_action(admin_web, "resend_verification_email", [member])

    assert any("already verified" in m for m in messages_of(response))
    assert mailoutbox == []


def test_action_send_password_reset(admin_web, admin_user, member, mailoutbox):
    response = run_action(admin_web, "send_password_reset", [member])

    assert "Password reset email sent: 1 user." in messages_of(response)
    (mail,) = mailoutbox
    assert mail.to == [member.email]
    assert "/accounts/password/reset/key/" in mail.body
    (event,) = events("auth.password.reset_requested", member)
    assert event.actor_id == str(admin_user.pk)


def test_action_send_password_reset_skips_suspended_users(admin_web, member, mailoutbox):
    run_action(admin_web, "suspend_users", [member])

    response = run_action(admin_web, "send_password_reset", [member])

    assert any("Only active users" in m for m in messages_of(response))
    assert mailoutbox == []


def test_admin_add_user_creates_without_password_and_emails_a_link(
    admin_web, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post(
            "/admin/accounts/user/add/",
            {"email": "New.Person@Example.com", "display_name": "New Person", "roles": ["manager"]},
        )

    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.person@example.com")
    assert not user.has_usable_password()
    assert user.roles == ["manager"]
    assert len(events("user.created", user)) == 1
    (mail,) = mailoutbox
    assert mail.to == [user.email] and "/accounts/password/reset/key/" in mail.body
