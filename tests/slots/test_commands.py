import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from slots import services
from slots.models import SlotCredential

SECRET = "sk-rotate-me-0123456789"


@pytest.fixture
def credential_slot(member, settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    slot = services.slot_create(owner=member, type="workspace", name="w", config={}, actor=member)
    services.slot_credentials_set(
        slot=slot, credentials={"kind": "api_key", "api_key": SECRET}, actor=member
    )
    return slot


def test_rotate_credential_keys_reencrypts_under_newest_key(credential_slot, settings, capsys):
    old_key = settings.CREDENTIAL_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = SlotCredential.objects.get(slot=credential_slot).ciphertext
    settings.CREDENTIAL_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_credential_keys")

    assert "rotated=1 already_current=0 failed=0" in capsys.readouterr().out
    after = SlotCredential.objects.get(slot=credential_slot).ciphertext
    assert after != before
    # The old key can now be dropped.
    settings.CREDENTIAL_ENCRYPTION_KEYS = [new_key]
    assert services.slot_credentials_get(slot=credential_slot)["api_key"] == SECRET

    call_command("rotate_credential_keys")
    assert "rotated=0 already_current=1 failed=0" in capsys.readouterr().out


def test_rotate_credential_keys_fails_loudly_on_unreadable_rows(credential_slot, settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_credential_keys")


def test_rotate_credential_keys_generate_key(capsys, db):
    call_command("rotate_credential_keys", "--generate-key")
    Fernet(capsys.readouterr().out.strip().encode())
