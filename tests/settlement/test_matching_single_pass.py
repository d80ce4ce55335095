"""Matching and statements in one pass (``invoices_match(build_statements=True)``) give exactly
what matching and then ``statements_build`` give: the same line results, the same statements
(numbers included), the same events; each line is written once and ``matched_at`` only moves
when the match result changes."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from interchange.signals import table_imported
from settlement.models import InvoiceLine, MatchStatus, Statement, StatementEvent
from settlement.services.matching import covering_prefixes, invoices_match, reconcile_passes
from settlement.services.statements import statements_build
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    at,
)

pytestmark = pytest.mark.django_db


# What matching decides for a line (its statement comes beside it).
LINE_RESULT = ("id", "match_status", "exception_codes", "net_qty", "net_amount", "reverses_id", "delivery_line_id")


def snapshot() -> dict:
    """Everything matching and building decide, statement numbers and events included."""
    lines = list(InvoiceLine.objects.order_by("id").values_list(*LINE_RESULT, "statement__no"))
    statements = list(
        Statement.objects.order_by("no").values_list(
            "no", "hospital_id", "distributor_id", "period", "sequence", "status", "deadline"
        )
    )
    events = list(
        StatementEvent.objects.order_by("id").values_list(
            "statement__no", "action", "from_status", "to_status", "reason", "invoice_line_id"
        )
    )
    return {"lines": lines, "statements": statements, "events": events}


def reset() -> None:
    StatementEvent.objects.all().delete()
    InvoiceLine.objects.update(
        match_status="pending",
        exception_codes="",
        net_qty=None,
        net_amount=None,
        reverses=None,
        delivery_line=None,
        statement=None,
        matched_at=None,
    )
    Statement.objects.all().delete()
    from settlement.models import DocumentCounter

    DocumentCounter.objects.all().delete()  # statement numbers start again from 1


def partitions() -> list[str]:
    return covering_prefixes(InvoiceLine.objects.order_by().values_list("hospital__region_id", flat=True).distinct())


@pytest.fixture
def province(tmp_path):
    """The generated S province, imported without the receivers (nothing matched yet)."""
    out = tmp_path / "s"
    call_command("generate_demo", scale="S", seed=5, out=str(out), stdout=open("/dev/null", "w"))
    saved = list(table_imported.receivers)
    table_imported.receivers = []
    table_imported.sender_receivers_cache.clear()
    try:
        call_command("import_dir", str(out), stdout=open("/dev/null", "w"))
    finally:
        table_imported.receivers = saved
        table_imported.sender_receivers_cache.clear()
    assert InvoiceLine.objects.filter(match_status="pending").count() > 1000


def test_single_pass_equals_matching_then_building_on_a_generated_province(province):
    # given the reference: every partition matched, then built, as before
    regions = partitions()
    assert len(regions) > 1
    for code in regions:
        invoices_match(region_prefix=code)
        statements_build(region_prefix=code)
    reference = snapshot()
    assert reference["statements"] and {r[1] for r in reference["lines"]} >= {"matched", "exception"}
    reset()
    # when every partition is matched and built in one pass
    rows_written = lines_added = 0
    for code in regions:
        result = invoices_match(region_prefix=code, build_statements=True)
        rows_written += result.lines_changed
        lines_added += result.statement_lines_added
    # then lines, statements (and their numbers) and events are identical, each line written once
    assert snapshot() == reference
    assert rows_written == InvoiceLine.objects.count()
    assert lines_added == InvoiceLine.objects.filter(statement__isnull=False).count()
    # and a second pass, and a build after it, change nothing
    again = [invoices_match(region_prefix=code, build_statements=True) for code in regions]
    assert sum(r.lines_changed for r in again) == 0 and sum(r.statement_lines_added for r in again) == 0
    assert all(statements_build(region_prefix=code).lines_added == 0 for code in regions)
    assert snapshot() == reference


def accepted_line(hospital, distributor, *, accepted: str, issued: str | None = None, **kw) -> InvoiceLine:
    order = OrderLineFactory(hospital=hospital, distributor=distributor, qty=10, unit_price=Decimal("10.0000"))
    delivery = DeliveryLineFactory(
        order_line=order,
        qty=10,
        delivered_at=at(accepted, 9),
        accepted_qty=10,
        rejected_qty=0,
        received_at=at(accepted, 11),
        accepted_date=dt.date.fromisoformat(accepted),
    )
    return InvoiceLineFactory(delivery_line=delivery, issued_at=dt.date.fromisoformat(issued or accepted), **kw)


def test_a_month_partition_also_gathers_matched_lines_outside_it_as_a_build_would():
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    # given a line matched earlier without a build (so on no statement), in August
    august = accepted_line(hospital, distributor, accepted="2026-08-10")
    invoices_match(invoice_line_ids=[august.pk])
    august.refresh_from_db()
    stamped = august.matched_at
    assert august.match_status == MatchStatus.MATCHED and august.statement_id is None
    # and a September line not yet matched
    september = accepted_line(hospital, distributor, accepted="2026-09-10")
    # when September's partition is matched in one pass
    result = invoices_match(region_prefix=hospital.region_id, period="2026-09", build_statements=True)
    # then both lines are on their months' statements, numbered in line order, as statements_build does
    august.refresh_from_db()
    september.refresh_from_db()
    assert (august.statement.period, september.statement.period) == ("2026-08", "2026-09")
    assert august.statement.no < september.statement.no
    assert result.statement_lines_added == 2 and len(result.statements_created) == 2
    # and the August line only got its statement: its match result, and when it was set, stay
    assert august.matched_at == stamped
    assert result.lines_changed == 1  # the September line; the August one was written by the build
    assert statements_build().lines_added == 0


def test_matched_at_moves_only_when_the_match_result_changes():
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    line = accepted_line(hospital, distributor, accepted="2026-09-10")
    invoices_match(region_prefix=hospital.region_id, build_statements=True)
    line.refresh_from_db()
    first = (line.matched_at, line.statement_id, line.match_status)
    assert first[1] is not None and first[2] == MatchStatus.MATCHED
    again = invoices_match(region_prefix=hospital.region_id, build_statements=True)
    line.refresh_from_db()
    assert again.lines_changed == 0 and (line.matched_at, line.statement_id, line.match_status) == first


def test_lines_outside_the_region_are_left_to_their_own_partition():
    # given a line invoiced to one hospital for a delivery ordered by another region's hospital
    home, away, distributor = HospitalFactory(), HospitalFactory(region__code="371102"), EnterpriseFactory()
    line = accepted_line(home, distributor, accepted="2026-09-10")
    stray = InvoiceLineFactory(delivery_line=line.delivery_line, hospital=away, qty=1, amount=Decimal("10.00"))
    assert home.region_id[:4] != away.region_id[:4]
    # when the home region is matched in one pass
    result = invoices_match(region_prefix=home.region_id, build_statements=True)
    stray.refresh_from_db()
    line.refresh_from_db()
    # then the stray line is matched (its delivery line is in the partition) but not gathered
    assert result.lines_checked == 2 and stray.statement_id is None
    assert line.statement is not None and line.statement.hospital_id == home.code


# --- passes of several regions ------------------------------------------------------------


def keyed_snapshot() -> dict:
    """As ``snapshot``, with each statement named by what it is for (hospital, distributor, month,
    sequence) instead of its number: passes of several regions number statements in another order."""
    key = {
        s.pk: (s.hospital_id, s.distributor_id, s.period, s.sequence)
        for s in Statement.objects.all().only("hospital_id", "distributor_id", "period", "sequence")
    }
    lines = [
        (*row[:-1], key.get(row[-1]))
        for row in InvoiceLine.objects.order_by("id").values_list(*LINE_RESULT, "statement_id")
    ]
    statements = sorted(
        (key[pk], status, deadline)
        for pk, status, deadline in Statement.objects.values_list("pk", "status", "deadline")
    )
    events = sorted(
        (key[sid], action, from_status, to_status, reason, line or 0)
        for sid, action, from_status, to_status, reason, line in StatementEvent.objects.values_list(
            "statement_id", "action", "from_status", "to_status", "reason", "invoice_line_id"
        )
    )
    return {"lines": lines, "statements": statements, "events": events}


def test_passes_of_several_regions_write_what_one_pass_per_region_writes(province):
    # given the reference: one pass per region
    regions = partitions()
    for code in regions:
        invoices_match(region_prefix=code, build_statements=True)
    reference = keyed_snapshot()
    assert reference["statements"]
    reset()
    # when the regions are matched together, in one pass of every line
    passes = reconcile_passes(max_lines=InvoiceLine.objects.count())
    assert passes == [sorted(regions)] and len(regions) > 1
    results = [invoices_match(region_prefix=p, build_statements=True) for p in passes]
    # then lines, statements and events are the same, each line checked and written once
    assert keyed_snapshot() == reference
    assert sum(r.lines_checked for r in results) == InvoiceLine.objects.count()
    assert sum(r.lines_changed for r in results) == InvoiceLine.objects.count()
    # and `manage.py reconcile` (its passes) changes nothing more
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    assert "0 changed" in out.getvalue() and keyed_snapshot() == reference


def test_reconcile_passes_pack_regions_into_the_fewest_even_passes_up_to_the_cap():
    distributor = EnterpriseFactory()
    sizes = {"370102": 3, "370201": 2, "371002": 1, "371102": 4}
    for code, n in sizes.items():
        hospital = HospitalFactory(region__code=code)
        for _ in range(n):
            accepted_line(hospital, distributor, accepted="2026-09-10")
    # a region above the cap is a pass of its own; passes come largest first
    assert reconcile_passes(max_lines=1) == [["371102"], ["370102"], ["370201"], ["371002"]]
    assert reconcile_passes(max_lines=5) == [["370102", "370201"], ["371002", "371102"]]
    assert reconcile_passes(max_lines=4) == [["371102"], ["370102"], ["370201", "371002"]]
    assert reconcile_passes(max_lines=100) == [["370102", "370201", "371002", "371102"]]
    # for two workers: as many passes each, where the regions allow
    assert reconcile_passes(max_lines=100, workers=2) == [["370102", "370201"], ["371002", "371102"]]
    assert reconcile_passes(max_lines=4, workers=2) == [["371102"], ["370102"], ["370201"], ["371002"]]
    assert reconcile_passes(max_lines=4, workers=3) == [["371102"], ["370102"], ["370201", "371002"]]


def test_a_month_pass_of_two_regions_gathers_the_matched_lines_outside_it_in_both():
    distributor = EnterpriseFactory()
    one, two = HospitalFactory(region__code="370102"), HospitalFactory(region__code="371102")
    # given in each region a line matched earlier without a build (on no statement), in August
    earlier = [accepted_line(h, distributor, accepted="2026-08-10") for h in (one, two)]
    invoices_match(invoice_line_ids=[line.pk for line in earlier])
    # and in each a September line not yet matched
    later = [accepted_line(h, distributor, accepted="2026-09-10") for h in (one, two)]
    # when September is matched for both regions in one pass
    result = invoices_match(region_prefix=["370102", "371102"], period="2026-09", build_statements=True)
    # then all four lines are on their hospital's and month's statement
    assert result.statement_lines_added == 4 and len(result.statements_created) == 4
    for line in (*earlier, *later):
        line.refresh_from_db()
        assert line.statement is not None and line.statement.hospital_id == line.hospital_id
    assert statements_build().lines_added == 0


def test_a_regions_whole_pass_reads_its_invoice_lines_not_other_regions_invoices_on_its_orders():
    distributor = EnterpriseFactory()
    home, other = HospitalFactory(region__code="370102"), HospitalFactory(region__code="371102")
    # given a home line, and on its delivery line another region's invoice: 6 + 6 of the 10 accepted
    own = accepted_line(home, distributor, accepted="2026-09-10", qty=6, amount=Decimal("60.00"))
    beside = InvoiceLineFactory(delivery_line=own.delivery_line, hospital=other, qty=6, amount=Decimal("60.00"))
    # and another home order's delivery line invoiced only by the other region's hospital
    elsewhere = accepted_line(home, distributor, accepted="2026-09-10")
    InvoiceLine.objects.filter(pk=elsewhere.pk).update(hospital=other)
    # when the home region is matched for every month
    result = invoices_match(region_prefix="370102", build_statements=True)
    # then its line is checked with the line beside it (the running sum over the delivery line
    # counts both); the other region's invoice on a home order is left to its own region's pass
    assert result.lines_checked == 2
    for line in (own, beside, elsewhere):
        line.refresh_from_db()
    assert own.match_status == MatchStatus.MATCHED and own.statement is not None
    assert set(beside.exception_codes.split(";")) == {"PARTY_MISMATCH", "QTY_EXCEEDS_ACCEPTED"}
    assert beside.statement_id is None
    assert elsewhere.match_status == MatchStatus.PENDING
    # and the other region's pass checks both of its lines, the home line beside one of them
    again = invoices_match(region_prefix="371102", build_statements=True)
    elsewhere.refresh_from_db()
    assert again.lines_checked == 3
    assert elsewhere.match_status == MatchStatus.EXCEPTION and elsewhere.exception_codes == "PARTY_MISMATCH"
    assert again.lines_changed == 1  # the home line and the line beside it were already decided
