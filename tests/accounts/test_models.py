import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User


@pytest.mark.django_db
def test_user_create_normalises_email():
    user = User.objects.create_user(email="  Alice@Example.COM ", password="pw-long-enough-1")
    assert user.email == "alice@example.com"
    assert User.objects.get_by_natural_key("ALICE@example.com") == user


@pytest.mark.django_db
def test_user_create_refuses_duplicate_email_differing_by_case():
    User.objects.create_user(email="bob@example.com")
    with pytest.raises(ValidationError):
        User.objects.create_user(email="BOB@example.com")


@pytest.mark.django_db
def test_user_email_unique_case_insensitively_in_the_database():
    User.objects.create_user(email="carol@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass the manager's normalisation: the database constraint still holds.
        User(email="CAROL@example.com").save()


@pytest.mark.django_db
def test_user_username_optional_and_unique_case_insensitively():
    a = User.objects.create_user(email="a@example.com")
    b = User.objects.create_user(email="b@example.com")
    assert a.username is None and b.username is None  # several users without a username
    User.objects.create_user(email="c@example.com", username="Dana")
    with pytest.raises(ValidationError):
        User.objects.create_user(email="d@example.com", username="dana")


@pytest.mark.django_db
def test_user_primary_key_is_a_uuid():
    user = User.objects.create_user(email="uuid@example.com")
    assert len(str(user.pk)) == 36


@pytest.mark.django_db
def test_user_status_and_is_active_kept_consistent_by_the_database():
    user = User.objects.create_user(email="status@example.com")
    user.status = User.Status.SUSPENDED  # is_active left True: the constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()


@pytest.mark.django_db
def test_user_new_users_are_members_and_roles_are_seeded():
    assert set(Group.objects.values_list("name", flat=True)) >= {"member", "manager", "admin"}
    user = User.objects.create_user(email="new@example.com")
    assert user.roles == ["member"]


@pytest.mark.django_db
def test_roles_manager_reads_users_and_admin_has_everything():
    manager = Group.objects.get(name="manager")
    admin = Group.objects.get(name="admin")
    codenames = set(manager.permissions.values_list("codename", flat=True))
    assert "view_user" in codenames
    assert "change_user" not in codenames
    assert admin.permissions.filter(codename="change_user").exists()


@pytest.mark.django_db
def test_user_password_hashed_with_argon2id():
    user = User.objects.create_user(email="hash@example.com", password="pw-long-enough-1")
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password("pw-long-enough-1")


@pytest.mark.django_db
def test_ensure_admin_creates_one_admin_with_random_password(capsys):
    from django.core.management import call_command

    call_command("ensure_admin", email="root@example.com")
    first = capsys.readouterr().out
    call_command("ensure_admin", email="root2@example.com")
    second = capsys.readouterr().out
    admin = User.objects.get(email="root@example.com")
    assert admin.roles == ["admin"] and admin.is_staff
    password = first.split("password:")[1].split()[0]
    assert len(password) >= 20 and admin.check_password(password)
    assert "nothing to do" in second
    assert not User.objects.filter(email="root2@example.com").exists()
