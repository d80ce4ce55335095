import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    client.force_login(UserFactory(role="admin"))
    return client


def test_nul_in_an_api_query_parameter_is_a_400_in_the_error_shape(api):
    response = api.get("/api/v1/reference-prices/", {"region": ">\x00x"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "nul_character"
    assert "region" in body["fields"]


def test_nul_in_a_page_form_is_a_400(api):
    response = api.get("/", {"q": "a\x00b"})
    assert response.status_code == 400


def test_ordinary_parameters_pass(api):
    assert api.get("/api/v1/reference-prices/", {"region": "370000"}).status_code == 200
