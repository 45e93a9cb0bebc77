"""The JWT codec of Roster's API tokens: the signing keys, their JWKS, and simplejwt's
token classes signing with the newest key (RS256, ``kid`` in the header) and verifying with
any of them.

Keys come from ``settings.JWT_SIGNING_KEYS`` (RSA PEMs, newest first): the first signs,
every one verifies, so a new key can be put in front while tokens signed by the old one
keep working until they expire. Every token header carries the ``kid`` of its key (the
RFC 7638 thumbprint), and ``GET /.well-known/jwks.json`` lists all public keys, so any
JOSE library can verify an access token from the JWKS alone. What the tokens say and how
sessions are issued and refreshed is ``accounts.tokens``.

Refresh tokens are read by Roster alone (a client only sends them back), so they are MACed
rather than signed: HS256 with a secret derived from the same RSA private key (HKDF-SHA256),
named by that key's ``kid``. An RSA signature costs about a third of a millisecond of CPU
and a refresh mints two tokens; the MAC costs microseconds. Rotating the RSA key rotates the
MAC secret with it, and a previous key's refresh tokens verify while that key is configured.
The secret never leaves the process and cannot be computed from the public key, so an HS256
token made with the public key (the key-confusion attack) does not verify; HS256 is taken
only for a token that says it is a refresh token (anything else in HS256 is
``token_algorithm_not_allowed``), and the token type is then checked as for any token.
Refresh tokens signed RS256 before this keep verifying until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_decode
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken
from rest_framework_simplejwt.tokens import RefreshToken as SimpleRefreshToken

ALGORITHM = "RS256"
# Refresh tokens only (see the module docstring).
REFRESH_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "jti", "sub", "sid", "iss", "aud", "token_type")


class TokenRejected(Exception):
    """A presented token is not acceptable; ``code`` is the API error code (always 401)."""

    def __init__(self, code: str, detail: str):
        self.code, self.detail = code, detail
        super().__init__(detail)


# --- keys ---------------------------------------------------------------------------------


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rfc7638_thumbprint(public_key) -> str:
    """The JWK thumbprint of an RSA public key (RFC 7638), used as its ``kid``."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Any
    public_key: Any
    jwk: dict
    # The HS256 secret of refresh tokens, derived from private_key (never in a repr).
    refresh_secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeySet:
    keys: tuple[SigningKey, ...]

    @property
    def signing(self) -> SigningKey:
        return self.keys[0]

    def by_kid(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


@lru_cache(maxsize=8)
def _keyset(pems: tuple[str, ...]) -> KeySet:
    keys = []
    seen = set()
    for pem in pems:
        private_key = _load_private_key(pem)
        public_key = private_key.public_key()
        kid = rfc7638_thumbprint(public_key)
        if kid in seen:
            continue
        seen.add(kid)
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        jwk.pop("key_ops", None)
        jwk.update({"use": "sig", "alg": ALGORITHM, "kid": kid})
        keys.append(
            SigningKey(
                kid=kid,
                private_key=private_key,
                public_key=public_key,
                jwk=jwk,
                refresh_secret=_refresh_secret(private_key),
            )
        )
    if not keys:
        raise RuntimeError("JWT_SIGNING_KEYS is empty: at least one RSA key is needed.")
    return KeySet(keys=tuple(keys))


def _refresh_secret(private_key: rsa.RSAPrivateKey) -> bytes:
    """The refresh tokens' MAC secret of one RSA key: HKDF-SHA256 over its private value."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"roster refresh token mac v1"
    ).derive(der)


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise RuntimeError("JWT signing keys must be RSA private keys (PEM).")
    return key


def keyset() -> KeySet:
    return _keyset(tuple(settings.JWT_SIGNING_KEYS))


def jwks() -> dict:
    """The public half of every configured key, signing key first."""
    return {"keys": [dict(k.jwk) for k in keyset().keys]}


# --- simplejwt with kid -------------------------------------------------------------------


class RosterTokenBackend(TokenBackend):
    """simplejwt's backend, signing with the newest key and naming it in the header."""

    def __init__(self) -> None:
        jwt_settings = settings.SIMPLE_JWT
        super().__init__(
            ALGORITHM,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=jwt_settings.get("LEEWAY", 0),
        )

    def encode(self, payload: dict[str, Any]) -> str:
        claims = dict(payload, aud=self.audience, iss=self.issuer)
        signing = keyset().signing
        if claims.get("token_type") == "refresh":
            return jwt.encode(
                claims,
                signing.refresh_secret,
                algorithm=REFRESH_ALGORITHM,
                headers={"kid": signing.kid},
            )
        return jwt.encode(
            claims, signing.private_key, algorithm=ALGORITHM, headers={"kid": signing.kid}
        )

    def decode(self, token, verify: bool = True) -> dict[str, Any]:
        return decode(str(token))


def _backend() -> RosterTokenBackend:
    return RosterTokenBackend()


class AccessToken(SimpleAccessToken):
    @property
    def token_backend(self) -> TokenBackend:
        return _backend()


class RefreshToken(SimpleRefreshToken):
    access_token_class = AccessToken

    @property
    def token_backend(self) -> TokenBackend:
        return _backend()


def decode(raw: str) -> dict[str, Any]:
    """Verify signature, ``kid``, algorithm, ``iss``, ``aud`` and lifetime; return the claims."""
    if not raw or len(raw) > 8192:
        raise TokenRejected("token_invalid", "The token is malformed.")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError:
        raise TokenRejected("token_invalid", "The token is malformed.") from None
    algorithm = header.get("alg")
    if algorithm != ALGORITHM and not (algorithm == REFRESH_ALGORITHM and _says_refresh(raw)):
        raise TokenRejected("token_algorithm_not_allowed", f"Only {ALGORITHM} tokens are accepted.")
    kid = header.get("kid")
    key = keyset().by_kid(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenRejected("token_unknown_key", "The token was signed by an unknown key.")
    try:
        claims = jwt.decode(
            raw,
            key.refresh_secret if algorithm == REFRESH_ALGORITHM else key.public_key,
            algorithms=[algorithm],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.SIMPLE_JWT.get("LEEWAY", 0),
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("token_expired", "The token has expired.") from None
    except jwt.InvalidTokenError:
        raise TokenRejected("token_invalid", "The token is not valid.") from None
    if not isinstance(claims.get("sid"), str) or not isinstance(claims.get("sub"), str):
        raise TokenRejected("token_invalid", "The token is not valid.")
    return claims


def _says_refresh(raw: str) -> bool:
    """Whether the (unverified) payload of ``raw`` calls itself a refresh token: only those
    may be HS256 (verified afterwards with the refresh secret like any token)."""
    try:
        claims = json.loads(base64url_decode(raw.split(".")[1]))
    except (IndexError, ValueError, TypeError):  # binascii.Error and JSON errors included
        return False
    return isinstance(claims, dict) and claims.get("token_type") == "refresh"


def decode_typed(raw: str, token_type: str) -> dict[str, Any]:
    claims = decode(raw)
    if claims.get("token_type") != token_type:
        given = str(claims.get("token_type", "untyped"))
        raise TokenRejected(
            "token_wrong_type", f"Expected a token of type '{token_type}', got '{given}'."
        )
    return claims
