"""parties.scoping: every role against every family, on a two-city world (tests/parties/world.py)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from parties import scoping
from parties.models import Hospital
from price_monitor.models import ReferencePrice
from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Prepayment
from settlement.models import FundAllocation, InvoiceLine, Statement
from tests.parties.world import build_world

pytestmark = pytest.mark.django_db

FAMILIES = {
    "orders": (OrderLine, scoping.ORDER_LINE),
    "deliveries": (DeliveryLine, scoping.DELIVERY_LINE),
    "invoices": (InvoiceLine, scoping.INVOICE_LINE),
    "agreements": (Agreement, scoping.AGREEMENT),
    "awards": (Award, scoping.AWARD),
    "funds": (FundAllocation, scoping.FUND_ALLOCATION),
    "prepayments": (Prepayment, scoping.PREPAYMENT),
    "prices": (ReferencePrice, scoping.REFERENCE_PRICE),
    "hospitals": (Hospital, scoping.HOSPITAL),
    "statements": (Statement, scoping.STATEMENT),
}

SIDE_A = {
    "orders": {"order_a"},
    "deliveries": {"delivery_a"},
    "invoices": {"invoice_a"},
    "agreements": {"agreement_a"},
    "funds": {"fund_a"},
    "prepayments": {"prepayment_a"},
    "hospitals": {"hospital_a"},
    "statements": {"statement_a"},
}
SIDE_B = {
    "orders": {"order_b"},
    "deliveries": {"delivery_b", "delivery_b_received"},
    "invoices": {"invoice_b"},
    "agreements": {"agreement_b"},
    "funds": {"fund_b"},
    "prepayments": {"prepayment_b"},
    "hospitals": {"hospital_b"},
    "statements": {"statement_b"},
}
EVERYTHING = {family: SIDE_A.get(family, set()) | SIDE_B.get(family, set()) for family in FAMILIES} | {
    "awards": {"award_province", "award_rizhao"},
    "prices": {"price_province", "price_weihai", "price_huancui", "price_rizhao"},
}
NOTHING = dict.fromkeys(FAMILIES, set())

EXPECTED = {
    # A hospital: its own documents; the awards whose supply region covers it; no prices.
    "hospital_a": {**NOTHING, **SIDE_A, "awards": {"award_province"}},
    "hospital_b": {**NOTHING, **SIDE_B, "awards": {"award_province", "award_rizhao"}},
    # A distributor: the documents it is a party to (no agreements, funds, hospitals).
    "distributor_a": {
        **NOTHING,
        "orders": {"order_a"},
        "deliveries": {"delivery_a"},
        "invoices": {"invoice_a"},
        "statements": {"statement_a"},
    },
    # A manufacturer: the awards it won.
    "manufacturer_m": {**NOTHING, "awards": {"award_province"}},
    # A city bureau: its city and below; awards and prices inside it or covering it (not 日照's).
    "bureau_weihai": {
        **SIDE_A,
        "awards": {"award_province"},
        "prices": {"price_province", "price_weihai", "price_huancui"},
    },
    "approver_rizhao": {
        **SIDE_B,
        "awards": {"award_province", "award_rizhao"},
        "prices": {"price_province", "price_rizhao"},
    },
    # The province covers both cities.
    "analyst_province": EVERYTHING,
    "admin": EVERYTHING,
    "superuser": EVERYTHING,
    "inactive_hospital_a": NOTHING,
}


@pytest.fixture
def world():
    return build_world()


def visible(world, user) -> dict[str, set[str]]:
    return {
        family: world.labels(scoping.scoped(model.objects.all(), user, **paths))
        for family, (model, paths) in FAMILIES.items()
    }


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_each_role_sees_exactly_its_rows_in_every_family(world, who):
    # given the two-city world and one of its users
    user = world.users[who]
    # when every family is scoped for that user
    seen = visible(world, user)
    # then exactly the expected rows are visible
    assert seen == EXPECTED[who]


def test_anonymous_sees_nothing(world):
    assert visible(world, AnonymousUser()) == NOTHING


def test_hospital_user_without_hospital_and_bureau_user_without_bureau_see_nothing(world):
    # given users whose organisation link is missing (the DB forbids it; in-memory they can exist)
    hospital_user = world.users["hospital_a"]
    hospital_user.hospital_id = None
    bureau = world.users["bureau_weihai"]
    bureau.bureau_id = None
    # then they see nothing rather than everything
    assert visible(world, hospital_user) == NOTHING
    assert visible(world, bureau) == NOTHING


def test_city_bureau_prefix_does_not_match_a_sibling_city(world):
    # 371000 covers 3710xx, not 371100 (日照) although "3711" starts with "371"
    user = world.users["bureau_weihai"]
    assert scoping.user_region_prefix(user) == "3710"
    assert "order_b" not in world.labels(scoping.scoped(OrderLine.objects.all(), user, **scoping.ORDER_LINE))


@pytest.mark.parametrize(
    ("code", "include_self", "expected"),
    [
        ("371002", True, ["370000", "371000", "371002"]),
        ("371002", False, ["370000", "371000"]),
        ("371000", True, ["370000", "371000"]),
        ("371000", False, ["370000"]),
        ("370000", False, []),
        ("370000", True, ["370000"]),
    ],
)
def test_covering_region_codes(code, include_self, expected):
    assert scoping.covering_region_codes(code, include_self=include_self) == expected


def test_bank_details_visible_to_the_enterprise_bureaus_and_admins_only(world):
    da = world.rows["distributor_a"]
    assert scoping.may_see_bank_details(world.users["distributor_a"], da.credit_code)
    assert scoping.may_see_bank_details(world.users["bureau_weihai"], da.credit_code)
    assert scoping.may_see_bank_details(world.users["admin"], da.credit_code)
    assert not scoping.may_see_bank_details(world.users["manufacturer_m"], da.credit_code)
    assert not scoping.may_see_bank_details(world.users["hospital_a"], da.credit_code)
    assert not scoping.may_see_bank_details(AnonymousUser(), da.credit_code)


def test_scoped_get_or_404_records_a_refusal_only_for_rows_that_exist(world):
    from django.http import Http404

    from parties.models import SecurityEvent

    user = world.users["hospital_a"]
    order_b = world.rows["order_b"]
    # another hospital's order: 404, and a security event
    with pytest.raises(Http404):
        scoping.scoped_get_or_404(OrderLine.objects.all(), user, scoping.ORDER_LINE, pk=order_b.pk)
    assert SecurityEvent.objects.filter(kind="not_found_scope", user=user).count() == 1
    # a key that does not exist: 404, nothing recorded
    with pytest.raises(Http404):
        scoping.scoped_get_or_404(OrderLine.objects.all(), user, scoping.ORDER_LINE, pk=10**9)
    assert SecurityEvent.objects.filter(kind="not_found_scope").count() == 1
    # its own order is found
    own = scoping.scoped_get_or_404(OrderLine.objects.all(), user, scoping.ORDER_LINE, pk=world.rows["order_a"].pk)
    assert own == world.rows["order_a"]
