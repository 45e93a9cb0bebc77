import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.parallel import pytest_xdist_setupnodes  # noqa: F401 - the xdist workers' setup


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def member(db):
    return UserFactory(email="member@example.com", roles=["member"])


@pytest.fixture
def other_member(db):
    return UserFactory(email="other@example.com", roles=["member"])


@pytest.fixture
def manager(db):
    return UserFactory(email="manager@example.com", roles=["manager"])


@pytest.fixture
def admin_user(db):
    return UserFactory(email="admin@example.com", roles=["admin"])


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client signed in through the browser session."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make
