from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from accounts.models import SettingDefinition
from accounts.notification_settings import setting_key
from accounts.services.settings import settings_update
from config.errors import Invalid
from notifications import delivery
from notifications.kinds import EMAIL_BY_DEFAULT, Kind
from notifications.models import Notification
from notifications.services import notify
from tests.factories import UserFactory


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com")


@pytest.fixture
def delivered():
    got: list[Notification] = []

    def deliver(notifications):
        # What a deliverer sees is committed: a fresh read finds the rows.
        pks = [n.pk for n in notifications]
        assert Notification.objects.filter(pk__in=pks).count() == len(pks)
        got.extend(notifications)

    delivery.register(deliver)
    yield got
    delivery.unregister(deliver)


def test_notify_stores_first_then_delivers_after_commit(
    alice, delivered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note = notify(alice, Kind.PASSWORD_CHANGED, "Changed", "Your password changed.")
        assert Notification.objects.filter(pk=note.pk, user=alice).exists()
        assert delivered == []  # nothing leaves before the transaction commits
    assert len(callbacks) == 1
    assert delivered == [note]


def test_notify_rolled_back_is_neither_stored_nor_delivered(alice, delivered):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(alice, Kind.MESSAGE, "Hi", "There")
        raise RuntimeError
    assert not Notification.objects.exists()
    assert delivered == []


def test_notify_a_failing_deliverer_does_not_stop_the_others(
    alice, delivered, django_capture_on_commit_callbacks
):
    def broken(notifications):
        raise ConnectionError("socket layer down")

    delivery.register(broken)
    try:
        delivery._deliverers.remove(broken)
        delivery._deliverers.insert(0, broken)
        with django_capture_on_commit_callbacks(execute=True):
            note = notify(alice, Kind.MESSAGE, "Hi", "There")
    finally:
        delivery.unregister(broken)
    assert delivered == [note]
    assert Notification.objects.filter(pk=note.pk).exists()


def test_notify_emails_per_the_users_setting(alice, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    assert Kind.PASSWORD_CHANGED in EMAIL_BY_DEFAULT and Kind.MESSAGE not in EMAIL_BY_DEFAULT
    with django_capture_on_commit_callbacks(execute=True):
        notify(alice, Kind.PASSWORD_CHANGED, "Your password was changed", "Not you? Reset it.")
        notify(alice, Kind.MESSAGE, "Lunch", "At noon")
    assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject] and mail.outbox[
        0
    ].subject.endswith("Your password was changed")
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "Not you? Reset it." in mail.outbox[0].body

    settings_update(
        user=alice,
        values={setting_key(Kind.PASSWORD_CHANGED): False, setting_key(Kind.MESSAGE): True},
        actor=alice,
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notify(alice, Kind.PASSWORD_CHANGED, "Changed again", "")
        notify(alice, Kind.MESSAGE, "Dinner", "At eight")
    assert [m.subject.split("] ")[-1] for m in mail.outbox] == ["Dinner"]
    # Stored either way: the setting only decides the email.
    assert Notification.objects.filter(user=alice).count() == 4


def test_email_settings_are_typed_definitions_per_kind(db):
    definitions = SettingDefinition.objects.filter(category="notifications")
    keys = {setting_key(k) for k in Kind.values}
    assert keys | {"notifications.email"} <= {d.key for d in definitions}
    assert all(definitions.get(key=key).type == "boolean" for key in keys)
    # The security notices share the seeded security_alerts setting.
    assert setting_key(Kind.MFA_CHANGED) == "notifications.security_alerts"
    assert definitions.get(key=setting_key(Kind.MESSAGE)).default is False


def test_email_master_switch_off_sends_nothing(alice, django_capture_on_commit_callbacks):
    settings_update(user=alice, values={"notifications.email": False}, actor=alice)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notify(alice, Kind.PASSWORD_CHANGED, "Changed", "")
    assert mail.outbox == []
    assert Notification.objects.filter(user=alice).count() == 1


def test_email_setting_refuses_a_non_boolean(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        settings_update(user=alice, values={setting_key(Kind.MESSAGE): "yes"}, actor=alice)


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"title": ""}, "blank"),
        ({"title": " \n "}, "blank"),
        ({"title": "x" * 201}, "max_length"),
        ({"message": "m" * 5001}, "max_length"),
        ({"title": "nul\x00"}, "invalid_characters"),
        ({"message": "nul\x00"}, "invalid_characters"),
        ({"priority": "urgent"}, "invalid_choice"),
        ({"data": ["not", "an", "object"]}, "invalid"),
        ({"data": {"k": "\x00"}}, "invalid_characters"),
    ],
)
def test_notify_bad_input_is_refused_and_nothing_stored(alice, kwargs, code):
    args = {"title": "Title", "message": "Message", **kwargs}
    title, message = args.pop("title"), args.pop("message")
    with pytest.raises(Invalid) as exc:
        notify(alice, Kind.MESSAGE, title, message, **args)
    assert exc.value.code == code
    assert not Notification.objects.exists()


def test_notify_unknown_kind_is_a_programming_error(alice):
    with pytest.raises(ValueError):
        notify(alice, "weather_report", "Sunny", "")


def test_notify_keeps_line_breaks_in_the_message(alice):
    note = notify(alice, Kind.MESSAGE, "  Title  ", "line one\nline two\ttabbed")
    assert note.title == "Title" and note.message == "line one\nline two\ttabbed"
