import pytest
from rest_framework.test import APIClient

from tests.parties.world import build_world


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def api():
    """``api(user)`` → an APIClient authenticated as ``user`` (token)."""
    from rest_framework.authtoken.models import Token

    def make(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
