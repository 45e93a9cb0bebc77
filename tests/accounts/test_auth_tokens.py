"""JWT access tokens: RS256 with a kid, verifiable from the JWKS alone, and every way a
token can be wrong gets a clear 401."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts import jwt_codec
from config.keys import _new_rsa_pem
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, error_code, login

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_access_token_verifies_with_plain_pyjwt_from_the_jwks_alone(member, anon_client):
    pair = login(member)
    jwks = anon_client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(pair["access"])
    assert header["alg"] == "RS256"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert {jwk["kty"], jwk["use"], jwk["alg"]} == {"RSA", "sig", "RS256"}
    assert "d" not in jwk and "p" not in jwk  # public half only

    claims = jwt.decode(
        pair["access"],
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=django_settings.JWT_AUDIENCE,
        issuer=django_settings.JWT_ISSUER,
    )

    assert claims["sub"] == str(member.pk)
    assert claims["sid"] == pair["session_id"]
    assert claims["roles"] == ["member"]
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == pair["expires_in"] <= 15 * 60
    assert len(claims["jti"]) >= 16


def test_jwks_kid_is_the_rfc7638_thumbprint(anon_client):
    jwk = anon_client.get("/.well-known/jwks.json").json()["keys"][0]
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    assert jwk["kid"] == _b64(hashlib.sha256(canonical.encode()).digest())


def test_jwks_trailing_slash_is_not_needed_and_cacheable(anon_client):
    response = anon_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]


def test_key_rotation_keeps_old_tokens_valid_until_removed(member, settings, anon_client):
    old_pem = settings.JWT_SIGNING_KEYS[0]
    old_token = login(member)["access"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    settings.JWT_SIGNING_KEYS = [_new_rsa_pem(), old_pem]
    jwks = anon_client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 2 and jwks["keys"][1]["kid"] == old_kid
    new_token = login(member)["access"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid == jwks["keys"][0]["kid"] != old_kid
    assert bearer(old_token).get(STATUS_URL).status_code == 200
    assert bearer(new_token).get(STATUS_URL).status_code == 200

    settings.JWT_SIGNING_KEYS = settings.JWT_SIGNING_KEYS[:1]
    response = bearer(old_token).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_unknown_key"
    assert bearer(new_token).get(STATUS_URL).status_code == 200


def test_refresh_after_rotation_moves_the_session_to_the_new_key(member, settings, anon_client):
    old_pem = settings.JWT_SIGNING_KEYS[0]
    pair = login(member)
    settings.JWT_SIGNING_KEYS = [_new_rsa_pem(), old_pem]
    response = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert response.status_code == 200
    kid = jwt.get_unverified_header(response.json()["access"])["kid"]
    assert kid == jwt_codec.keyset().signing.kid


def test_expired_access_token_is_refused(member):
    pair = login(member)
    with time_machine.travel(time.time() + pair["expires_in"] + 10, tick=False):
        response = bearer(pair["access"]).get(STATUS_URL)
    assert response.status_code == 401
    assert error_code(response) == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tampered_claims_are_refused(member, other_member):
    access = login(member)["access"]
    header, payload, signature = access.split(".")
    claims = _claims(access)
    claims["sub"] = str(other_member.pk)
    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_invalid"


def test_alg_none_is_refused(member):
    access = login(member)["access"]
    header = dict(jwt.get_unverified_header(access), alg="none")
    response = bearer(_forge(header, _claims(access))).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_algorithm_not_allowed"


def test_hs256_signed_with_the_public_key_is_refused(member, anon_client):
    """The classic key-confusion attack: HMAC with the (public) RSA key as secret."""
    access = login(member)["access"]
    kid = jwt.get_unverified_header(access)["kid"]
    public_pem = jwt_codec.keyset().signing.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(_claims(access)).encode())]
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_algorithm_not_allowed"


def test_unknown_kid_is_refused(member):
    access = login(member)["access"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(access), other_key, algorithm="RS256", headers={"kid": "nope"})
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_unknown_key"


def test_token_signed_by_another_key_under_our_kid_is_refused(member):
    access = login(member)["access"]
    kid = jwt.get_unverified_header(access)["kid"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(access), other_key, algorithm="RS256", headers={"kid": kid})
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_invalid"


def test_wrong_audience_or_issuer_is_refused(member):
    access = login(member)["access"]
    key = jwt_codec.keyset().signing
    for change in ({"aud": "someone-else"}, {"iss": "https://evil.example"}):
        forged = jwt.encode(
            {**_claims(access), **change},
            key.private_key,
            algorithm="RS256",
            headers={"kid": key.kid},
        )
        response = bearer(forged).get(STATUS_URL)
        assert response.status_code == 401 and error_code(response) == "token_invalid"


def test_token_without_sid_is_refused(member):
    access = login(member)["access"]
    key = jwt_codec.keyset().signing
    claims = _claims(access)
    del claims["sid"]
    forged = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    response = bearer(forged).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_invalid"


def test_refresh_token_used_as_access_token_is_refused(member):
    pair = login(member)
    response = bearer(pair["refresh"]).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_wrong_type"


def test_access_token_used_as_refresh_token_is_refused(member, anon_client):
    pair = login(member)
    response = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh": pair["access"]}, format="json"
    )
    assert response.status_code == 401 and error_code(response) == "token_wrong_type"


@pytest.mark.parametrize(
    "value",
    ["garbage", "a.b.c", "", "   ", "eyJ" + "x" * 9000, "Bearer", "\u00e9\u00e9.\u00e9.\u00e9"],
)
def test_malformed_bearer_values_are_401_not_500(value):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    response = client.get(STATUS_URL)
    assert response.status_code == 401
    assert error_code(response) in {"token_invalid", "not_authenticated"}


def test_no_credentials_is_401_with_www_authenticate(anon_client):
    response = anon_client.get(STATUS_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_other_auth_schemes_are_ignored(member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert client.get(STATUS_URL).status_code == 401
