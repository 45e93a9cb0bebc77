import pytest
from django.test import Client


@pytest.fixture
def web_client_for():
    """``web_client_for(user)``: a Django test client signed in through the browser session."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def admin_web(admin_user, web_client_for) -> Client:
    return web_client_for(admin_user)


@pytest.fixture
def manager_web(manager, web_client_for) -> Client:
    return web_client_for(manager)


# The browser fixtures are shared with the page tests (Debian's Chromium, the skip rule,
# a page that fails on CSP violations).
from tests.pages.conftest import (  # noqa: E402,F401
    browser_context_args,
    browser_type_launch_args,
    page,
    pytest_collection_modifyitems,
    site,
)
