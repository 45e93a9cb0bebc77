import pytest

from accounts import apikeys
from accounts.models import ApiKey
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_api_keys_revoke_all_revokes_every_live_key(member, other_member):
    k1, _ = apikeys.api_key_create(user=member, name="a", scopes=["slots:read"], actor=member)
    k2, raw2 = apikeys.api_key_create(user=member, name="b", scopes=["usage:read"], actor=member)
    theirs, raw_theirs = apikeys.api_key_create(
        user=other_member, name="c", scopes=["slots:read"], actor=other_member
    )

    assert apikeys.api_keys_revoke_all(user=member, actor=None) == 2

    assert ApiKey.objects.filter(user=member, revoked_at__isnull=True).count() == 0
    with pytest.raises(apikeys.ApiKeyRejected) as exc:
        apikeys.api_key_verify(raw2)
    assert exc.value.code == "api_key_revoked"
    assert apikeys.api_key_verify(raw_theirs).pk == theirs.pk
    revoked = AuditEvent.objects.filter(action="apikey.revoked")
    assert sorted(e.target_id for e in revoked) == sorted([str(k1.pk), str(k2.pk)])
    assert apikeys.api_keys_revoke_all(user=member, actor=None) == 0
