"""The client examples of the API guide (docs/api.md, linked from the README) run as
written against a live Roster."""

import re
import uuid
from pathlib import Path

import pytest

from slots import services as slot_services
from tests.pages.conftest import reseed

pytestmark = pytest.mark.django_db(transaction=True)

API_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_GUIDE.read_text(), flags=re.S)


def _block_with(marker: str) -> str:
    return next(block for block in _python_blocks() if marker in block)


def test_readme_httpx_client_signs_in_refreshes_lists_slots_and_posts_usage(
    live_server, user_factory, password
):
    reseed()  # slot types and meters: an earlier transactional test emptied the tables
    user = user_factory(email="reader@example.com")
    slot_services.slot_create(owner=user, type="workspace", name="from-readme", actor=user)
    code = _block_with("class Roster")
    definitions = code.split("\nroster = Roster(")[0]
    namespace: dict = {}
    exec(definitions, namespace)  # noqa: S102 - our own documentation

    roster = namespace["Roster"](live_server.url, user.email, password)
    assert [s["name"] for s in roster.slots()] == ["from-readme"]
    first_refresh = roster.refresh_token
    roster.refresh()
    assert roster.refresh_token != first_refresh
    posted = roster.call(
        "POST",
        "/api/v1/usage/events",
        json={"events": [{"meter": "tokens.input", "quantity": 1250, "idempotency_key": "r-1"}]},
    )
    assert posted == {"accepted": 1, "duplicates": 0}


def test_readme_jwks_example_verifies_a_roster_token(live_server, user_factory, settings):
    from accounts.tokens import token_issue

    user = user_factory(email="verified-elsewhere@example.com")
    access = token_issue(user=user).access
    code = _block_with("PyJWKClient")
    code = code.replace("https://roster.example.com/.well-known", f"{live_server.url}/.well-known")
    code = code.replace('issuer="https://roster.example.com"', f"issuer={settings.JWT_ISSUER!r}")
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation

    claims = namespace["roster_claims"](access)
    assert claims["sub"] == str(user.pk)
    assert uuid.UUID(claims["sid"])
