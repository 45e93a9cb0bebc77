"""Slot pages through the test client: ownership, validation shown by field, no 500s."""

import pytest
from django.urls import reverse

from slots import services
from slots.models import Slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def slot(member):
    return services.slot_create(owner=member, type="workspace", name="box", config={}, actor=member)


def test_slot_pages_need_sign_in(client, slot):
    for url in (reverse("slots-list"), reverse("slot-detail", args=[slot.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_other_users_slot_is_404_everywhere(client, other_member, slot):
    client.force_login(other_member)
    assert client.get(reverse("slot-detail", args=[slot.pk])).status_code == 404
    for name, args in (
        ("slot-rename", [slot.pk]),
        ("slot-credentials", [slot.pk]),
        ("slot-action", [slot.pk, "release"]),
    ):
        assert client.post(reverse(name, args=args), {"name": "mine"}).status_code == 404
    slot.refresh_from_db()
    assert (slot.name, slot.status) == ("box", "active")


def test_create_form_is_built_from_the_schema(signed_in):
    response = signed_in.get(reverse("slot-create", args=["agent"]))
    form = response.context["form"]
    assert list(form.fields) == [
        "name",
        "config__runtime",
        "config__labels",
        "config__max_concurrency",
    ]
    assert form.fields["config__runtime"].required
    assert signed_in.get(reverse("slot-create", args=["nope"])).status_code == 404


@pytest.mark.parametrize(
    "data, field, text",
    [
        ({"name": "", "config__runtime": "node20"}, "name", "required"),
        ({"name": "a", "config__runtime": "cobol"}, "config__runtime", "not one of"),
        (
            {"name": "a", "config__runtime": "node20", "config__max_concurrency": "99"},
            "config__max_concurrency",
            "less than or equal to 16",
        ),
        (
            {"name": "a", "config__runtime": "node20", "config__labels": "{bad json"},
            "config__labels",
            "valid JSON",
        ),
        (
            {"name": "a", "config__runtime": "node20", "config__labels": '{"Bad Key": "x"}'},
            "config__labels",
            "Bad Key",
        ),
        ({"name": "tab\there", "config__runtime": "node20"}, "name", "control characters"),
    ],
)
def test_create_bad_input_is_shown_by_the_field(signed_in, data, field, text):
    response = signed_in.post(reverse("slot-create", args=["agent"]), data)
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert text in errors, response.context["form"].errors
    assert not Slot.objects.exists()


def test_create_beyond_the_quota_says_so(signed_in, member):
    for n in range(3):
        services.slot_create(owner=member, type="workspace", name=f"w{n}", actor=member)
    response = signed_in.post(reverse("slot-create", args=["workspace"]), {"name": "w3"})
    assert response.status_code == 400
    assert "the limit is 3" in response.content.decode()


def test_rename_to_a_taken_name_is_shown(signed_in, member, slot):
    services.slot_create(owner=member, type="workspace", name="other", actor=member)
    response = signed_in.post(reverse("slot-rename", args=[slot.pk]), {"name": "OTHER"})
    assert response.status_code == 400
    assert "already hold a live slot with this name" in response.content.decode()


def test_illegal_transition_is_a_message(signed_in, slot):
    response = signed_in.post(reverse("slot-action", args=[slot.pk, "resume"]), follow=True)
    assert response.status_code == 200
    assert "cannot be resumed" in response.content.decode()
    assert signed_in.post(reverse("slot-action", args=[slot.pk, "activate"])).status_code == 404


def test_credentials_missing_secret_is_shown_and_nothing_stored(signed_in, slot):
    response = signed_in.post(
        reverse("slot-credentials", args=[slot.pk]), {"kind": "basic", "username": "u"}
    )
    assert response.status_code == 400
    assert response.context["credentials_form"].errors["password"]
    assert not hasattr(Slot.objects.get(pk=slot.pk), "credential")


def test_credentials_are_never_rendered(signed_in, slot):
    secret = "s3cr3t-password-value"
    signed_in.post(
        reverse("slot-credentials", args=[slot.pk]),
        {"kind": "basic", "username": "deploy", "password": secret},
    )
    page = signed_in.get(reverse("slot-detail", args=[slot.pk])).content.decode()
    assert secret not in page
    assert "Username and password ending in <code>alue</code>, set " in page


def test_create_absurdly_nested_config_is_a_field_error(signed_in):
    deep = "{" + '"a":{' * 50_000 + "}" * 50_001
    response = signed_in.post(
        reverse("slot-create", args=["agent"]),
        {"name": "deep", "config__runtime": "node20", "config__labels": deep},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["config__labels"]
