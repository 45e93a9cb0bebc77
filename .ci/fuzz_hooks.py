"""schemathesis hooks for .ci/fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The fuzzer calls every operation, sign-out and "revoke my other sessions" included, so a
token fixed at start would be revoked halfway through the run and every later request would
only see 401. Instead each run signs in through ``POST /api/v1/auth/token`` (the real door,
read from FUZZ_BASE_URL / FUZZ_EMAIL / FUZZ_PASSWORD), keeps the access token for a short
while, and signs in again whenever a request answers 401.
"""

from __future__ import annotations

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(refresh_interval=60, retry_on=[401])
class RosterToken:
    def get(self, case, context):
        base_url = os.environ["FUZZ_BASE_URL"]
        body = json.dumps(
            {"email": os.environ["FUZZ_EMAIL"], "password": os.environ["FUZZ_PASSWORD"]}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - a local URL from the CI script
            f"{base_url}/api/v1/auth/token",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())["access"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
