"""The browser fixtures of the page tests (Debian's Chromium, the live site), shared here."""

from tests.pages.conftest import (  # noqa: F401
    browser_context_args,
    browser_type_launch_args,
    pytest_collection_modifyitems,
    site,
)
