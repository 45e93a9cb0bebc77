"""Shared fixtures of the page tests: Debian's Chromium driven by pytest-playwright (sync).

Browser tests are marked ``browser``. Without ``/usr/bin/chromium`` they are skipped with a
reason, unless ``ROSTER_REQUIRE_BROWSER=1`` (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# pytest-playwright's sync API runs an event loop in the test thread; the ORM calls the
# tests make (reading the mail outbox, seeding data) are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("ROSTER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)


def browser_required() -> bool:
    return os.environ.get("ROSTER_REQUIRE_BROWSER", "") == "1"


def pytest_collection_modifyitems(config, items):
    if chromium_available() or browser_required():
        return
    skip = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium); "
        "set ROSTER_REQUIRE_BROWSER=1 to make this a failure"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, tmp_path_factory):
    if not chromium_available():
        pytest.fail(f"ROSTER_REQUIRE_BROWSER=1 but Chromium is missing at {CHROMIUM}")
    profile = tmp_path_factory.mktemp("chromium-home")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(profile / "config"),
        "XDG_CACHE_HOME": str(profile / "cache"),
        "HOME": str(profile),
    }
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
        "env": env,
    }


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1100, "height": 900}}


# Data migrations whose rows the pages need. A transactional test empties every table when
# it ends, so browser tests put these rows back first (the seeds use get_or_create).
SEED_MIGRATIONS = [
    ("accounts", "0002_roles"),
    ("accounts", "0004_seed_setting_definitions"),
    ("slots", "0002_seed_slot_types"),
    ("usage", "0002_seed_meters"),
]


def reseed() -> None:
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection
    from django.db.migrations import RunPython

    from accounts.roles import sync_role_permissions

    for app, name in SEED_MIGRATIONS:
        try:
            module = importlib.import_module(f"{app}.migrations.{name}")
        except ImportError:
            continue
        for operation in module.Migration.operations:
            if isinstance(operation, RunPython):
                # Rows only: schema statements (indexes) in the same migrations survive a flush.
                editor = SimpleNamespace(connection=connection, execute=lambda *a, **k: None)
                operation.code(apps, editor)
    sync_role_permissions()


class _InFlight:
    """Counts the live server's requests in progress, so a test's end can wait for them.

    The browser may still have a request running on the server (a page's socket retrying, a
    late fetch) when a test ends. On SQLite in memory the server's threads share the test's
    connection, and the flush that empties the tables between transactional tests fails with
    "database table is locked" while such a request holds a cursor; every later test then
    starts on the leftovers. So the test's end waits until the server is idle.
    """

    def __init__(self, httpd):
        self.count = 0
        self.idle = threading.Condition()
        serve_one = httpd.process_request_thread

        def counted(request, client_address):
            with self.idle:
                self.count += 1
            try:
                serve_one(request, client_address)
            finally:
                with self.idle:
                    self.count -= 1
                    self.idle.notify_all()

        httpd.process_request_thread = counted

    def wait_idle(self, timeout: float = 15.0) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout=timeout)


@pytest.fixture(autouse=True)
def _server_idle_before_flush(request):
    """Set up before the browser's fixtures, so it ends after their pages and contexts are
    closed and before the database is emptied; see ``_InFlight``."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server")
    httpd = server.thread.httpd
    in_flight = getattr(httpd, "roster_in_flight", None)
    if in_flight is None:
        in_flight = httpd.roster_in_flight = _InFlight(httpd)
    yield
    in_flight.wait_idle()


@pytest.fixture
def site(live_server, settings, mailoutbox):
    """The live server, configured for a plain-HTTP browser: cookies without ``Secure``
    (the test server has no TLS) and links in emails and OIDC callbacks over http."""
    reseed()
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    return live_server


@pytest.fixture
def page(page, site):
    """A page that accepts confirmation dialogs (the pages ask before destructive actions)
    and fails the test on any JavaScript error or CSP violation it reports."""
    problems: list[str] = []
    page.on("dialog", lambda dialog: dialog.accept())
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_console(message):
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    page.on("console", on_console)
    page.set_default_timeout(15_000)
    yield page
    assert not problems, problems


@pytest.fixture
def new_page(browser, site):
    """``new_page()``: a page in a fresh browser context (another browser, another session)."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        contexts.append(context)
        created = context.new_page()
        created.set_default_timeout(15_000)
        created.on("dialog", lambda dialog: dialog.accept())
        return created

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Keep the last page of a journey as a test artefact (not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def link_in_mail(message, contains: str) -> str:
    """The first link in a mail whose path contains ``contains``, as a path."""
    for link in re.findall(r"https?://[^\s\"'<>]+", message.body):
        if contains in link:
            return url_path(link)
    raise AssertionError(f"no link with {contains!r} in: {message.body}")


def sign_in(page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def verified_user(email: str, password: str, **fields):
    """A member whose email address is verified (allauth needs that for MFA)."""
    from allauth.account.models import EmailAddress

    from tests.factories import UserFactory

    user = UserFactory(email=email, password=password, **fields)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


def open_account_page(page, name: str) -> None:
    """Follow a link of the account navigation, as a user would."""
    nav = page.get_by_role("navigation", name="Account")
    nav.get_by_role("link", name=name, exact=True).click()


def browser_login(page, site_url: str, user) -> None:
    """Sign ``user`` in without the form (for tests whose subject is not signing in)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": site_url, "httpOnly": True}]
    )
