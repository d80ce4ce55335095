"""Where each invoice line is (stage) and who holds it; the frozen-line filter; the lines
API and page with a constant number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from settlement.models import BatchLine, InvoiceLine, MatchStatus, SettlementBatch
from settlement.selectors.lines import (
    Holder,
    LineFilters,
    LineStage,
    frozen_line_ids_q,
    invoice_lines_with_stage,
    line_key,
    parse_line_key,
)
from settlement.services.matching import invoices_match
from settlement.services.statements import statement_confirm, statements_build
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    RegionFactory,
    UserFactory,
    enterprise_user,
    hospital_user,
    paid_instruction_for,
)

pytestmark = pytest.mark.django_db


def put_in_batch(line: InvoiceLine, status: str, *, paid: bool = False) -> BatchLine:
    maker, checker = UserFactory(), UserFactory()
    approved = status in ("approved", "paid")
    batch = SettlementBatch.objects.create(
        no=f"JS2026{SettlementBatch.objects.count() + 1:06d}",
        region=RegionFactory(code="371000"),
        cutoff=dt.date(2026, 9, 30),
        period="2026-09",
        status=status,
        created_by=maker,
        approved_by=checker if approved else None,
        approved_at=timezone.now() if approved else None,
        rejected_by=checker if status == "rejected" else None,
        reject_reason="x" if status == "rejected" else "",
    )
    funded = {"deducted_amount": line.amount, "prepayment_amount": Decimal("0"), "collection_amount": Decimal("0")}
    batch_line = BatchLine.objects.create(
        batch=batch,
        invoice_line=line,
        live=status != "rejected",
        hospital=line.hospital,
        distributor=line.distributor,
        amount=line.amount,
        due_date=dt.date(2026, 10, 10),
        **(funded if approved else {}),
    )
    if paid:
        paid_instruction_for(batch, line.distributor, paid_at=timezone.now())
    return batch_line


@pytest.fixture
def seller():
    return EnterpriseFactory()


def line_for(seller, *, received=True, hospital=None, **kw):
    order = OrderLineFactory(distributor=seller, **({"hospital": hospital} if hospital else {}))
    return InvoiceLineFactory(delivery_line=DeliveryLineFactory(order_line=order, received=received), **kw)


def stages(user, **filters) -> dict[int, tuple[str, str]]:
    return {line.pk: (line.stage, line.holder) for line in invoice_lines_with_stage(user, LineFilters(**filters))}


def test_each_stage_and_who_holds_it(seller):
    # given lines at every step of the way
    pending = line_for(seller)
    awaiting_receipt = line_for(seller, received=False)
    exception = line_for(seller, amount=Decimal("1.00"))
    to_confirm = line_for(seller)
    confirmed = line_for(seller)
    drafted = line_for(seller)
    approved = line_for(seller)
    paid = line_for(seller)
    reversed_ = line_for(seller)
    InvoiceLineFactory(
        delivery_line=reversed_.delivery_line,
        kind="red",
        original_invoice_no=reversed_.invoice_no,
        qty=-10,
        amount=Decimal("-100.00"),
    )
    invoices_match(invoice_line_ids=[x.pk for x in InvoiceLine.objects.exclude(pk=pending.pk)])
    statements_build()
    for line in (confirmed, drafted, approved, paid):
        line.refresh_from_db()
        statement_confirm(statement_no=line.statement.no, user=hospital_user(line.hospital))
    put_in_batch(drafted, "submitted")
    put_in_batch(approved, "approved")
    put_in_batch(paid, "approved", paid=True)
    # when the distributor looks
    seen = stages(enterprise_user(seller))
    # then each line has its stage and holder
    assert seen[pending.pk] == (LineStage.PENDING, Holder.BUREAU)
    assert seen[awaiting_receipt.pk] == (LineStage.AWAITING_RECEIPT, Holder.HOSPITAL)
    assert seen[exception.pk] == (LineStage.EXCEPTION, Holder.ENTERPRISE)
    assert seen[to_confirm.pk] == (LineStage.AWAITING_CONFIRMATION, Holder.HOSPITAL)
    assert seen[confirmed.pk] == (LineStage.CONFIRMED, Holder.BUREAU)
    assert seen[drafted.pk] == (LineStage.IN_BATCH, Holder.BUREAU)
    assert seen[approved.pk] == (LineStage.IN_BATCH, Holder.BANK)
    assert seen[paid.pk] == (LineStage.PAID, "")
    assert seen[reversed_.pk] == (LineStage.REVERSED, "")
    assert len(seen) == 9  # blue lines only


def test_filters_by_hospital_stage_and_period(seller):
    here, there = HospitalFactory(), HospitalFactory()
    a = line_for(seller, hospital=here)
    b = line_for(seller, hospital=there, issued_at=dt.date(2026, 10, 3))
    c = line_for(seller, hospital=there, received=False)
    invoices_match()
    user = enterprise_user(seller)
    assert set(stages(user, hospital=here.code)) == {a.pk}
    assert set(stages(user, period="2026-10")) == {b.pk}
    assert set(stages(user, stage=LineStage.AWAITING_RECEIPT)) == {c.pk}
    with pytest.raises(ValueError):
        stages(user, stage="nowhere")
    with pytest.raises(ValueError):
        stages(user, period="2026-1")


def test_each_party_sees_only_its_lines(seller):
    mine = line_for(seller)
    theirs = line_for(EnterpriseFactory())
    assert set(stages(enterprise_user(seller))) == {mine.pk}
    assert set(stages(hospital_user(theirs.hospital))) == {theirs.pk}


def test_frozen_lines_are_those_of_approved_or_paid_live_batches(seller):
    draft, approved, paid, rejected, free = (line_for(seller) for _ in range(5))
    put_in_batch(draft, "draft")
    put_in_batch(approved, "approved")
    put_in_batch(paid, "paid", paid=True)
    put_in_batch(rejected, "rejected")
    frozen = set(InvoiceLine.objects.filter(frozen_line_ids_q()).values_list("pk", flat=True))
    assert frozen == {approved.pk, paid.pk}
    assert free.pk not in frozen


def test_matching_never_changes_a_line_of_an_approved_batch(seller):
    # given a matched line put in an approved batch, then its order's price changed
    line = line_for(seller)
    invoices_match()
    put_in_batch(line, "approved")
    OrderLineFactory._meta.model.objects.update(unit_price=Decimal("9.0000"))
    partition = {"region_prefix": line.hospital.region_id, "period": line.issued_at.strftime("%Y-%m")}
    for arguments in ({}, partition):
        # when the whole province, or the line's partition, is matched again
        result = invoices_match(**arguments)
        line.refresh_from_db()
        # then it keeps its result; alone on its delivery line, it is not even read
        assert line.match_status == MatchStatus.MATCHED
        assert (result.lines_checked, result.frozen) == (0, 0)
    # when an open line shares its delivery line
    other = InvoiceLineFactory(delivery_line=line.delivery_line, qty=line.qty, unit_price=line.unit_price)
    for arguments in ({}, partition):
        result = invoices_match(**arguments)
        line.refresh_from_db()
        other.refresh_from_db()
        # then the frozen line is read with it (its quantity counts against the accepted
        # quantity) and kept; the open line is checked
        assert (result.lines_checked, result.frozen) == (2, 1)
        assert line.match_status == MatchStatus.MATCHED
        assert other.match_status == MatchStatus.EXCEPTION and "QTY_EXCEEDS_ACCEPTED" in other.exception_codes


def test_line_keys_round_trip():
    assert line_key("", "26370000000000000001", 2) == "26370000000000000001/2"
    assert line_key("3700261130", "00012345", 1) == "3700261130-00012345/1"
    assert parse_line_key("3700261130-00012345/1") == ("3700261130", "00012345", 1)
    assert parse_line_key("26370000000000000001/2") == ("", "26370000000000000001", 2)
    with pytest.raises(ValueError):
        parse_line_key("no-line")


# --- API and page: constant number of queries -------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_lines(seller, n: int) -> None:
    hospital = HospitalFactory()
    for _ in range(n):
        line_for(seller, hospital=hospital)
    invoices_match()
    statements_build()


def test_api_lists_lines_with_stage_in_a_constant_number_of_queries(seller, django_assert_num_queries):
    user = enterprise_user(seller)
    make_lines(seller, 3)
    client = api(user)
    with CaptureQueriesContext(connection) as three:
        response = client.get("/api/v1/lines/")
    assert response.status_code == 200 and response.data["count"] == 3
    first = response.data["results"][0]
    assert first["stage"] == LineStage.AWAITING_CONFIRMATION and first["holder"] == Holder.HOSPITAL
    assert first["due_date"] == "2026-10-03" and first["statement_no"].startswith("STMT")
    make_lines(seller, 27)
    with django_assert_num_queries(len(three)):
        response = client.get("/api/v1/lines/")
    assert response.data["count"] == 30 and len(response.data["results"]) == 30


def test_api_filters_and_refuses_an_unknown_stage(seller):
    make_lines(seller, 2)
    client = api(enterprise_user(seller))
    assert client.get("/api/v1/lines/", {"stage": "awaiting_confirmation"}).data["count"] == 2
    assert client.get("/api/v1/lines/", {"period": "2026-10"}).data["count"] == 0
    bad = client.get("/api/v1/lines/", {"stage": "nowhere"})
    assert bad.status_code == 400 and "stage" in bad.data["fields"]
    bad_period = client.get("/api/v1/lines/", {"period": "202610"})
    assert bad_period.status_code == 400 and "period" in bad_period.data["fields"]


def test_the_page_shows_the_table_in_a_constant_number_of_queries(client, seller, django_assert_num_queries):
    user = enterprise_user(seller)
    client.force_login(user)
    make_lines(seller, 3)
    with CaptureQueriesContext(connection) as three:
        page = client.get(reverse("settlement-lines"))
    assert page.status_code == 200 and page.context["page"].paginator.count == 3
    make_lines(seller, 27)
    with django_assert_num_queries(len(three)):
        page = client.get(reverse("settlement-lines"), {"stage": "awaiting_confirmation"})
    assert page.context["page"].paginator.count == 30
    assert "待医院确认对账单" in page.content.decode()
