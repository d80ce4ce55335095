"""Benchmark: create_batch + approval over N confirmed lines on PostgreSQL.

Skipped unless BATCH_BENCH_LINES is set (it bulk-creates the data set), e.g.::

    BATCH_BENCH_LINES=100000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/jicai_bench \\
      .venv/bin/python -m pytest --nomigrations -q -s tests/settlement/test_batch_benchmark.py
"""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from parties.models import Enterprise, Hospital
from procurement.models import DeliveryLine, OrderLine, Prepayment
from settlement.models import FundAllocation, InvoiceLine, Statement
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.ledger import ledger_verify
from tests.factories import SHANGHAI, ProductFactory, RegionFactory, batch_staff, credit_code

N = int(os.environ.get("BATCH_BENCH_LINES", "0"))
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    pytest.mark.skipif(not N, reason="benchmark: set BATCH_BENCH_LINES=100000 (and DATABASE_URL to PostgreSQL)"),
]


def test_create_and_approve_a_large_batch():
    staff = batch_staff()
    region = RegionFactory(code="371002")
    product = ProductFactory()
    n_h, n_d = 2000, 50
    hospitals = Hospital.objects.bulk_create(
        [
            Hospital(code=f"H371002{i:05d}", name=f"医院{i}", region=region, level="secondary", ownership="public")
            for i in range(n_h)
        ]
    )
    distributors = Enterprise.objects.bulk_create(
        [
            Enterprise(
                credit_code=credit_code(900000 + i),
                name=f"配送{i}",
                role="distributor",
                bank_name="工行",
                bank_account=f"62220200{i:08d}",
            )
            for i in range(n_d)
        ]
    )
    now = timezone.now()
    statements = {}
    for h in hospitals:
        for d in distributors[:5]:
            statements[(h.code, d.pk)] = Statement(
                no=f"S{h.code}{d.pk[-4:]}",
                hospital=h,
                distributor=d,
                period="2026-09",
                status="confirmed",
                deadline=dt.date(2026, 10, 5),
                confirmed_at=now,
            )
    Statement.objects.bulk_create(list(statements.values()), batch_size=5000)
    ordered = dt.datetime(2026, 9, 1, 9, tzinfo=SHANGHAI)
    orders = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order_no=f"PO{i:09d}",
                line_no=1,
                hospital=hospitals[i % n_h],
                distributor=distributors[i % 5],
                product=product,
                qty=1,
                unit_price=Decimal(f"{10 + i % 97}.{i % 100:02d}"),
                ordered_at=ordered,
                order_date=ordered.date(),
            )
            for i in range(N)
        ],
        batch_size=5000,
    )
    deliveries = DeliveryLine.objects.bulk_create(
        [
            DeliveryLine(
                delivery_no=f"DL{i:09d}",
                line_no=1,
                order_line=o,
                qty=1,
                batch_no="B",
                expiry_date=dt.date(2028, 1, 1),
                delivered_at=ordered,
                delivery_date=ordered.date(),
                accepted_qty=1,
                rejected_qty=0,
                received_at=ordered + dt.timedelta(days=1 + i % 20),
                accepted_date=(ordered + dt.timedelta(days=1 + i % 20)).date(),
            )
            for i, o in enumerate(orders)
        ],
        batch_size=5000,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice_no=f"{26370000000000000000 + i}",
                line_no=1,
                kind="blue",
                distributor_id=o.distributor_id,
                hospital_id=o.hospital_id,
                delivery_no=dl.delivery_no,
                delivery_line_no=1,
                delivery_line=dl,
                qty=1,
                unit_price=o.unit_price,
                amount=o.unit_price,
                tax_rate=Decimal("0.13"),
                issued_at=dl.accepted_date,
                match_status="matched",
                net_qty=1,
                net_amount=o.unit_price,
                statement=statements[(o.hospital_id, o.distributor_id)],
            )
            for i, (o, dl) in enumerate(zip(orders, deliveries, strict=True))
        ],
        batch_size=5000,
    )
    FundAllocation.objects.bulk_create(
        [FundAllocation(hospital=h, period="2026-09", amount=Decimal("1500.00")) for h in hospitals[::2]]
    )
    Prepayment.objects.bulk_create(
        [
            Prepayment(hospital=h, year_start=dt.date(2026, 1, 1), amount=Decimal("300.00"), paid_at=now)
            for h in hospitals[::3]
        ]
    )

    t0 = time.perf_counter()
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    t1 = time.perf_counter()
    batch_submit(batch_no=batch.no, user=staff[1])
    approved = batch_approve(batch_no=batch.no, user=staff[2])
    t2 = time.perf_counter()
    violations = ledger_verify()
    t3 = time.perf_counter()
    print(
        f"\nBENCH lines={batch.line_count} create={t1 - t0:.2f}s approve={t2 - t1:.2f}s verify={t3 - t2:.2f}s "
        f"instructions={approved.instructions.count()} collections={approved.collections.count()}"
    )
    assert batch.line_count == N
    assert approved.amount == approved.deducted_amount + approved.prepayment_amount + approved.collection_amount
    # the prepayments were created paid without ledger entries: only that check may differ
    assert {v.code for v in violations} <= {"ledger_document_mismatch"}
