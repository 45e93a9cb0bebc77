"""Sign-in door: authenticated requests by JWT and by API key, and the password login.

wrk scenarios:
- GET /api/v1/auth/status with a JWT (signature check + one cache read for revocation +
  the user row + one flags query);
- the same with an API key (`X-API-Key`; one indexed lookup + the flags query);
- POST /api/v1/auth/token (argon2id with the production parameters, the login_failed
  counters in Redis, an API session row and an audit event per login). The bench
  environment raises the login_failed limit (RATE_LIMIT_LOGIN_FAILED); successful logins do
  not consume it anyway.

Offline figures: the cost of one argon2 verification with the production
Argon2PasswordHasher on this machine, and how many verifications per second the cores
allow when hashing is all they do (the ceiling for logins/s).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import time

from bench.harness import BenchContext, Scenario

EMAIL = "auth-bench@example.com"
PASSWORD = "auth-bench-password-1"


def setup(ctx: BenchContext) -> list[Scenario]:
    from accounts.apikeys import api_keys_revoke_all

    user = ctx.create_user(EMAIL, PASSWORD, roles=("member",))
    # Earlier runs' keys would pile up towards the per-user limit.
    api_keys_revoke_all(user=user, actor=None)
    jwt = {"Authorization": f"Bearer {ctx.jwt_for(EMAIL, PASSWORD)}"}
    key = {"X-API-Key": ctx.api_key_for(EMAIL, PASSWORD, ["profile:read"], name="auth-bench")}
    login = json.dumps({"email": EMAIL, "password": PASSWORD})
    return [
        Scenario(name="GET /auth/status (JWT)", path="/api/v1/auth/status", headers=jwt),
        Scenario(name="GET /auth/status (API key)", path="/api/v1/auth/status", headers=key),
        # Refresh before the hashing scenarios, whose queued requests outlive their runs.
        *(_refresh_scenario(user, c) for c in ctx.connections),
        Scenario(
            name="POST /auth/token (login)", path="/api/v1/auth/token", method="POST", body=login
        ),
        Scenario(
            name="POST /auth/register (sign-up)",
            path="/api/v1/auth/register",
            method="POST",
            body="{}",
            lua=_SIGNUP_LUA,
        ),
    ]


# Every sign-up a new address, numbered by wrk thread and request.
_SIGNUP_LUA = """
local counter = 0
function setup(thread) thread:set("thread_id", counter); counter = counter + 1 end
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"email":"signup-%d-%d-%d@example.com","password":"signup-bench-password-1"}',
    os.time(), thread_id, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""

# Refresh tokens are single-use (a second use is reuse and revokes the session), so each
# wrk thread keeps a pool of live refresh tokens, one per API session: a request takes one
# out, its response puts the rotated one back. The pool is larger than the thread's
# connections, so no connection waits for a token.
_REFRESH_LUA = """
local counter = 0
function setup(thread) thread:set("thread_id", counter); counter = counter + 1 end
function init(args)
  pool = {}
  local i = 0
  for line in io.lines(%(tokens)s) do
    if i %% %(threads)d == thread_id then table.insert(pool, line) end
    i = i + 1
  end
end
function request()
  local token = table.remove(pool, 1)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"refresh":"' .. token .. '"}')
end
function response(status, headers, body)
  local token = body:match('"refresh"%%s*:%%s*"([^"]+)"')
  if token then table.insert(pool, token) end
end
"""


def _refresh_scenario(user, connections: int) -> Scenario:
    """POST /auth/token/refresh at ``connections`` clients, each request rotating a live
    refresh token of one of 2 x ``connections`` API sessions (issued here, no hashing)."""
    import tempfile

    from accounts import tokens

    threads = min(2, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        for _ in range(2 * connections):
            f.write(tokens.token_issue(user=user).refresh + "\n")
    return Scenario(
        name="POST /auth/token/refresh",
        path="/api/v1/auth/token/refresh",
        method="POST",
        body="{}",
        connections=(connections,),
        lua=_REFRESH_LUA % {"tokens": json.dumps(f.name), "threads": threads},
    )


def _encoded() -> str:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    return Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())


def _verify_for(seconds: float, encoded: str) -> int:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    hasher = Argon2PasswordHasher()
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(PASSWORD, encoded)
        count += 1
    return count


def offline(ctx: BenchContext) -> dict[str, str]:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    hasher = Argon2PasswordHasher()
    encoded = _encoded()
    hasher.verify(PASSWORD, encoded)
    rounds = 10
    started = time.perf_counter()
    for _ in range(rounds):
        hasher.verify(PASSWORD, encoded)
    one = (time.perf_counter() - started) / rounds
    login_overhead = _login_overhead(hasher, encoded)
    cores = os.cpu_count() or 1
    seconds = 5.0
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        counts = pool.starmap(_verify_for, [(seconds, encoded)] * cores)
    ceiling = sum(counts) / seconds
    return {
        (
            f"argon2id verify (production parameters: t={hasher.time_cost}, "
            f"m={hasher.memory_cost} KiB, p={hasher.parallelism})"
        ): f"{one * 1000:.1f} ms",
        f"argon2id verifications/s with {cores} processes hashing only": f"{ceiling:.1f}/s",
        "login CPU beyond the hash (in-process, production hasher)": login_overhead,
        "sign-up CPU beyond the hash (in-process, production hasher)": _signup_overhead(hasher),
        "GET /auth/status CPU per request, in-process (JWT | API key | no credentials)": (
            _status_cpu()
        ),
    }


def _status_cpu() -> str:
    """Server-side CPU of the authenticated request, in this process (test client, no
    network driver competing for the cores): comparable from run to run."""
    from django.test import Client

    from accounts import apikeys, tokens
    from accounts.models import User

    user = User.objects.get(email=EMAIL)
    access = tokens.token_issue(user=user).access
    _, raw = apikeys.api_key_create(
        user=user, name="auth-bench-cpu", scopes=["profile:read"], actor=user
    )
    client = Client(HTTP_HOST="127.0.0.1")
    figures = []
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {access}"}, {"HTTP_X_API_KEY": raw}, {}):
        for _ in range(30):
            client.get("/api/v1/auth/status", **headers)
        rounds = 300
        started = time.process_time()
        for _ in range(rounds):
            client.get("/api/v1/auth/status", **headers)
        figures.append(f"{(time.process_time() - started) * 1000 / rounds:.2f} ms")
    return " | ".join(figures)


def _signup_overhead(hasher) -> str:
    """CPU of a whole API sign-up (new address each time) minus one password hash, in this
    process, alternating the two as :func:`_login_overhead` does: what sign-up costs beyond
    the argon2 floor, whatever else shares the cores."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    stamp = time.time_ns()

    def sign_up(n: int):
        body = json.dumps({"email": f"cpu-{stamp}-{n}@example.com", "password": PASSWORD})
        return client.post("/api/v1/auth/register", body, content_type="application/json")

    for n in range(2):
        sign_up(n)
    hashes, signups = [], []
    for n in range(2, 17):
        started = time.process_time()
        hasher.encode(PASSWORD, hasher.salt())
        hashes.append(time.process_time() - started)
        started = time.process_time()
        response = sign_up(n)
        signups.append(time.process_time() - started)
        assert response.status_code == 201, response.content
    one, signup = statistics.median(hashes), statistics.median(signups)
    return (
        f"{(signup - one) * 1000:.1f} ms over {one * 1000:.0f} ms of hashing CPU "
        f"({(signup - one) / one * 100:.1f}%)"
    )


def _login_overhead(hasher, encoded: str) -> str:
    """CPU of a whole token login minus one verification, measured in this process (so the
    figure holds even when other work shares the cores)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    body = json.dumps({"email": EMAIL, "password": PASSWORD})
    for _ in range(2):
        client.post("/api/v1/auth/token", body, content_type="application/json")
    # Alternate the two, so that both see the same contention, and take medians.
    verifies, logins = [], []
    for _ in range(15):
        started = time.process_time()
        hasher.verify(PASSWORD, encoded)
        verifies.append(time.process_time() - started)
        started = time.process_time()
        response = client.post("/api/v1/auth/token", body, content_type="application/json")
        logins.append(time.process_time() - started)
        assert response.status_code == 200, response.content
    verify, login = statistics.median(verifies), statistics.median(logins)
    return (
        f"{(login - verify) * 1000:.1f} ms over {verify * 1000:.0f} ms of hashing CPU "
        f"({(login - verify) / verify * 100:.1f}%)"
    )
