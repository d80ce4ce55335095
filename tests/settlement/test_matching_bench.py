"""Matching speed on a generated province (run on demand; prints lines/s).

    BENCH_MATCHING=50000 DATABASE_URL=postgres://… .venv/bin/python -m pytest --nomigrations \
        -q -s tests/settlement/test_matching_bench.py

Skipped unless BENCH_MATCHING (number of blue lines) is set: it takes a minute.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal

import numpy as np
import pytest

from parties.models import Enterprise, Hospital, Region
from procurement.models import Award, DeliveryLine, OrderLine, Product, Round
from settlement.models import InvoiceLine, MatchStatus
from settlement.services.matching import invoices_match
from tests.factories import SHANGHAI, credit_code

N = int(os.environ.get("BENCH_MATCHING", "0") or 0)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not N, reason="benchmark: set BENCH_MATCHING=<blue lines> to run it"),
]


def build_province(n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    province = Region.objects.create(code="370000", name="山东省")
    cities = [Region.objects.create(code=f"37{c:02d}00", name=f"市{c}", parent=province) for c in range(1, 11)]
    districts = [Region.objects.create(code=f"{c.code[:4]}02", name=f"区{c.code}", parent=c) for c in cities]
    hospitals = Hospital.objects.bulk_create(
        [
            Hospital(
                code=f"H{districts[i % 10].code}{i:05d}",
                name=f"医院{i}",
                region=districts[i % 10],
                level="secondary",
                ownership="public",
            )
            for i in range(200)
        ]
    )
    makers = Enterprise.objects.bulk_create(
        [Enterprise(credit_code=credit_code(900 + i), name=f"制药{i}", role="manufacturer") for i in range(20)]
    )
    sellers = Enterprise.objects.bulk_create(
        [
            Enterprise(
                credit_code=credit_code(100 + i),
                name=f"配送{i}",
                role="distributor",
                bank_name="工行",
                bank_account=f"62220200{i:08d}",
            )
            for i in range(20)
        ]
    )
    products = Product.objects.bulk_create(
        [
            Product(
                code=f"XA01ABD075A0020101{i:05d}",
                category="drug",
                generic_name=f"药{i}",
                specification="10mg",
                package="14片/盒",
                units_per_package=14,
                manufacturer=makers[i % 20],
            )
            for i in range(300)
        ]
    )
    rnd = Round.objects.create(
        code="NVBP-9",
        name="第九批",
        level="national",
        category="drug",
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2027, 12, 31),
    )
    Award.objects.bulk_create(
        [
            Award(
                round=rnd, product=p, enterprise=p.manufacturer, supply_region=province, award_price=Decimal("12.0000")
            )
            for p in products[:150]
        ]
        + [
            Award(
                round=rnd, product=p, enterprise=p.manufacturer, supply_region=cities[0], award_price=Decimal("9.0000")
            )
            for p in products[:50]
        ]
    )
    h_idx = rng.integers(0, len(hospitals), n)
    s_idx = rng.integers(0, len(sellers), n)
    p_idx = rng.integers(0, len(products), n)
    qty = rng.integers(1, 50, n)
    price_u = rng.integers(5_0000, 20_0000, n)
    day = rng.integers(0, 90, n)
    base = dt.datetime(2026, 8, 1, 9, tzinfo=SHANGHAI)
    orders = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order_no=f"PO{i:09d}",
                line_no=1,
                hospital=hospitals[h_idx[i]],
                distributor=sellers[s_idx[i]],
                product=products[p_idx[i]],
                qty=int(qty[i]),
                unit_price=Decimal(int(price_u[i])) / 10000,
                ordered_at=base + dt.timedelta(days=int(day[i])),
                order_date=(base + dt.timedelta(days=int(day[i]))).date(),
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    received = rng.random(n) < 0.95
    rejected = np.where(rng.random(n) < 0.05, 1, 0)
    deliveries = DeliveryLine.objects.bulk_create(
        [
            DeliveryLine(
                delivery_no=f"DL{i:09d}",
                line_no=1,
                order_line=o,
                qty=o.qty,
                batch_no="B1",
                expiry_date=dt.date(2028, 1, 1),
                delivered_at=o.ordered_at + dt.timedelta(days=1),
                delivery_date=o.order_date + dt.timedelta(days=1),
                **(
                    {
                        "accepted_qty": o.qty - int(rejected[i]),
                        "rejected_qty": int(rejected[i]),
                        "reject_reason": "破损" if rejected[i] else "",
                        "received_at": o.ordered_at + dt.timedelta(days=2),
                        "accepted_date": o.order_date + dt.timedelta(days=2),
                    }
                    if received[i]
                    else {}
                ),
            )
            for i, o in enumerate(orders)
        ],
        batch_size=5000,
    )
    fault = rng.random(n)
    invoices = []
    for i, (o, d) in enumerate(zip(orders, deliveries, strict=True)):
        price = o.unit_price + (Decimal("0.0100") if fault[i] < 0.02 else 0)
        amount = (o.qty * price).quantize(Decimal("0.01")) + (Decimal("0.50") if 0.02 <= fault[i] < 0.03 else 0)
        invoices.append(
            InvoiceLine(
                invoice_no=f"{26370000000000000000 + i}",
                line_no=1,
                kind="blue",
                distributor=sellers[s_idx[i]],
                hospital=hospitals[h_idx[i]],
                delivery_no=d.delivery_no if fault[i] < 0.995 else "DL-MISSING",
                delivery_line_no=1,
                delivery_line=d if fault[i] < 0.995 else None,
                qty=o.qty,
                unit_price=price,
                amount=amount,
                tax_rate=Decimal("0.13"),
                issued_at=o.order_date + dt.timedelta(days=3),
            )
        )
    InvoiceLine.objects.bulk_create(invoices, batch_size=5000)
    reds = [
        InvoiceLine(
            invoice_no=f"{27370000000000000000 + i}",
            line_no=1,
            kind="red",
            original_invoice_no=b.invoice_no,
            distributor=b.distributor,
            hospital=b.hospital,
            delivery_no=b.delivery_no,
            delivery_line_no=1,
            delivery_line=b.delivery_line,
            qty=-1,
            unit_price=b.unit_price,
            amount=-b.unit_price.quantize(Decimal("0.01")),
            tax_rate=Decimal("0.13"),
            issued_at=b.issued_at + dt.timedelta(days=5),
        )
        for i, b in enumerate(invoices[: n // 10])
    ]
    InvoiceLine.objects.bulk_create(reds, batch_size=5000)


def test_matching_speed(capsys):
    started = time.monotonic()
    build_province(N)
    built = time.monotonic() - started
    total = InvoiceLine.objects.count()

    first = invoices_match()
    again = invoices_match()
    partition = invoices_match(region_prefix="370102", period="2026-09")
    report = [
        f"built {total} invoice lines ({N} blue) in {built:.1f}s",
        f"first full run: {first.lines_checked} lines, {first.lines_changed} written in {first.seconds:.2f}s "
        f"= {first.lines_checked / first.seconds:,.0f} lines/s",
        f"re-run: {again.lines_changed} written in {again.seconds:.2f}s = {again.lines_checked / again.seconds:,.0f} lines/s",
        f"one district × month: {partition.lines_checked} lines in {partition.seconds:.2f}s",
        f"status: {first.by_status}",
        f"codes: {first.by_code}",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert again.lines_changed == 0
    assert first.by_status[MatchStatus.MATCHED] > first.by_status.get(MatchStatus.EXCEPTION, 0)
