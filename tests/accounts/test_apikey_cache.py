"""An API key served from its Redis snapshot (accounts.apikey_cache) is refused, or answers
with what changed, on the very next request after any change of the key or its owner,
whichever door made it. Each test first proves the key is served from the snapshot (no SQL
on Redis); on the other caches the same tests check the SQL path."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.utils import timezone
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from accounts import apikeys, authentication
from accounts.models import ApiKey, User
from tests.accounts.users_helpers import jwt_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


def _on_redis() -> bool:
    return hasattr(getattr(caches["default"], "client", None), "get_client")


def _key_client(user, scopes=("profile:read",), **extra) -> tuple[ApiKey, APIClient]:
    key, raw = apikeys.api_key_create(user=user, name="cached", scopes=list(scopes), actor=user)
    if extra:
        ApiKey.objects.filter(pk=key.pk).update(**extra)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    client.raw_key = raw
    return key, client


def _warm(client, django_assert_num_queries) -> dict:
    """Three requests: the owner entry, the snapshot, then one served from it alone."""
    for _ in range(2):
        assert client.get(ME).status_code == 200
    if _on_redis():
        with django_assert_num_queries(0):
            response = client.get(ME)
    else:
        response = client.get(ME)
    assert response.status_code == 200, response.content
    return response.json()


def _refused(client, status: int, code: str) -> None:
    response = client.get(ME)
    assert response.status_code == status, response.content
    assert response.json()["errors"][0]["code"] == code


def _same_key(client) -> APIClient:
    """Another client holding the same key (another job, another process's request)."""
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {client.raw_key}")
    return other


def test_a_key_revoked_through_the_api_is_refused_on_the_next_request(
    member, django_assert_num_queries
):
    owner = jwt_client(member)  # before the snapshot: a token login changes the user
    key, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    response = owner.delete(f"/api/v1/users/me/api-keys/{key.pk}")
    assert response.status_code == 204

    _refused(_same_key(client), 401, "api_key_revoked")
    _refused(client, 401, "api_key_revoked")


def test_revoking_every_key_refuses_each_on_the_next_request(member, django_assert_num_queries):
    _, first = _key_client(member)
    _, second = _key_client(member)
    _warm(first, django_assert_num_queries)
    _warm(second, django_assert_num_queries)
    assert apikeys.api_keys_revoke_all(user=member, actor=member) == 2

    _refused(first, 401, "api_key_revoked")
    _refused(second, 401, "api_key_revoked")


def test_keys_ended_by_a_password_change_are_refused_on_the_next_request(
    member, django_assert_num_queries
):
    from accounts.credentials import credentials_revoke_on_password_change

    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    revoked = credentials_revoke_on_password_change(user=member, actor=member, api_keys="all")
    assert revoked["api_keys"] == 1

    _refused(client, 401, "api_key_revoked")


def test_the_owner_suspended_through_the_api_is_refused_on_the_next_request(
    member, admin_user, django_assert_num_queries
):
    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    response = jwt_client(admin_user).patch(
        f"/api/v1/users/{member.pk}", {"status": "suspended"}, format="json"
    )
    assert response.status_code == 200, response.content

    refused = client.get(ME)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] in ("account_inactive", "api_key_revoked")


def test_the_owner_suspended_on_the_model_alone_is_refused_on_the_next_request(
    member, django_assert_num_queries
):
    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    member.status, member.is_active = User.Status.SUSPENDED, False
    member.save(update_fields=["status", "is_active"])

    _refused(client, 401, "account_inactive")


def test_the_owner_deleted_is_refused_on_the_next_request(member, django_assert_num_queries):
    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    member.delete()

    _refused(client, 401, "invalid_api_key")


def test_a_role_change_of_the_owner_shows_on_the_next_request(member, django_assert_num_queries):
    _, client = _key_client(member)
    assert _warm(client, django_assert_num_queries)["roles"] == ["member"]
    member.groups.set([Group.objects.get(name="manager")])

    assert client.get(ME).json()["roles"] == ["manager"]


def test_scopes_saved_on_the_key_apply_on_the_next_request(member, django_assert_num_queries):
    key, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    key.refresh_from_db()
    key.scopes = ["slots:read"]
    key.save(update_fields=["scopes"])

    _refused(client, 403, "insufficient_scope")


def test_a_key_deleted_with_its_row_is_refused_on_the_next_request(
    member, django_assert_num_queries
):
    key, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    ApiKey.objects.filter(pk=key.pk).delete()  # what erasure does

    _refused(client, 401, "invalid_api_key")


def test_a_key_served_from_its_snapshot_expires_on_time(member, django_assert_num_queries):
    expiry = timezone.now() + timezone.timedelta(hours=1)
    _, client = _key_client(member, expires_at=expiry)
    _warm(client, django_assert_num_queries)
    with time_machine.travel(expiry + timezone.timedelta(seconds=1), tick=False):
        _refused(client, 401, "api_key_expired")


def test_a_wrong_secret_after_a_warm_key_still_counts_against_the_ip(
    member, django_assert_num_queries, monkeypatch
):
    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    attempts: list[object] = []
    monkeypatch.setattr(authentication, "consume_ip_attempt", attempts.append)
    raw = client.raw_key
    wrong = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    guesser = APIClient()
    guesser.credentials(HTTP_X_API_KEY=wrong)

    _refused(guesser, 401, "invalid_api_key")
    assert len(attempts) == 1
    assert client.get(ME).status_code == 200  # the right key still works


def test_a_redis_outage_sends_the_key_to_the_sql_path(
    member, django_assert_num_queries, monkeypatch
):
    if not _on_redis():
        pytest.skip("the key snapshot is the Redis deployment's")
    key, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())  # no bump: SQL knows

    def unreachable(self, *args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(Script, "__call__", unreachable)
    _refused(client, 401, "api_key_revoked")


def test_the_raw_key_never_reaches_redis(member, django_assert_num_queries):
    if not _on_redis():
        pytest.skip("the key snapshot is the Redis deployment's")
    _, client = _key_client(member)
    _warm(client, django_assert_num_queries)
    redis = caches["default"].client.get_client(write=True)
    secret = client.raw_key.rsplit("_", 1)[1].encode()
    names = list(redis.scan_iter(count=1000))
    assert any(b"apikey:" in name for name in names)
    for name in names:
        assert secret not in name
        value = redis.dump(name) or b""
        assert secret not in value
