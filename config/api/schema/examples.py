"""Request examples, by operation id: what a client would send against a fresh Roster (the
seeded slot types, meters and settings). The fuzzer's "examples" phase sends them too."""

from __future__ import annotations

from typing import Any

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "auth_token": {"email": "ada@example.com", "password": "correct horse battery staple"},
    "auth_token_mfa": {"mfa_token": "Jm3x…from POST /auth/token", "code": "123456"},
    "auth_token_refresh": {"refresh": "eyJhbGciOiJSUzI1NiIsImtpZCI6…"},
    "auth_register": {
        "email": "ada@example.com",
        "password": "correct horse battery staple",
        "display_name": "Ada Lovelace",
    },
    "auth_password_reset": {"email": "ada@example.com"},
    "users_me_partial_update": {"display_name": "Ada", "timezone": "Europe/Zurich"},
    "users_me_update": {
        "username": "ada",
        "display_name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+41446681800",
        "department": "Analytical Engines",
        "timezone": "Europe/London",
        "locale": "en",
    },
    "users_me_destroy": {"password": "correct horse battery staple"},
    "users_me_password": {
        "current_password": "correct horse battery staple",
        "new_password": "a longer and newer passphrase",
    },
    "users_me_settings_partial_update": {"theme": "dark", "page_size": 100},
    "users_me_preferences_partial_update": {"theme": "dark"},
    "users_me_api_keys_create": {
        "name": "CI usage uploader",
        "scopes": ["usage:write"],
        "expires_at": "2031-01-01T00:00:00Z",
    },
    "users_partial_update": {"status": "suspended"},
    "users_bulk": {
        "action": "create",
        "users": [{"email": "grace@example.com", "display_name": "Grace", "roles": ["member"]}],
    },
    "slots_create": {
        "type": "workspace",
        "name": "dev box",
        "config": {"cpu": 2, "memory_gb": 4, "region": "eu-west"},
    },
    "slots_partial_update": {"name": "dev box (big)", "config": {"cpu": 4, "memory_gb": 16}},
    "slots_credentials_update": {"kind": "api_key", "api_key": "sk-live-51Hc9example"},
    "usage_events_create": {
        "events": [
            {"meter": "api.requests", "idempotency_key": "req-7f3a"},
            {"meter": "tokens.input", "quantity": 1250, "idempotency_key": "req-7f3a-in"},
        ]
    },
}


def request_example(operation: dict) -> None:
    example = REQUEST_EXAMPLES.get(operation.get("operationId", ""))
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if example is not None and media is not None:
        media.setdefault("example", example)
