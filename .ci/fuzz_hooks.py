"""schemathesis hooks for .ci/fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The fuzzer calls every operation, sign-out and "revoke my other sessions" included, so a
token fixed at start would be revoked halfway through the run and every later request would
only see 401. Instead each run signs in through the real doors (read from FUZZ_BASE_URL /
FUZZ_EMAIL / FUZZ_PASSWORD), keeps the access token for a short while, and gets a new one
whenever a request answers 401: first by rotating its refresh token
(``POST /api/v1/auth/token/refresh``), and when its session is gone by signing in again.

The fuzzer also stores security policies (the platform's as an admin, its own
organizations' as their owner), any of which may apply to the fuzz account itself: a
required second factor with no grace, short token lifetimes, expiring passwords. So the
fuzz accounts have a TOTP authenticator and recovery codes from the start (.ci/fuzz.py:
FUZZ_TOTP_SECRET, FUZZ_RECOVERY_CODES), and a sign-in goes through every step the server
asks for:

- ``mfa_required``: ``POST /api/v1/auth/token/mfa`` with the TOTP code of the moment. The
  server takes each code once, so when this run has already spent the current 30-second
  window's code it uses a recovery code, and when none is left it waits for the next window.
- ``password_change_required``: ``POST /api/v1/auth/token/password`` with a fresh random
  password that meets the strictest rules a policy can set (kept for later sign-ins).
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
import urllib.error
import urllib.request

import pyotp
import schemathesis

TOTP_PERIOD = 30  # allauth's TOTP: RFC 6238, 6 digits, 30 seconds (pyotp's defaults)


class _Account:
    """What this run knows of its own account's credentials (one schemathesis process)."""

    def __init__(self) -> None:
        self.password = os.environ["FUZZ_PASSWORD"]
        self.totp = pyotp.TOTP(os.environ["FUZZ_TOTP_SECRET"])
        self.recovery_codes = os.environ.get("FUZZ_RECOVERY_CODES", "").split()
        self.last_totp_window: int | None = None
        self.refresh: str | None = None

    def second_factor(self) -> str:
        window = int(time.time()) // TOTP_PERIOD
        if window == self.last_totp_window:
            if self.recovery_codes:
                return self.recovery_codes.pop()
            time.sleep((window + 1) * TOTP_PERIOD - time.time() + 0.1)
            window = int(time.time()) // TOTP_PERIOD
        self.last_totp_window = window
        return self.totp.at(window * TOTP_PERIOD)


_account: _Account | None = None


def _post(path: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - a local URL from the CI script
        f"{os.environ['FUZZ_BASE_URL']}/api/v1/{path}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _new_password() -> str:
    """Random, and within the strictest rules a password policy can set (128 characters,
    every character class, no history can hold it)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%+-.:=?@_")
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice("".join(classes)) for _ in range(128 - len(chars))]
    return "".join(chars)


def _sign_in(account: _Account) -> dict:
    email = os.environ["FUZZ_EMAIL"]
    status, body = _post("auth/token", {"email": email, "password": account.password})
    if status == 200 and body.get("mfa_required"):
        for _ in range(3):  # a code taken meanwhile (a replayed window) gets the next one
            code = account.second_factor()
            status, answer = _post("auth/token/mfa", {"mfa_token": body["mfa_token"], "code": code})
            if status != 401 or answer.get("code") != "invalid_code":
                break
        body = answer
    if status == 200 and body.get("password_change_required"):
        new_password = _new_password()
        status, body = _post(
            "auth/token/password",
            {"password_change_token": body["password_change_token"], "new_password": new_password},
        )
        if status == 200:
            account.password = new_password
    if status != 200 or "access" not in body:
        raise RuntimeError(f"The fuzz account {email} cannot sign in: {status} {body}")
    return body


@schemathesis.auth(refresh_interval=60, retry_on=[401])
class RosterToken:
    def get(self, case, context):
        global _account  # noqa: PLW0603 - one account per schemathesis process
        if _account is None:
            _account = _Account()
        body = None
        if _account.refresh:
            status, answer = _post("auth/token/refresh", {"refresh": _account.refresh})
            body = answer if status == 200 else None
        if body is None:
            body = _sign_in(_account)
        _account.refresh = body["refresh"]
        return body["access"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
