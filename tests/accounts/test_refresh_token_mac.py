"""Refresh tokens are HS256 with a secret derived from the RSA signing key (accounts.jwt_codec):
named by that key's kid, verified only by Roster, never forged from the public key, and the
RS256 refresh tokens issued before still refresh."""

from __future__ import annotations

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from rest_framework.test import APIClient

from accounts import jwt_codec
from config.keys import _new_rsa_pem
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, error_code, login
from tests.accounts.test_auth_tokens import _b64, _claims

pytestmark = pytest.mark.django_db

REFRESH = "/api/v1/auth/token/refresh"


def _refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def test_the_refresh_token_is_hs256_under_the_signing_kid_and_the_access_token_rs256(member):
    pair = login(member)
    refresh, access = (
        jwt.get_unverified_header(pair["refresh"]),
        jwt.get_unverified_header(pair["access"]),
    )
    key = jwt_codec.keyset().signing
    assert refresh == {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    assert access["alg"] == "RS256" and access["kid"] == key.kid
    claims = jwt.decode(
        pair["refresh"],
        key.refresh_secret,
        algorithms=["HS256"],
        audience=_claims(pair["refresh"])["aud"],
    )
    assert claims["token_type"] == "refresh"
    # The secret is not the public key, nor anything in the JWKS, nor shown by a repr.
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key.refresh_secret not in public_pem and len(key.refresh_secret) == 32
    assert repr(key.refresh_secret) not in repr(key)


def test_an_rs256_refresh_token_issued_before_still_refreshes(member):
    pair = login(member)
    key = jwt_codec.keyset().signing
    earlier = jwt.encode(
        _claims(pair["refresh"]), key.private_key, algorithm="RS256", headers={"kid": key.kid}
    )
    response = _refresh(earlier)
    assert response.status_code == 200, response.content
    # ... and it was that session's current token: the HS256 one is spent now.
    assert error_code(_refresh(pair["refresh"])) == "token_reused"


def test_an_hs256_refresh_token_made_with_the_public_key_is_refused(member):
    """The key-confusion attack on the one place HS256 is taken."""
    pair = login(member)
    key = jwt_codec.keyset().signing
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(_claims(pair["refresh"])).encode())]
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"
    response = _refresh(forged)
    assert response.status_code == 401 and error_code(response) == "token_invalid"
    # The session was not touched: its real refresh token still works.
    assert _refresh(pair["refresh"]).status_code == 200


def test_hs256_is_refused_for_anything_but_a_refresh_token(member):
    """Even MACed with the real refresh secret, an HS256 access token is not an access
    token: only RS256 ones are (anyone can verify them from the JWKS)."""
    pair = login(member)
    key = jwt_codec.keyset().signing
    forged = jwt.encode(
        _claims(pair["access"]), key.refresh_secret, algorithm="HS256", headers={"kid": key.kid}
    )
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_algorithm_not_allowed"
    untyped = {k: v for k, v in _claims(pair["refresh"]).items() if k != "token_type"}
    forged = jwt.encode(untyped, key.refresh_secret, algorithm="HS256", headers={"kid": key.kid})
    response = _refresh(forged)
    assert response.status_code == 401 and error_code(response) == "token_algorithm_not_allowed"


def test_a_refresh_token_is_not_an_access_token(member):
    response = bearer(login(member)["refresh"]).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_wrong_type"


def test_key_rotation_keeps_refresh_tokens_of_the_previous_key_until_it_is_dropped(
    member, settings
):
    old_pem = settings.JWT_SIGNING_KEYS[0]
    first, second = login(member), login(member)
    settings.JWT_SIGNING_KEYS = [_new_rsa_pem(), old_pem]
    response = _refresh(first["refresh"])
    assert response.status_code == 200
    new_kid = jwt_codec.keyset().signing.kid
    assert jwt.get_unverified_header(response.json()["refresh"])["kid"] == new_kid

    settings.JWT_SIGNING_KEYS = settings.JWT_SIGNING_KEYS[:1]
    response = _refresh(second["refresh"])
    assert response.status_code == 401 and error_code(response) == "token_unknown_key"
