"""Read endpoints of the input tables: scoped lists and details, filters, natural keys, money
as strings, constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from parties.models import SecurityEvent
from tests.factories import DeliveryLineFactory, HospitalFactory, InvoiceLineFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def keys(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["key"] for row in response.json()["results"]}


def detail_path(world, label: str) -> str:
    row = world.rows[label]
    return {
        "order": lambda r: f"{V1}/orders/{r.order_no}/{r.line_no}/",
        "delivery": lambda r: f"{V1}/deliveries/{r.delivery_no}/{r.line_no}/",
        "invoice": lambda r: f"{V1}/invoices/{r.display_no}/{r.line_no}/",
        "fund": lambda r: f"{V1}/fund-allocations/{r.hospital_id}/{r.period}/",
        "agreement": lambda r: f"{V1}/agreements/{r.round.code}/{r.hospital_id}/{r.product_id}/{r.year_start}/",
        "award": lambda r: f"{V1}/awards/{r.round.code}/{r.product_id}/{r.supply_region_id}/",
        "price": lambda r: f"{V1}/reference-prices/{r.product_id}/{r.source}/{r.region_id}/{r.effective_from}/",
    }[label.split("_")[0]](row)


# --- a hospital cannot see another hospital's orders, through list and detail --------------


def test_hospital_lists_only_its_own_orders(world, api):
    client = api(world.users["hospital_a"])
    order_a = world.rows["order_a"]
    assert keys(client.get(f"{V1}/orders/")) == {order_a.key}


def test_another_hospitals_order_is_404_and_recorded(world, api):
    # given hospital A's user
    user = world.users["hospital_a"]
    client = api(user)
    # when it asks for hospital B's order line by its key
    response = client.get(detail_path(world, "order_b"))
    # then the answer is 404 in the error shape, like a key that does not exist
    assert response.status_code == 404
    assert set(response.json()) == {"code", "detail", "fields"}
    assert response.json()["code"] == "not_found"
    missing = client.get(f"{V1}/orders/NOSUCHORDER/1/")
    assert missing.status_code == 404 and missing.json()["code"] == response.json()["code"]
    # and only the real refusal is recorded as a security event
    events = SecurityEvent.objects.filter(kind="not_found_scope")
    assert [(e.user, e.path) for e in events] == [(user, detail_path(world, "order_b"))]


def test_own_order_detail(world, api):
    order = world.rows["order_a"]
    body = api(world.users["hospital_a"]).get(detail_path(world, "order_a")).json()
    assert body["key"] == f"{order.order_no}/1"
    assert body["hospital_code"] == order.hospital_id
    assert body["distributor_credit_code"] == order.distributor_id
    assert body["unit_price"] == "10.0000"  # money as a decimal string
    assert body["ordered_at"] == "2026-09-01T09:00:00+08:00"
    assert body["order_date"] == "2026-09-01"


# --- every table, every side -----------------------------------------------------------------

LISTS = {
    "orders": ("order_a", "order_b"),
    "deliveries": ("delivery_a", "delivery_b"),
    "invoices": ("invoice_a", "invoice_b"),
    "fund-allocations": ("fund_a", "fund_b"),
    "agreements": ("agreement_a", "agreement_b"),
}


@pytest.mark.parametrize("table", sorted(LISTS))
@pytest.mark.parametrize("who", ["hospital_a", "bureau_weihai"])
def test_side_a_users_see_side_a_rows_and_get_404_for_side_b(world, api, table, who):
    own, other = LISTS[table]
    client = api(world.users[who])
    listed = client.get(f"{V1}/{table}/")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert client.get(detail_path(world, own)).status_code == 200
    assert client.get(detail_path(world, other)).status_code == 404


@pytest.mark.parametrize("table", sorted(LISTS))
def test_province_analyst_and_admin_see_both_sides(world, api, table):
    for who in ("analyst_province", "admin", "superuser"):
        response = api(world.users[who]).get(f"{V1}/{table}/")
        assert response.json()["count"] >= 2, who


def test_distributor_sees_its_documents_but_no_fund_allocations_or_agreements(world, api):
    client = api(world.users["distributor_a"])
    assert client.get(f"{V1}/orders/").json()["count"] == 1
    assert client.get(f"{V1}/invoices/").json()["count"] == 1
    assert client.get(f"{V1}/fund-allocations/").json()["count"] == 0
    assert client.get(f"{V1}/agreements/").json()["count"] == 0
    assert client.get(detail_path(world, "fund_a")).status_code == 404


def test_awards_by_party(world, api):
    province, rizhao = world.rows["award_province"], world.rows["award_rizhao"]
    k = lambda a: f"{a.round.code}/{a.product_id}/{a.supply_region_id}"  # noqa: E731
    assert keys(api(world.users["manufacturer_m"]).get(f"{V1}/awards/")) == {k(province)}
    assert keys(api(world.users["hospital_b"]).get(f"{V1}/awards/")) == {k(province), k(rizhao)}
    assert keys(api(world.users["bureau_weihai"]).get(f"{V1}/awards/")) == {k(province)}
    assert api(world.users["bureau_weihai"]).get(detail_path(world, "award_rizhao")).status_code == 404
    body = api(world.users["manufacturer_m"]).get(detail_path(world, "award_province")).json()
    assert body["award_price"] == "10.0000" and body["supply_region_code"] == "370000"


def test_reference_prices_for_bureaus_only(world, api):
    assert api(world.users["bureau_weihai"]).get(f"{V1}/reference-prices/").json()["count"] == 3
    assert api(world.users["hospital_a"]).get(f"{V1}/reference-prices/").json()["count"] == 0
    assert api(world.users["bureau_weihai"]).get(detail_path(world, "price_weihai")).json()["price"] == "12.0000"
    assert api(world.users["bureau_weihai"]).get(detail_path(world, "price_rizhao")).status_code == 404


def test_receipts_are_received_delivery_lines(world, api):
    client = api(world.users["approver_rizhao"])
    received = world.rows["delivery_b_received"]
    assert keys(client.get(f"{V1}/receipts/")) == {received.key}
    assert keys(client.get(f"{V1}/deliveries/")) == {received.key, world.rows["delivery_b"].key}
    body = client.get(f"{V1}/receipts/{received.delivery_no}/{received.line_no}/").json()
    assert body["accepted_qty"] == received.accepted_qty and body["rejected_qty"] == 0
    assert body["delivered_qty"] == received.qty
    unreceived = world.rows["delivery_b"]
    assert client.get(f"{V1}/receipts/{unreceived.delivery_no}/{unreceived.line_no}/").status_code == 404
    assert client.get(f"{V1}/deliveries/?received=false").json()["count"] == 1


def test_invoice_detail_by_display_number_and_money_strings(world, api):
    invoice = world.rows["invoice_a"]
    body = api(world.users["distributor_a"]).get(detail_path(world, "invoice_a")).json()
    assert body["invoice_no"] == invoice.invoice_no and body["invoice_code"] == ""
    assert body["amount"] == "100.00" and body["tax_rate"] == "0.1300"
    assert body["product_code"] == world.rows["product_m"].code
    assert body["match_status"] == "pending"


def test_paper_invoice_key_is_code_dash_number(world, api):
    paper = InvoiceLineFactory(
        invoice_code="3700201130",
        invoice_no="12345678",
        delivery_line=DeliveryLineFactory(order_line=world.rows["order_a"], received=True),
    )
    client = api(world.users["hospital_a"])
    response = client.get(f"{V1}/invoices/3700201130-12345678/1/")
    assert response.status_code == 200
    assert (
        response.json()["key"] == "3700201130-12345678/1" and response.json()["invoice_display_no"] == paper.display_no
    )
    assert client.get(f"{V1}/invoices/12345678/1/").status_code == 404


def test_master_data_readable_by_everyone_bank_details_restricted(world, api):
    da = world.rows["distributor_a"]
    hospital_view = api(world.users["hospital_a"]).get(f"{V1}/enterprises/{da.credit_code}/").json()
    own_view = api(world.users["distributor_a"]).get(f"{V1}/enterprises/{da.credit_code}/").json()
    assert hospital_view["name"] == da.name and hospital_view["bank_account"] is None
    assert own_view["bank_account"] == da.bank_account
    client = api(world.users["distributor_a"])
    assert client.get(f"{V1}/regions/?within=371000").json()["count"] == 2
    assert client.get(f"{V1}/hospitals/?region=371100").json()["count"] == 1
    assert client.get(f"{V1}/products/{world.rows['product_m'].code}/").json()["manufacturer_credit_code"] == (
        world.rows["manufacturer_m"].credit_code
    )
    assert client.get(f"{V1}/rounds/{world.rows['round'].code}/").status_code == 200
    assert client.get(f"{V1}/rounds/?active_on=2026-06-01").json()["count"] == 1
    assert client.get(f"{V1}/rounds/?active_on=2030-01-01").json()["count"] == 0


# --- filters -----------------------------------------------------------------------------------


def test_order_filters(world, api):
    client = api(world.users["analyst_province"])
    oa, ob = world.rows["order_a"], world.rows["order_b"]
    assert keys(client.get(f"{V1}/orders/", {"hospital": oa.hospital_id})) == {oa.key}
    assert keys(client.get(f"{V1}/orders/", {"distributor": ob.distributor_id})) == {ob.key}
    assert keys(client.get(f"{V1}/orders/", {"product": ob.product_id})) == {ob.key}
    assert keys(client.get(f"{V1}/orders/", {"region": "371000"})) == {oa.key}
    assert keys(client.get(f"{V1}/orders/", {"date_from": "2026-09-01", "date_to": "2026-09-01"})) == {oa.key, ob.key}
    assert keys(client.get(f"{V1}/orders/", {"date_from": "2026-09-02"})) == set()


def test_invoice_and_fund_filters(world, api):
    client = api(world.users["analyst_province"])
    ia = world.rows["invoice_a"]
    ia.match_status, ia.exception_codes = "exception", "NO_RECEIPT;PRICE_ABOVE_AWARD"
    ia.save()
    assert client.get(f"{V1}/invoices/", {"status": "exception"}).json()["count"] == 1
    assert client.get(f"{V1}/invoices/", {"exception": "PRICE_ABOVE_AWARD"}).json()["count"] == 1
    assert client.get(f"{V1}/invoices/", {"exception": "NO_DELIVERY"}).json()["count"] == 0
    assert client.get(f"{V1}/invoices/", {"region": "371100"}).json()["count"] == 1
    assert client.get(f"{V1}/fund-allocations/", {"period": "2026-09"}).json()["count"] == 2
    assert client.get(f"{V1}/fund-allocations/", {"period_from": "2026-10"}).json()["count"] == 0


def test_bad_filters_are_400_naming_each_parameter(world, api):
    response = api(world.users["analyst_province"]).get(
        f"{V1}/orders/", {"date_from": "2026-13-01", "region": "37", "hospital": "x"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_filter"
    assert set(body["fields"]) == {"date_from", "region"}
    status_response = api(world.users["analyst_province"]).get(f"{V1}/invoices/", {"status": "paid"})
    assert status_response.status_code == 400 and set(status_response.json()["fields"]) == {"status"}


def test_pagination(world, api):
    client = api(world.users["analyst_province"])
    body = client.get(f"{V1}/orders/", {"page_size": 1}).json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    assert client.get(f"{V1}/orders/", {"page": 99}).status_code == 404


def test_unauthenticated_list_is_401(api, world):
    response = api().get(f"{V1}/orders/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_writes_are_405_on_read_endpoints(world, api):
    client = api(world.users["admin"])
    response = client.post(f"{V1}/orders/", {}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert client.delete(detail_path(world, "order_a")).status_code == 405


# --- constant query counts ------------------------------------------------------------------------

ALL_LISTS = [
    "regions",
    "enterprises",
    "hospitals",
    "products",
    "rounds",
    "awards",
    "agreements",
    "orders",
    "deliveries",
    "receipts",
    "invoices",
    "fund-allocations",
    "reference-prices",
]


def more_documents(world, n: int = 4):
    for _ in range(n):
        hospital = HospitalFactory(region=world.regions["huancui"])
        order = OrderLineFactory(hospital=hospital)
        InvoiceLineFactory(delivery_line=DeliveryLineFactory(order_line=order, received=True))


@pytest.mark.parametrize("table", ALL_LISTS)
@pytest.mark.parametrize("who", ["bureau_weihai", "hospital_a", "admin"])
def test_list_query_count_does_not_grow_with_rows(world, api, table, who):
    client = api(world.users[who])
    client.get(f"{V1}/{table}/")  # warm-up (content types, etc.)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"{V1}/{table}/").status_code == 200
    more_documents(world)
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"{V1}/{table}/").status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_orders_list_query_count_is_fixed(world, api, django_assert_num_queries):
    more_documents(world)
    client = api(world.users["bureau_weihai"])
    # token + user, bureau (for the region prefix), count, page
    with django_assert_num_queries(4):
        response = client.get(f"{V1}/orders/")
    assert response.json()["count"] == 5


@pytest.mark.parametrize("table", ALL_LISTS)
def test_every_list_answers_for_every_role(world, api, table):
    for user in world.users.values():
        if user.is_active:
            assert api(user).get(f"{V1}/{table}/").status_code == 200


def test_page_size_is_capped(world, api, monkeypatch):
    from interchange.api import pagination

    monkeypatch.setattr(pagination.StandardPagination, "max_page_size", 1)
    body = api(world.users["analyst_province"]).get(f"{V1}/orders/", {"page_size": 1000}).json()
    assert body["count"] == 2 and len(body["results"]) == 1
    assert pagination.MAX_PAGE_SIZE == 500


def test_receipts_collection_reads_here_and_hands_posts_to_the_receipts_feature(world, api):
    # GET /receipts/ is this module's list; POST /receipts/ belongs to procurement.api.receipt_urls
    client = api(world.users["distributor_a"])
    assert client.get(f"{V1}/receipts/").status_code == 200
    response = client.post(f"{V1}/receipts/", {"delivery_no": "X", "line_no": 1}, format="json")
    assert response.status_code != 405  # reached the receipts feature's view (which judges it)
    assert set(response.json()) == {"code", "detail", "fields"}
