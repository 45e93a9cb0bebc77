"""Profile, settings, security log and "your data" pages through the test client."""

import json

import pytest
from django.urls import reverse

from accounts.models import User, UserSetting
from accounts.services.settings import settings_update
from audit.models import AuditEvent
from audit.personal import reveal

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


PROFILE = {
    "display_name": "Grace",
    "username": "grace",
    "first_name": "Grace",
    "last_name": "Hopper",
    "phone": "",
    "department": "Compilers",
    "timezone": "America/New_York",
    "locale": "en",
}


def test_profile_saves_through_the_service(signed_in, member):
    response = signed_in.post(reverse("account-profile"), PROFILE)
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.display_name, member.username, member.timezone) == (
        "Grace",
        "grace",
        "America/New_York",
    )
    event = AuditEvent.objects.get(action="user.updated", target_id=str(member.pk))
    assert reveal(event).changes["display_name"][1] == "Grace"


@pytest.mark.parametrize(
    "field, value, text",
    [
        ("timezone", "Mars/Olympus", "IANA time zone"),
        ("locale", "xx-yy", "language code"),
        ("phone", "12", "international format"),
        ("display_name", "bad\x00name", ""),
        ("username", "has space", ""),
        ("display_name", "x" * 151, "at most 150"),
    ],
)
def test_profile_bad_input_is_shown_by_the_field(signed_in, member, field, value, text):
    response = signed_in.post(reverse("account-profile"), {**PROFILE, field: value})
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert errors and text in errors
    member.refresh_from_db()
    assert member.display_name != "Grace"


def test_profile_username_taken_is_shown(signed_in, other_member):
    other_member.username = "grace"
    other_member.save()
    response = signed_in.post(reverse("account-profile"), PROFILE)
    assert response.status_code == 400
    assert "This username is taken." in response.context["form"].errors["username"]


def test_settings_save_only_changed_values(signed_in, member):
    page = signed_in.get(reverse("account-settings"))
    form = page.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | dict):
            data[name] = json.dumps(value)
        elif value is not None:
            data[name] = value
    data["setting__theme"] = "dark"
    response = signed_in.post(reverse("account-settings"), data)
    assert response.status_code == 302
    stored = {s.definition.key: s.value for s in UserSetting.objects.filter(user=member)}
    assert stored == {"theme": "dark"}


@pytest.mark.parametrize(
    "name, value, text",
    [
        ("setting__theme", "neon", "Allowed values"),
        ("setting__page_size", "5", "at least 10"),
        ("setting__page_size", "many", "whole number"),
        ("setting__dashboard__widgets", "{not json", "valid JSON"),
    ],
)
def test_settings_bad_value_is_shown_by_the_field(signed_in, member, name, value, text):
    response = signed_in.post(
        reverse("account-settings"), {name: value, "setting__theme": "auto"} | {name: value}
    )
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors.get(name, []))
    assert text in errors, response.context["form"].errors
    assert not UserSetting.objects.filter(user=member).exists()


def test_security_log_shows_own_events_paginated(signed_in, member, other_member):
    from audit.services import record

    settings_update(user=member, values={"page_size": 25}, actor=member)  # rows per page
    for n in range(30):
        record(action="user.updated", actor=member, target=member, changes={"n": [n, n + 1]})
    record(action="user.updated", actor=other_member, target=other_member)
    first = signed_in.get(reverse("account-security-log"))
    assert len(first.context["events"]) == 25
    assert all(str(member.pk) in (e.actor_id, e.target_id) for e in first.context["events"])
    older = first.context["older"]
    second = signed_in.get(reverse("account-security-log") + f"?before={older}")
    assert len(second.context["events"]) >= 5
    assert second.context["older"] is None or second.context["older"] < older
    assert signed_in.get(reverse("account-security-log") + "?before=junk").status_code == 200


def test_export_downloads_json(signed_in, member):
    response = signed_in.get(reverse("account-data-export"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.content)
    assert document["profile"]["email"] == member.email


def test_delete_needs_the_password_then_signs_out(signed_in, member, password):
    wrong = signed_in.post(reverse("account-delete"), {"password": "nope"})
    assert wrong.status_code == 400
    member.refresh_from_db()
    assert member.status == User.Status.ACTIVE

    response = signed_in.post(reverse("account-delete"), {"password": password}, follow=True)
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.status == User.Status.DEACTIVATED
    assert member.erasure_due_at is not None
    assert not response.context["user"].is_authenticated


def test_delete_attempts_are_rate_limited(signed_in):
    statuses = [
        signed_in.post(reverse("account-delete"), {"password": "nope"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[5] == 429


def test_settings_absurdly_nested_json_is_a_field_error(signed_in):
    deep = "[" * 100_000 + "]" * 100_000
    response = signed_in.post(
        reverse("account-settings"), {"setting__dashboard__widgets": deep, "setting__theme": "auto"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["setting__dashboard__widgets"]
