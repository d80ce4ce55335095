"""OpenAPI generates cleanly and documents the read endpoints; /me/ tells who is calling."""

import pytest
import yaml
from django.core.management import call_command

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ_PATHS = [
    "/api/v1/regions/{region_code}/",
    "/api/v1/enterprises/{credit_code}/",
    "/api/v1/hospitals/{hospital_code}/",
    "/api/v1/products/{product_code}/",
    "/api/v1/rounds/{round_code}/",
    "/api/v1/awards/{round_code}/{product_code}/{supply_region_code}/",
    "/api/v1/agreements/{round_code}/{hospital_code}/{product_code}/{year_start}/",
    "/api/v1/orders/{order_no}/{line_no}/",
    "/api/v1/deliveries/{delivery_no}/{line_no}/",
    "/api/v1/receipts/{delivery_no}/{line_no}/",
    "/api/v1/invoices/{invoice}/{line_no}/",
    "/api/v1/fund-allocations/{hospital_code}/{period}/",
    "/api/v1/reference-prices/{product_code}/{source}/{region_code}/{effective_from}/",
]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "schema.yml"
    call_command("spectacular", "--validate", "--file", str(out))
    return yaml.safe_load(out.read_text(encoding="utf-8"))


def test_schema_generates_without_warnings(tmp_path, capsys):
    # any warning of drf-spectacular (untyped field, unknown path parameter, operationId or
    # enum-name collision …) fails, whichever feature's view caused it: the output names it
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").stat().st_size > 0


def test_every_read_table_has_list_and_detail(schema):
    for detail in READ_PATHS:
        collection = detail.split("{")[0]
        assert "get" in schema["paths"][detail], detail
        assert "get" in schema["paths"][collection], collection


def test_list_filters_and_key_parameters_are_documented(schema):
    orders = {p["name"] for p in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]}
    assert {"hospital", "distributor", "product", "date_from", "date_to", "region", "page", "page_size"} <= orders
    detail = schema["paths"]["/api/v1/orders/{order_no}/{line_no}/"]["get"]["parameters"]
    assert {(p["name"], p["in"], p["schema"]["type"]) for p in detail} == {
        ("order_no", "path", "string"),
        ("line_no", "path", "integer"),
    }


def test_money_is_a_decimal_string_in_the_schema(schema):
    amount = schema["components"]["schemas"]["InvoiceLine"]["properties"]["amount"]
    assert amount["type"] == "string" and amount["format"] == "decimal"


def test_docs_and_schema_pages_answer(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_me_for_a_hospital_user(world, api):
    user = world.users["hospital_a"]
    body = api(user).get("/api/v1/me/").json()
    hospital = world.rows["hospital_a"]
    assert body["username"] == "hosp_a" and body["role"] == "hospital"
    assert body["organisation"] == {
        "kind": "hospital",
        "code": hospital.code,
        "name": hospital.name,
        "region_code": "371002",
    }
    assert body["region_prefix"] is None


def test_me_for_bureau_enterprise_and_admin(world, api):
    bureau = api(world.users["bureau_weihai"]).get("/api/v1/me/").json()
    assert bureau["organisation"]["kind"] == "bureau" and bureau["region_prefix"] == "3710"
    enterprise = api(world.users["distributor_a"]).get("/api/v1/me/").json()
    assert enterprise["organisation"]["code"] == world.rows["distributor_a"].credit_code
    admin = api(UserFactory(username="ops")).get("/api/v1/me/").json()
    assert admin["organisation"] is None and admin["role"] == "admin"


def test_me_with_session_auth(world, client):
    client.force_login(world.users["hospital_a"])
    assert client.get("/api/v1/me/").json()["username"] == "hosp_a"


def test_me_requires_authentication(api):
    assert api().get("/api/v1/me/").status_code == 401
