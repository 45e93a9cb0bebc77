"""What the README's top and the page head promise: the register and token commands work as
written, and every page links a favicon that Roster serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def _curl_bodies() -> dict[str, dict]:
    text = README.read_text()
    found = re.findall(
        r"curl -s http://127\.0\.0\.1:8000(/api/v1/[\w/]+) .*?\\\n\s+-d '(\{.*?\})'", text
    )
    return {path: json.loads(body) for path, body in found}


def test_readme_registers_and_signs_in_through_the_api(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    commands = _curl_bodies()
    assert set(commands) == {"/api/v1/auth/register", "/api/v1/auth/token"}
    registered = client.post(
        "/api/v1/auth/register", commands["/api/v1/auth/register"], content_type="application/json"
    )
    assert registered.status_code == 201, registered.content
    token = client.post(
        "/api/v1/auth/token", commands["/api/v1/auth/token"], content_type="application/json"
    )
    assert token.status_code == 200, token.content
    assert {"access", "refresh"} <= set(token.json())


def test_readme_says_how_to_change_the_port():
    assert "ROSTER_BIND=127.0.0.1:9000 make run" in README.read_text()


def test_pages_link_a_favicon_roster_serves(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/roster/favicon.svg"' in html
    assert finders.find("roster/favicon.svg")


def test_user_guide_shows_the_account_pages_light_and_dark_at_two_widths():
    guide = (README.parent / "docs" / "user-guide.md").read_text()
    for scheme in ("light", "dark"):
        for width in (1280, 360):
            name = f"images/account-{scheme}-{width}.png"
            assert f"]({name})" in guide
            image = README.parent / "docs" / name
            assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert image.stat().st_size < 150_000
    assert "docs/user-guide.md" in README.read_text()
