"""manage.py rotate_jwt_key on the embedded keys: new key signs, old tokens still verify."""

from io import StringIO

import jwt
import pytest
from django.core.management import CommandError, call_command

from accounts import jwt_codec
from config.keys import jwt_private_keys
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, login

pytestmark = pytest.mark.django_db


class _NoEnv:
    def str(self, name, default=""):
        return default


def test_rotation_of_embedded_keys(member, settings, tmp_path):
    # A private var/ for this test, seeded like a fresh checkout.
    settings.VAR_DIR = tmp_path
    settings.JWT_KEYS_ARE_GENERATED = True
    settings.JWT_SIGNING_KEYS = jwt_private_keys(_NoEnv(), tmp_path)
    old_access = login(member)["access"]
    old_kid = jwt.get_unverified_header(old_access)["kid"]

    out = StringIO()
    call_command("rotate_jwt_key", stdout=out)
    # What a restarted process reads:
    settings.JWT_SIGNING_KEYS = jwt_private_keys(_NoEnv(), tmp_path)

    assert len(settings.JWT_SIGNING_KEYS) == 2
    new_kid = jwt_codec.keyset().signing.kid
    assert new_kid != old_kid and new_kid in out.getvalue()
    assert jwt.get_unverified_header(login(member)["access"])["kid"] == new_kid
    assert bearer(old_access).get(STATUS_URL).status_code == 200
    assert (tmp_path / "jwt" / "previous.pem").stat().st_mode & 0o077 == 0

    call_command("rotate_jwt_key", "--drop-previous", stdout=StringIO())
    settings.JWT_SIGNING_KEYS = jwt_private_keys(_NoEnv(), tmp_path)
    assert bearer(old_access).get(STATUS_URL).status_code == 401


def test_show_lists_the_key_ids(settings):
    out = StringIO()
    call_command("rotate_jwt_key", "--show", stdout=out)
    assert jwt_codec.keyset().signing.kid in out.getvalue()


def test_environment_keys_need_an_output_path(settings, tmp_path):
    settings.JWT_KEYS_ARE_GENERATED = False
    with pytest.raises(CommandError):
        call_command("rotate_jwt_key", stdout=StringIO())
    target = tmp_path / "new.pem"
    out = StringIO()
    call_command("rotate_jwt_key", "--out", str(target), stdout=out)
    assert target.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert "JWT_PREVIOUS_PRIVATE_KEY" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("rotate_jwt_key", "--out", str(target), stdout=StringIO())
