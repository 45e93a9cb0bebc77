"""Take the screenshots of docs/user-guide.md: `.venv/bin/python docs/screenshots.py`.

Starts Roster on the embedded defaults in a scratch directory (``ROSTER_VAR_DIR``, default
/tmp/roster-docs, emptied first), signs a new user up through the pages as a person would
(the confirmation link is read from the mail file, where mail lands without EMAIL_URL),
gives the account data through the public API, and saves one PNG per page under
docs/images/, 1000 px wide. Needs Debian's Chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("ROSTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1000, "height": 760}
MAX_BYTES = 150_000
# Short user agents, so the sessions page reads like a person's own list.
CHROME = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"

EMAIL = "ada@example.com"
PASSWORD = "copper-kettle-58-harbours"  # noqa: S105 - a throwaway account in a scratch dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit(f"the development server did not start: see {log}")


def confirmation_link(mail_dir: Path) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in sorted(mail_dir.glob("*.log")):
            found = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.read_text())
            if found:
                return found.group(0)
        time.sleep(0.3)
    raise SystemExit(f"no confirmation mail in {mail_dir}")


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    path = IMAGES / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    size = path.stat().st_size
    if size > MAX_BYTES and full_page:
        page.screenshot(path=str(path), full_page=False)
        size = path.stat().st_size
    print(f"{path.relative_to(ROOT)}  {size // 1024} KB")


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Account").get_by_role(
        "link", name=name, exact=True
    ).click()


def seed_through_the_api(base: str) -> None:
    """Slots, credentials and a few days of usage, as a program of the user's would."""
    with httpx.Client(base_url=base, timeout=10) as api:
        tokens = api.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        tokens.raise_for_status()
        api.headers["Authorization"] = f"Bearer {tokens.json()['access']}"
        dev = api.post(
            "/api/v1/slots",
            json={"type": "workspace", "name": "dev", "config": {"cpu": 4, "region": "eu-west"}},
        )
        dev.raise_for_status()
        api.post(
            "/api/v1/slots",
            json={"type": "agent", "name": "build-runner", "config": {"runtime": "python3.12"}},
        ).raise_for_status()
        api.put(
            f"/api/v1/slots/{dev.json()['id']}/credentials",
            json={"kind": "api_key", "api_key": "sk-docs-example-4f9a"},
        ).raise_for_status()
        now = datetime.now(UTC)
        events = []
        for hours_ago in range(0, 6 * 24, 5):
            when = (now - timedelta(hours=hours_ago)).isoformat()
            events.append(
                {
                    "meter": "tokens.input",
                    "quantity": 800 + (hours_ago * 37) % 900,
                    "occurred_at": when,
                    "slot": dev.json()["id"],
                }
            )
            events.append({"meter": "api.requests", "occurred_at": when})
        api.post("/api/v1/usage/events", json={"events": events}).raise_for_status()


def main() -> None:
    var_dir = Path(os.environ.get("ROSTER_VAR_DIR") or Path(tempfile.gettempdir()) / "roster-docs")
    shutil.rmtree(var_dir, ignore_errors=True)
    env = {
        **os.environ,
        "ROSTER_VAR_DIR": str(var_dir),
        "DEBUG": "true",
        "ACCOUNT_EMAIL_VERIFICATION": "mandatory",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL"):
        env.pop(name, None)
    manage(env, "migrate", "--noinput")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(env, port, var_dir / "server.log")
    IMAGES.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="roster-docs-chromium-"))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                env={
                    **os.environ,
                    "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_CACHE_HOME": str(home / "cache"),
                },
            )
            context = browser.new_context(viewport=VIEWPORT, user_agent=CHROME)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("dialog", lambda dialog: dialog.accept())
            take_screenshots(page, browser, base, var_dir)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def take_screenshots(page: Page, browser, base: str, var_dir: Path) -> None:
    """The user guide's screenshots, in the order a new user meets the pages."""
    sign_up(page, base, var_dir)
    seed_through_the_api(base)
    # A second browser, so the sessions page has more than one line.
    other = sign_in_elsewhere(browser, base)
    account_pages(page, base)
    other.close()
    themes(page, base)


def sign_up(page: Page, base: str, var_dir: Path) -> None:
    """Sign up, then confirm the address from the mail file."""
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    shot(page, "signup")
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_role("heading", name="Verify Your Email Address").wait_for()
    page.goto(confirmation_link(var_dir / "mail"))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your account").wait_for()


def sign_in_elsewhere(browser, base: str):
    """The same account signed in from another browser (the sign-in page's screenshot);
    returns that browser's context, for the caller to close."""
    other = browser.new_context(viewport=VIEWPORT, user_agent=FIREFOX)
    other_page = other.new_page()
    other_page.goto(f"{base}/accounts/login/")
    shot(other_page, "signin")
    other_page.get_by_label("Email").fill(EMAIL)
    other_page.get_by_label("Password").fill(PASSWORD)
    other_page.get_by_role("button", name="Sign In", exact=True).click()
    other_page.get_by_role("heading", name="Your account").wait_for()
    return other


def account_pages(page: Page, base: str) -> None:
    """The account area, page by page, through its navigation."""
    page.goto(f"{base}/account/")
    shot(page, "overview")

    nav(page, "Settings")
    shot(page, "settings")

    nav(page, "Two-factor")
    page.get_by_role("heading", name="Authenticator App").wait_for()
    page.locator("section", has_text="Authenticator App").get_by_role(
        "link", name="Activate"
    ).click()
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Activate Authenticator App").wait_for()
    shot(page, "mfa-activate")

    nav(page, "API keys")
    page.get_by_label("Name").fill("deploy bot")
    page.get_by_label("usage:write").check()
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key-secret").wait_for()
    shot(page, "api-key-shown-once")

    nav(page, "Sessions")
    shot(page, "sessions")

    nav(page, "Slots")
    shot(page, "slots")
    page.get_by_role("link", name="dev", exact=True).click()
    shot(page, "slot-detail", full_page=True)

    nav(page, "Usage")
    shot(page, "usage", full_page=True)

    nav(page, "Security log")
    shot(page, "security-log")


def themes(page: Page, base: str) -> None:
    """The theme follows the system ("auto") until one is chosen: the same account page in
    light and dark, on a desktop (1280 px) and a phone (360 px)."""
    for width, height in ((1280, 800), (360, 740)):
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.goto(f"{base}/account/")
            shot(page, f"account-{scheme}-{width}")
    page.emulate_media(color_scheme="light")


if __name__ == "__main__":
    main()
