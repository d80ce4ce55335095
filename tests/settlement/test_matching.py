"""Matching (对账): each exception code with the smallest case that raises it and one that
just avoids it, red-line netting, frozen lines and re-runs (DOMAIN.md "Matching rules")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings

from settlement.models import ExceptionCode, InvoiceLine, MatchStatus, Statement
from settlement.services import matching
from settlement.services.matching import NO_ORIGINAL, invoices_match
from tests.factories import (
    AwardFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    RegionFactory,
    RoundFactory,
)

pytestmark = pytest.mark.django_db

C = ExceptionCode


def refreshed(*lines):
    for line in lines:
        line.refresh_from_db()
    return lines


def received_delivery(qty=10, accepted=None, **order_kw):
    accepted = qty if accepted is None else accepted
    order = OrderLineFactory(qty=qty, **order_kw)
    return DeliveryLineFactory(
        order_line=order,
        qty=qty,
        accepted_qty=accepted,
        rejected_qty=qty - accepted,
        reject_reason="破损 / damaged" if qty - accepted else "",
        received_at=order.ordered_at + dt.timedelta(days=2),
        accepted_date=(order.ordered_at + dt.timedelta(days=2)).date(),
    )


def blue(dl, **kw):
    return InvoiceLineFactory(delivery_line=dl, **kw)


def red(of: InvoiceLine, qty: int, amount: Decimal | None = None, **kw):
    fields = {
        "delivery_line": of.delivery_line,
        "kind": "red",
        "original_invoice_code": of.invoice_code,
        "original_invoice_no": of.invoice_no,
        "distributor": of.distributor,
        "hospital": of.hospital,
        "qty": -qty,
        "unit_price": of.unit_price,
        "amount": amount if amount is not None else -(qty * of.unit_price).quantize(Decimal("0.01")),
        "issued_at": of.issued_at + dt.timedelta(days=3),
    }
    return InvoiceLineFactory(**{**fields, **kw})


def unlinked_invoice(dl, *, unit_price, amount, delivery_no="DL-MISSING", delivery_line_no=1):
    """An invoice line of 10 packages between ``dl``'s parties that references a delivery line
    only by number (no FK): by default one that does not exist."""
    return InvoiceLineFactory(
        delivery_line=None,
        delivery_no=delivery_no,
        delivery_line_no=delivery_line_no,
        distributor=dl.order_line.distributor,
        hospital=dl.order_line.hospital,
        qty=10,
        unit_price=unit_price,
        amount=amount,
        issued_at=dt.date(2026, 9, 5),
    )


def codes(line) -> list[str]:
    return line.exception_codes.split(";") if line.exception_codes else []


# --- the plain case ----------------------------------------------------------------------


def test_a_line_that_agrees_with_everything_is_matched_with_its_net_values():
    # given an accepted delivery invoiced at the order price
    line = blue(received_delivery())
    # when matching runs
    result = invoices_match()
    # then the line is matched, nets equal its own values, nothing else is reported
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.MATCHED
    assert line.exception_codes == ""
    assert (line.net_qty, line.net_amount) == (10, Decimal("100.00"))
    assert line.matched_at is not None
    assert result.lines_checked == 1 and result.lines_changed == 1
    assert result.by_status == {"matched": 1}


def test_rerunning_changes_nothing():
    blue(received_delivery())
    blue(received_delivery(), unit_price=Decimal("10.5000"), amount=Decimal("105.00"))
    invoices_match()
    stamp = list(InvoiceLine.objects.order_by("id").values_list("matched_at", flat=True))
    again = invoices_match()
    assert again.lines_changed == 0
    assert list(InvoiceLine.objects.order_by("id").values_list("matched_at", flat=True)) == stamp


# --- NO_DELIVERY -------------------------------------------------------------------------


def test_no_delivery_when_the_referenced_delivery_line_does_not_exist():
    # given an invoice line whose delivery line is unknown, with an unrelated wrong price
    dl = received_delivery()
    line = unlinked_invoice(dl, unit_price=Decimal("99.0000"), amount=Decimal("990.00"))
    invoices_match()
    (line,) = refreshed(line)
    # then only NO_DELIVERY (no price or party check without a delivery line)
    assert codes(line) == [C.NO_DELIVERY]
    assert line.match_status == MatchStatus.EXCEPTION


def test_no_delivery_comes_with_amount_miscalculated_when_that_applies():
    dl = received_delivery()
    line = unlinked_invoice(dl, unit_price=Decimal("10.0000"), amount=Decimal("100.50"))
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.AMOUNT_MISCALCULATED, C.NO_DELIVERY]


def test_a_delivery_that_arrives_later_is_found_by_its_number_and_linked():
    # given an invoice imported before its delivery line (no FK yet)
    dl = received_delivery()
    line = unlinked_invoice(
        dl,
        delivery_no=dl.delivery_no,
        delivery_line_no=dl.line_no,
        unit_price=Decimal("10.0000"),
        amount=Decimal("100.00"),
    )
    invoices_match()
    (line,) = refreshed(line)
    # then matching links it and it is matched: NO_DELIVERY just avoided
    assert line.delivery_line_id == dl.id
    assert line.match_status == MatchStatus.MATCHED


# --- NO_RECEIPT --------------------------------------------------------------------------


def test_no_receipt_when_the_delivery_line_was_not_received_and_no_quantity_check():
    dl = DeliveryLineFactory()  # not received
    line = blue(dl, qty=50, amount=Decimal("500.00"))  # more than delivered: not checked without receipt
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.NO_RECEIPT]


def test_a_receipt_clears_no_receipt():
    dl = DeliveryLineFactory()
    line = blue(dl)
    invoices_match()
    dl.accepted_qty, dl.rejected_qty = dl.qty, 0
    dl.received_at = dl.delivered_at + dt.timedelta(hours=2)
    dl.accepted_date = dl.received_at.date()
    dl.save()
    invoices_match()
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.MATCHED


# --- QTY_EXCEEDS_ACCEPTED ----------------------------------------------------------------


def test_running_sum_equal_to_accepted_quantity_is_fine_one_more_is_not():
    # given 10 accepted, invoiced 6 then 4 (sum = 10, just avoided) then 1 more
    dl = received_delivery(qty=10)
    first = blue(dl, qty=6, amount=Decimal("60.00"), issued_at=dt.date(2026, 9, 3))
    second = blue(dl, qty=4, amount=Decimal("40.00"), issued_at=dt.date(2026, 9, 4))
    invoices_match()
    refreshed(first, second)
    assert first.match_status == second.match_status == MatchStatus.MATCHED
    third = blue(dl, qty=1, amount=Decimal("10.00"), issued_at=dt.date(2026, 9, 5))
    invoices_match()
    refreshed(first, second, third)
    # then only the line whose running sum passes 10 is flagged
    assert codes(third) == [C.QTY_EXCEEDS_ACCEPTED]
    assert first.match_status == second.match_status == MatchStatus.MATCHED


def test_a_delivery_invoiced_twice_flags_the_second_invoice_by_issue_date_then_number():
    dl = received_delivery(qty=10)
    later = blue(dl, invoice_no="26370000000000000001", issued_at=dt.date(2026, 9, 8))
    earlier = blue(dl, invoice_no="26370000000000000009", issued_at=dt.date(2026, 9, 7))
    same_day_low = blue(received_delivery(qty=5), invoice_no="26370000000000000100", issued_at=dt.date(2026, 9, 7))
    same_day_high = blue(same_day_low.delivery_line, invoice_no="26370000000000000200", issued_at=dt.date(2026, 9, 7))
    invoices_match()
    refreshed(later, earlier, same_day_low, same_day_high)
    assert earlier.match_status == MatchStatus.MATCHED
    assert codes(later) == [C.QTY_EXCEEDS_ACCEPTED]
    assert same_day_low.match_status == MatchStatus.MATCHED
    assert codes(same_day_high) == [C.QTY_EXCEEDS_ACCEPTED]


def test_partial_rejection_lowers_what_may_be_invoiced():
    dl = received_delivery(qty=10, accepted=8)
    over = blue(dl, qty=9, amount=Decimal("90.00"))
    invoices_match()
    (over,) = refreshed(over)
    assert codes(over) == [C.QTY_EXCEEDS_ACCEPTED]


def test_running_sum_uses_net_quantity_after_red_lines():
    # given a delivery invoiced twice, then the first invoice fully reversed
    dl = received_delivery(qty=10)
    first = blue(dl, issued_at=dt.date(2026, 9, 3))
    second = blue(dl, issued_at=dt.date(2026, 9, 4))
    invoices_match()
    (second,) = refreshed(second)
    assert codes(second) == [C.QTY_EXCEEDS_ACCEPTED]
    reversal = red(first, 10)
    invoices_match()
    refreshed(first, second, reversal)
    assert first.match_status == MatchStatus.REVERSED and first.exception_codes == ""
    assert second.match_status == MatchStatus.MATCHED


# --- PRICE_DIFFERS_FROM_ORDER ------------------------------------------------------------


def test_price_differs_from_order_by_one_ten_thousandth():
    dl = received_delivery()
    line = blue(dl, unit_price=Decimal("10.0001"), amount=Decimal("100.00"))
    same = blue(received_delivery())
    invoices_match()
    refreshed(line, same)
    assert codes(line) == [C.PRICE_DIFFERS_FROM_ORDER]
    assert same.match_status == MatchStatus.MATCHED


# --- PRICE_ABOVE_AWARD -------------------------------------------------------------------


def awarded_delivery(order_price="10.0000", **order_kw):
    return received_delivery(unit_price=Decimal(order_price), **order_kw)


def test_price_above_the_award_covering_the_order():
    dl = awarded_delivery()
    AwardFactory(product=dl.order_line.product, award_price=Decimal("9.9999"))
    line = blue(dl)
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.PRICE_ABOVE_AWARD]


def test_price_equal_to_the_award_is_fine():
    dl = awarded_delivery()
    AwardFactory(product=dl.order_line.product, award_price=Decimal("10.0000"))
    line = blue(dl)
    invoices_match()
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.MATCHED


def test_an_award_that_does_not_cover_the_order_is_ignored():
    dl = awarded_delivery()
    product = dl.order_line.product
    # another province's award, and an award of a round that ended before the order date
    AwardFactory(product=product, award_price=Decimal("1.0000"), supply_region=RegionFactory(code="320000"))
    AwardFactory(
        product=product,
        award_price=Decimal("1.0000"),
        round=RoundFactory(start_date=dt.date(2024, 1, 1), end_date=dt.date(2025, 12, 31)),
    )
    line = blue(dl)
    invoices_match()
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.MATCHED


def test_the_most_specific_supply_region_wins_then_the_lowest_price():
    # given a province award below the invoice price and a city award above it
    dl = awarded_delivery()  # hospital in 371002, under city 371000
    product = dl.order_line.product
    AwardFactory(product=product, award_price=Decimal("8.0000"))  # 370000
    city = RegionFactory(code="371000")
    AwardFactory(product=product, award_price=Decimal("12.0000"), supply_region=city)
    AwardFactory(product=product, award_price=Decimal("10.5000"), supply_region=city, round=RoundFactory())
    line = blue(dl)
    invoices_match()
    (line,) = refreshed(line)
    # then the city's lowest award (10.50) applies: 10.00 is not above it
    assert line.match_status == MatchStatus.MATCHED
    # when the city's lowest award is lowered below the price, the line is above the award
    from procurement.models import Award

    Award.objects.filter(award_price=Decimal("10.5000")).update(award_price=Decimal("9.5000"))
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.PRICE_ABOVE_AWARD]


# --- AMOUNT_MISCALCULATED ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "flagged"),
    [("100.00", False), ("100.01", False), ("99.99", False), ("100.02", True), ("99.98", True)],
)
def test_amount_off_by_the_tolerance_is_fine_one_fen_more_is_not(amount, flagged):
    line = blue(received_delivery(), amount=Decimal(amount))
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == ([C.AMOUNT_MISCALCULATED] if flagged else [])


def test_expected_amount_rounds_half_up():
    # 3 × 3.3350 = 10.005 → 10.01 (half up), so 10.01 is exact and 10.00 is off by 0.01
    dl = received_delivery(qty=3, unit_price=Decimal("3.3350"))
    exact = blue(dl, amount=Decimal("10.01"))
    with override_settings(POLICY={**settings.POLICY, "AMOUNT_TOLERANCE": Decimal("0")}):
        invoices_match()
    (exact,) = refreshed(exact)
    assert exact.match_status == MatchStatus.MATCHED


def test_tolerance_is_a_per_region_policy():
    line = blue(received_delivery(), amount=Decimal("100.04"))
    with override_settings(POLICY_REGION_OVERRIDES={"371000": {"AMOUNT_TOLERANCE": Decimal("0.05")}}):
        invoices_match()
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.MATCHED


# --- PARTY_MISMATCH ----------------------------------------------------------------------


def test_party_mismatch_when_the_seller_is_not_the_orders_distributor():
    line = blue(received_delivery(), distributor=EnterpriseFactory())
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.PARTY_MISMATCH]


def test_party_mismatch_when_the_buyer_is_not_the_orders_hospital():
    line = blue(received_delivery(), hospital=HospitalFactory())
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.PARTY_MISMATCH]


# --- several codes at once, and DISPUTED ------------------------------------------------


def test_every_applicable_code_is_reported_sorted():
    dl = received_delivery(qty=10)
    AwardFactory(product=dl.order_line.product, award_price=Decimal("9.0000"))
    line = blue(dl, qty=11, unit_price=Decimal("11.0000"), amount=Decimal("1.00"), distributor=EnterpriseFactory())
    invoices_match()
    (line,) = refreshed(line)
    assert line.exception_codes == (
        "AMOUNT_MISCALCULATED;PARTY_MISMATCH;PRICE_ABOVE_AWARD;PRICE_DIFFERS_FROM_ORDER;QTY_EXCEEDS_ACCEPTED"
    )


def test_a_disputed_line_keeps_disputed_until_it_is_reversed():
    line = blue(received_delivery())
    InvoiceLine.objects.filter(pk=line.pk).update(dispute_reason="数量不符 / quantity wrong")
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.DISPUTED]
    assert line.match_status == MatchStatus.EXCEPTION
    red(line, 10)
    invoices_match()
    (line,) = refreshed(line)
    assert line.match_status == MatchStatus.REVERSED and line.exception_codes == ""


# --- red lines -----------------------------------------------------------------------------


def test_a_partial_red_line_nets_quantity_and_amount():
    line = blue(received_delivery())
    reversal = red(line, 3)
    invoices_match()
    refreshed(line, reversal)
    assert (line.net_qty, line.net_amount, line.match_status) == (7, Decimal("70.00"), MatchStatus.MATCHED)
    assert reversal.reverses_id == line.id
    assert reversal.match_status == MatchStatus.REVERSED
    assert (reversal.net_qty, reversal.net_amount) == (-3, Decimal("-30.00"))


def test_a_red_line_reverses_the_paper_invoice_of_its_code_and_seller_only():
    dl = received_delivery()
    paper = blue(dl, invoice_code="3700261130", invoice_no="00012345")
    # the same 8-digit number under another code is another invoice
    other_code = blue(received_delivery(), invoice_code="3700261131", invoice_no="00012345")
    reversal = red(paper, 10)
    invoices_match()
    refreshed(paper, other_code, reversal)
    assert paper.match_status == MatchStatus.REVERSED
    assert other_code.match_status == MatchStatus.MATCHED and other_code.net_qty == 10
    assert reversal.reverses_id == paper.id


def test_a_red_line_without_its_blue_line_is_an_exception():
    line = blue(received_delivery())
    orphan = red(line, 2)
    InvoiceLine.objects.filter(pk=orphan.pk).update(original_invoice_no="26379999999999999999")
    invoices_match()
    refreshed(line, orphan)
    assert orphan.match_status == MatchStatus.EXCEPTION and orphan.exception_codes == NO_ORIGINAL
    assert orphan.reverses_id is None
    assert line.net_qty == 10


def test_a_red_line_of_another_seller_does_not_reverse():
    line = blue(received_delivery())
    foreign = red(line, 10, distributor=EnterpriseFactory())
    invoices_match()
    refreshed(line, foreign)
    assert line.match_status == MatchStatus.MATCHED
    assert foreign.exception_codes == NO_ORIGINAL


# --- frozen lines ----------------------------------------------------------------------------


def test_a_line_in_an_approved_batch_is_frozen_and_a_later_red_line_stands_alone(monkeypatch):
    # given a matched line that then goes into an approved batch
    line = blue(received_delivery())
    invoices_match()
    monkeypatch.setattr(matching, "frozen_batch_lines", lambda ref: InvoiceLine.objects.filter(pk=line.pk, id=ref))
    # when its order's price is found wrong and a red line arrives
    line.delivery_line.order_line.__class__.objects.filter(pk=line.delivery_line.order_line_id).update(
        unit_price=Decimal("9.0000")
    )
    reversal = red(line, 10)
    result = invoices_match()
    refreshed(line, reversal)
    # then the frozen line keeps its result and the red line is a negative line of its own
    assert result.frozen == 1
    assert (line.match_status, line.net_qty, line.net_amount) == (MatchStatus.MATCHED, 10, Decimal("100.00"))
    assert reversal.match_status == MatchStatus.MATCHED
    assert reversal.reverses_id == line.id
    assert (reversal.net_qty, reversal.net_amount) == (-10, Decimal("-100.00"))


def test_a_red_line_netted_before_the_freeze_stays_netted(monkeypatch):
    line = blue(received_delivery())
    reversal = red(line, 4)
    invoices_match()
    monkeypatch.setattr(matching, "frozen_batch_lines", lambda ref: InvoiceLine.objects.filter(pk=line.pk, id=ref))
    again = invoices_match()
    refreshed(line, reversal)
    assert again.lines_changed == 0
    assert reversal.match_status == MatchStatus.REVERSED and line.net_qty == 6


# --- partitions ------------------------------------------------------------------------------


def test_a_partition_touches_only_its_region_and_month():
    here = blue(received_delivery())  # hospital in 371002, September 2026
    elsewhere = blue(received_delivery(hospital=HospitalFactory(region=RegionFactory(code="320102"))))
    later = blue(received_delivery(), issued_at=dt.date(2026, 10, 2))
    result = invoices_match(region_prefix="371000", period="2026-09")
    refreshed(here, elsewhere, later)
    assert here.match_status == MatchStatus.MATCHED
    assert elsewhere.match_status == MatchStatus.PENDING
    # the October invoice's delivery was accepted in September: its delivery line is in the partition
    assert later.match_status == MatchStatus.MATCHED
    assert result.lines_checked == 2


def test_a_partition_widens_to_every_invoice_of_its_delivery_lines():
    # given a delivery invoiced in September and again in October
    dl = received_delivery()
    september = blue(dl, issued_at=dt.date(2026, 9, 20))
    october = blue(dl, issued_at=dt.date(2026, 10, 20))
    # when only October is matched, September's line still counts in the running sum
    invoices_match(region_prefix="37", period="2026-10")
    refreshed(september, october)
    assert codes(october) == [C.QTY_EXCEEDS_ACCEPTED]
    assert september.match_status == MatchStatus.MATCHED


def test_matching_given_lines_and_bad_period():
    line = blue(received_delivery())
    other = blue(received_delivery())
    invoices_match(invoice_line_ids=[line.id])
    refreshed(line, other)
    assert line.match_status == MatchStatus.MATCHED and other.match_status == MatchStatus.PENDING
    with pytest.raises(ValueError):
        invoices_match(period="2026-13")


# --- statements ------------------------------------------------------------------------------


def test_a_line_that_stops_matching_leaves_its_open_statement_unless_disputed():
    from tests.factories import StatementFactory

    line = blue(received_delivery())
    disputed = blue(received_delivery())
    invoices_match()
    statement = StatementFactory(hospital=line.hospital, distributor=line.distributor)
    InvoiceLine.objects.filter(pk__in=[line.pk, disputed.pk]).update(statement=statement)
    InvoiceLine.objects.filter(pk=disputed.pk).update(dispute_reason="价格不符 / price wrong")
    OrderLineFactory._meta.model.objects.update(unit_price=Decimal("9.0000"))
    invoices_match()
    refreshed(line, disputed)
    assert line.match_status == MatchStatus.EXCEPTION and line.statement_id is None
    assert disputed.statement_id == statement.id
    assert Statement.objects.count() == 1


def test_a_partition_holding_only_a_red_line_is_matched_alone():
    # given a red line whose delivery line has no blue line at all
    dl = received_delivery()
    orphan = InvoiceLineFactory(
        delivery_line=dl,
        kind="red",
        original_invoice_no="26379999999999999999",
        qty=-1,
        amount=Decimal("-10.00"),
    )
    result = invoices_match(invoice_line_ids=[orphan.pk])
    (orphan,) = refreshed(orphan)
    assert result.lines_checked == 1 and result.by_status == {}
    assert orphan.match_status == MatchStatus.EXCEPTION and orphan.exception_codes == NO_ORIGINAL


def test_nothing_to_match_is_fine():
    result = invoices_match(region_prefix="370000", period="2026-09")
    assert (result.lines_checked, result.lines_changed) == (0, 0)
    assert invoices_match(invoice_line_ids=[]).lines_checked == 0


def test_amounts_beyond_64_bit_arithmetic_are_checked_exactly():
    # given a wildly wrong line: 2e9 packages at 99,999,999 yuan (qty × price beyond int64 in 1/10000 yuan)
    dl = received_delivery(qty=10)
    line = blue(dl, qty=2_000_000_000, unit_price=Decimal("99999999.0000"), amount=Decimal("1.00"))
    invoices_match()
    (line,) = refreshed(line)
    assert codes(line) == [C.AMOUNT_MISCALCULATED, C.PRICE_DIFFERS_FROM_ORDER, C.QTY_EXCEEDS_ACCEPTED]


def test_reconcile_partitions_cover_each_region_once():
    from settlement.services.matching import covering_prefixes

    # a city-level hospital's partition (3710) covers its districts; other cities stay
    assert covering_prefixes(["371002", "371000", "371003", "371102", "371102"]) == ["3710", "371102"]
    assert covering_prefixes(["371002", "371003"]) == ["371002", "371003"]
    assert covering_prefixes([]) == []


def test_the_frozen_probe_takes_only_the_loads_own_aliases():
    # the alias is pasted into SQL: anything but the load's and the seed's invoice-line
    # aliases is refused before any SQL is built
    assert matching._frozen_exists("il")[0].startswith("EXISTS (")
    with pytest.raises(ValueError, match="alias"):
        matching._frozen_exists("il.id) OR (1=1")
