import threading
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts import selectors
from accounts.apikeys import api_key_create
from accounts.models import ApiKey, ApiSession, SettingDefinition, User, UserSetting
from accounts.services.erasure import user_erase, user_request_erasure, users_due_for_erasure
from accounts.services.settings import settings_clear_invalid, settings_update
from accounts.services.users import (
    user_create,
    user_deactivate,
    user_set_roles,
    user_set_status,
    user_update_profile,
)
from accounts.tokens import token_issue
from audit.models import AuditEvent, SubjectKey
from audit.personal import reveal
from config.errors import Conflict
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# --- profile -------------------------------------------------------------------------------


def test_user_update_profile_validates_and_audits(member):
    user_update_profile(
        user=member,
        data={"phone": "+1 (650) 253-0000", "timezone": "America/New_York"},
        actor=member,
    )
    member.refresh_from_db()
    assert member.phone == "+16502530000" and member.timezone == "America/New_York"
    event = AuditEvent.objects.get(action="user.updated")
    assert reveal(event).changes == {
        "phone": ["", "+16502530000"],
        "timezone": ["UTC", "America/New_York"],
    }
    # The phone number is stored encrypted under the user's key (erasure shreds it).
    assert "+16502530000" not in str(event.changes)


def test_user_update_profile_reports_every_bad_field_at_once(member):
    with pytest.raises(ValidationError) as exc:
        user_update_profile(
            user=member, data={"phone": "12", "locale": "zz", "email": "x@y.z"}, actor=member
        )
    assert set(exc.value.error_dict) == {"phone", "locale", "email"}
    assert not AuditEvent.objects.filter(action="user.updated").exists()


def test_user_create_audits_and_hashes(admin_user):
    user = user_create(
        email=" Someone@Example.COM ",
        password="quite a long passphrase",
        actor=admin_user,
        display_name="Some One",
        roles=["manager"],
    )
    assert user.email == "someone@example.com" and user.roles == ["manager"] and user.is_staff
    assert user.check_password("quite a long passphrase")
    event = AuditEvent.objects.get(action="user.created")
    assert event.target_id == str(user.pk) and event.metadata["roles"] == ["manager"]
    assert "passphrase" not in str(event.changes)


def test_user_create_duplicate_email_is_conflict(member, admin_user):
    with pytest.raises(Conflict) as exc:
        user_create(email="MEMBER@example.com", actor=admin_user)
    assert exc.value.code == "email_taken"


# --- status and roles ----------------------------------------------------------------------


def test_user_set_status_revokes_sessions_and_keys(member, admin_user):
    pair = token_issue(user=member)
    key, _ = api_key_create(user=member, name="k", scopes=["profile:read"], actor=member)
    user_set_status(user=member, status="suspended", actor=admin_user)
    member.refresh_from_db()
    assert member.status == "suspended" and not member.is_active
    assert ApiSession.objects.get(pk=pair.session_id).revoked_at is not None
    key.refresh_from_db()
    assert key.revoked_at is not None
    event = AuditEvent.objects.get(action="user.updated", target_id=str(member.pk))
    assert event.changes["status"] == ["active", "suspended"]
    assert event.actor_id == str(admin_user.pk)


def test_user_deactivate_records_user_deactivated(member, admin_user):
    user_deactivate(user=member, actor=admin_user)
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.changes["status"] == ["active", "deactivated"]
    assert event.changes["deactivated_at"][0] is None


def test_user_set_roles_records_roles_changed(member, admin_user):
    user_set_roles(user=member, roles=["admin", "manager"], actor=admin_user)
    assert member.roles == ["manager", "admin"]
    event = AuditEvent.objects.get(action="user.roles.changed")
    assert event.changes == {"roles": [["member"], ["manager", "admin"]]}


def test_user_set_roles_unknown_role(member, admin_user):
    with pytest.raises(ValidationError):
        user_set_roles(user=member, roles=["root"], actor=admin_user)


def test_last_admin_rule_counts_only_active_admins(admin_user):
    with pytest.raises(Conflict):
        user_set_roles(user=admin_user, roles=["member"], actor=admin_user)
    second = UserFactory(roles=["admin"])
    user_set_status(user=second, status="suspended", actor=admin_user)
    with pytest.raises(Conflict):
        user_deactivate(user=admin_user, actor=admin_user)
    user_set_status(user=second, status="active", actor=admin_user)
    user_deactivate(user=admin_user, actor=second)
    assert selectors.active_admin_count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_last_admin_rule_holds_under_concurrent_demotions():
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL row locks")
    a = UserFactory(email="a@example.com", roles=["admin"])
    b = UserFactory(email="b@example.com", roles=["admin"])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(user):
        try:
            barrier.wait()
            user_set_roles(user=user, roles=["member"], actor=user)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(u,)) for u in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["last_admin", "ok"]
    assert selectors.active_admin_count() == 1


# --- settings ------------------------------------------------------------------------------


def test_settings_update_and_reset(member):
    settings_update(user=member, values={"theme": "dark"}, actor=member)
    assert selectors.user_preferences(user=member)["theme"] == "dark"
    settings_update(user=member, values={"theme": None}, actor=member)
    assert selectors.user_preferences(user=member)["theme"] == "auto"
    changes = [e.changes for e in AuditEvent.objects.filter(action="user.settings.updated")]
    assert sorted(map(str, changes)) == sorted(
        map(str, [{"theme": ["auto", "dark"]}, {"theme": ["dark", "auto"]}])
    )


def test_settings_update_same_value_records_nothing(member):
    settings_update(user=member, values={"theme": "auto"}, actor=member)
    assert not AuditEvent.objects.filter(action="user.settings.updated").exists()


def test_settings_clear_invalid_removes_only_invalid_values(member, other_member, admin_user):
    settings_update(user=member, values={"page_size": 150}, actor=member)
    settings_update(user=other_member, values={"page_size": 20}, actor=other_member)
    definition = SettingDefinition.objects.get(key="page_size")
    definition.max_value = 100
    definition.save()
    count, examples = selectors.setting_invalid_values(definition=definition)
    assert count == 1 and examples == [(member.email, 150)]
    assert settings_clear_invalid(definition=definition, actor=admin_user) == 1
    assert list(UserSetting.objects.values_list("value", flat=True)) == [20]
    event = AuditEvent.objects.get(action="setting_definition.invalid_values_cleared")
    assert event.metadata["user_ids"] == [str(member.pk)]


# --- deletion and erasure ----------------------------------------------------------------


def _rich_user():
    user = UserFactory(email="gone@example.com", username="gone", display_name="Gone Person")
    User.objects.filter(pk=user.pk).update(phone="+41446681800", department="R&D")
    user.refresh_from_db()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Authenticator.objects.create(user=user, type="totp", data={"secret": "s"})
    settings_update(user=user, values={"theme": "dark"}, actor=user)
    token_issue(user=user)
    api_key_create(user=user, name="k", scopes=["usage:read"], actor=user)
    return user


def test_user_request_erasure_then_erase_after_grace(member):
    user = _rich_user()
    user_request_erasure(user=user, actor=user)
    user.refresh_from_db()
    due = user.erasure_due_at
    assert due - timezone.now() > timedelta(days=settings.ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"] - 1)

    assert user_erase(user_id=user.pk) is False  # too early
    assert user_erase(user_id=user.pk, now=due + timedelta(seconds=1)) is True
    user.refresh_from_db()
    assert user.erased_at is not None
    assert user.email == f"erased-{user.pk.hex}@erased.invalid"
    assert (user.username, user.display_name, user.phone, user.department) == (None, "", "", "")
    assert not user.has_usable_password()
    assert not UserSetting.objects.filter(user=user).exists()
    assert not ApiKey.objects.filter(user=user).exists()
    assert not ApiSession.objects.filter(user=user).exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not Authenticator.objects.filter(user=user).exists()
    # History stays, under the same (random, now anonymous) id.
    assert AuditEvent.objects.filter(
        target_id=str(user.pk), action="user.settings.updated"
    ).exists()
    deleted = AuditEvent.objects.get(action="user.deleted")
    assert deleted.target_id == str(user.pk) and deleted.actor_type == "system"
    assert deleted.metadata["removed"]["access_keys"] == 1
    # The audit log's copies of the personal data are shredded with the user's key.
    assert deleted.metadata["removed"]["audit_keys"] == 1
    assert not SubjectKey.objects.filter(subject_id=str(user.pk)).exists()
    stored = AuditEvent.objects.values_list("actor_display", "changes", "metadata")
    assert "gone@example.com" not in str(list(stored))
    settings_event = AuditEvent.objects.get(action="user.settings.updated", actor_id=str(user.pk))
    assert reveal(settings_event).actor_display == "[erased]"
    # Twice is harmless.
    assert user_erase(user_id=user.pk, now=due + timedelta(days=1)) is False
    assert AuditEvent.objects.filter(action="user.deleted").count() == 1
    assert member.email == "member@example.com"


def test_reactivation_cancels_the_erasure(admin_user):
    user = _rich_user()
    user_request_erasure(user=user, actor=user)
    user_set_status(user=user, status="active", actor=admin_user)
    user.refresh_from_db()
    assert user.erasure_due_at is None
    assert user_erase(user_id=user.pk, now=timezone.now() + timedelta(days=400)) is False
    assert User.objects.get(pk=user.pk).email == "gone@example.com"


def test_erasure_requested_twice_keeps_the_first_due_date(member):
    user_request_erasure(user=member, actor=member)
    first = User.objects.get(pk=member.pk).erasure_due_at
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        user_request_erasure(user=member, actor=member)
    assert User.objects.get(pk=member.pk).erasure_due_at == first
    assert AuditEvent.objects.filter(action="user.deactivated").count() == 1


def test_erasure_of_an_admin_deactivated_user_schedules_without_second_revocation(
    member, admin_user
):
    user_deactivate(user=member, actor=admin_user)
    user_request_erasure(user=member, actor=admin_user)
    member.refresh_from_db()
    assert member.erasure_due_at is not None
    event = AuditEvent.objects.filter(action="user.deactivated").order_by("id").last()
    assert list(event.changes) == ["erasure_due_at"]


def test_users_due_for_erasure_lists_only_due_accounts(member, other_member):
    user_request_erasure(user=member, actor=member)
    assert users_due_for_erasure() == []
    later = timezone.now() + timedelta(days=settings.ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"] + 1)
    assert users_due_for_erasure(now=later) == [member.pk]
