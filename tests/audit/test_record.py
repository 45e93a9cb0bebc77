import pytest
from django.test import RequestFactory

from audit.models import AppendOnlyError, AuditEvent
from audit.services import record


@pytest.mark.django_db
def test_record_writes_actor_target_and_request_context(member):
    request = RequestFactory().post("/x", HTTP_USER_AGENT="pytest-agent", REMOTE_ADDR="203.0.113.7")
    request.user = member
    request.request_id = "req-123"
    event = record(action="user.updated", target=member, request=request, changes={"a": [1, 2]})
    event.refresh_from_db()
    assert event.actor_type == "user" and event.actor_id == str(member.pk)
    assert event.target_type == "user" and event.target_id == str(member.pk)
    assert event.ip == "203.0.113.7" and event.user_agent == "pytest-agent"
    assert event.request_id == "req-123"
    assert event.changes == {"a": [1, 2]}


@pytest.mark.django_db
def test_record_takes_the_client_ip_behind_a_trusted_proxy(settings):
    from config.client_ip import client_ip as login_policy_client_ip

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # The caller forged the first entry; our proxy appended the address it saw.
    request = RequestFactory().post(
        "/x", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.66, 198.51.100.9"
    )
    event = record(action="auth.logout", request=request)
    event.refresh_from_db()
    assert event.ip == "198.51.100.9"
    assert event.ip == login_policy_client_ip(request)


@pytest.mark.django_db
def test_record_ignores_forwarded_for_without_a_trusted_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().post("/x", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.66")
    event = record(action="auth.logout", request=request)
    event.refresh_from_db()
    assert event.ip == "10.0.0.2"


@pytest.mark.django_db
def test_record_through_the_api_carries_the_forwarded_client_ip(settings, member):
    from rest_framework.request import Request

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    django_request = RequestFactory().post(
        "/api/v1/x", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    event = record(action="auth.logout", actor=member, request=Request(django_request))
    assert event.ip == "198.51.100.9"


@pytest.mark.django_db
def test_record_without_request_is_a_system_event():
    event = record(action="usage.rollup", metadata={"buckets": 3})
    assert event.actor_type == "system"
    assert event.metadata == {"buckets": 3}


@pytest.mark.django_db
def test_record_masks_secrets_by_key_and_by_value():
    event = record(
        action="apikey.created",
        changes={"password": ["old", "new"], "name": ["a", "b"]},
        metadata={
            "client_secret": "s3cr3t",
            "nested": {"refresh_token": "abc", "note": "key rst_abcdefghijklmnop used"},
            "header": "Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl",
            "api_key": "anything",
        },
    )
    event.refresh_from_db()
    dumped = str(event.changes) + str(event.metadata)
    for secret in ("old", "new", "s3cr3t", "abc", "rst_abcdefghijklmnop", "eyJhbGciOi", "anything"):
        assert secret not in dumped.replace("[redacted]", "")
    assert event.changes["name"] == ["a", "b"]


@pytest.mark.django_db
def test_audit_event_refuses_update_and_delete():
    event = record(action="auth.logout")
    event.action = "auth.login.succeeded"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.logout"
