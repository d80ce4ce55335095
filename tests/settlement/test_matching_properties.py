"""Property: for any set of deliveries, receipts, blue and red invoices, matching is
deterministic, does not depend on the order the documents arrived in (nor on their
primary keys), and matching partition by partition as each document arrives (as the
import signals do) ends where one full run ends; re-running changes nothing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procurement.models import DeliveryLine
from settlement.models import InvoiceLine
from settlement.services.matching import invoices_match
from tests.factories import (
    SHANGHAI,
    EnterpriseFactory,
    HospitalFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
)

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 8, 20, 10, tzinfo=SHANGHAI)
PRICE = Decimal("10.0000")

deliveries_st = st.lists(
    st.tuples(
        st.integers(1, 10),  # delivered qty
        st.one_of(st.none(), st.integers(0, 10)),  # accepted qty (None: no receipt yet)
        st.integers(0, 45),  # delivery day after BASE
    ),
    min_size=1,
    max_size=4,
)
blues_st = st.lists(
    st.tuples(
        st.integers(0, 4),  # delivery index; past the end = a delivery line that does not exist
        st.integers(1, 12),  # qty
        st.booleans(),  # unit price 0.0001 above the order's
        st.integers(-2, 2),  # amount off by this many fen
        st.integers(0, 60),  # issue day after BASE
        st.booleans(),  # billed to the other hospital (another region)
    ),
    max_size=6,
)
reds_st = st.lists(
    st.tuples(
        st.integers(0, 5),  # which blue line (modulo)
        st.integers(1, 12),  # qty reversed (capped at the blue qty)
        st.integers(0, 20),  # days after the blue line
    ),
    max_size=3,
)


def month(d: dt.date) -> str:
    return d.strftime("%Y-%m")


class World:
    """Parties and order lines shared by every example (documents are rolled back)."""

    def __init__(self):
        self.home = HospitalFactory(region=RegionFactory(code="371002"))
        self.away = HospitalFactory(region=RegionFactory(code="320102"))
        self.distributor = EnterpriseFactory()
        self.product = ProductFactory()
        self.orders = [
            OrderLineFactory(
                hospital=self.home,
                distributor=self.distributor,
                product=self.product,
                qty=10,
                unit_price=PRICE,
                ordered_at=BASE - dt.timedelta(days=1),
            )
            for _ in range(4)
        ]


def documents(world, deliveries, blues, reds):
    """Every document as (kind, payload, partition) in a canonical order."""
    docs = []
    for i, (qty, accepted, day) in enumerate(deliveries):
        delivered_at = BASE + dt.timedelta(days=day)
        docs.append(("delivery", {"i": i, "qty": qty, "at": delivered_at}, ("371002", month(delivered_at.date()))))
        if accepted is not None:
            received_at = delivered_at + dt.timedelta(days=1)
            acc = min(accepted, qty)
            docs.append(
                (
                    "receipt",
                    {"i": i, "accepted": acc, "rejected": qty - acc, "at": received_at},
                    ("371002", month(received_at.date())),
                ),
            )
    blue_rows = []
    for j, (di, qty, bump, fen, day, away) in enumerate(blues):
        issued = (BASE + dt.timedelta(days=day)).date()
        price = PRICE + (Decimal("0.0001") if bump else 0)
        row = {
            "invoice_no": f"{26370000000000000000 + j}",
            "delivery_no": f"PD{di:04d}" if di < len(deliveries) else "PD-MISSING",
            "qty": qty,
            "price": price,
            "amount": (qty * price).quantize(Decimal("0.01")) + Decimal(fen) / 100,
            "issued": issued,
            "hospital": world.away if away else world.home,
        }
        blue_rows.append(row)
        docs.append(("blue", row, (row["hospital"].region_id, month(issued))))
    for k, (bi, qty, days) in enumerate(reds):
        if not blue_rows:
            break
        of = blue_rows[bi % len(blue_rows)]
        q = min(qty, of["qty"])
        issued = of["issued"] + dt.timedelta(days=days)
        row = {
            "invoice_no": f"{26379000000000000000 + k}",
            "of": of,
            "qty": -q,
            "amount": -(q * of["price"]).quantize(Decimal("0.01")),
            "issued": issued,
        }
        docs.append(("red", row, (of["hospital"].region_id, month(issued))))
    return docs


def insert(world, kind, p):
    if kind == "delivery":
        order = world.orders[p["i"]]
        dl = DeliveryLine.objects.create(
            delivery_no=f"PD{p['i']:04d}",
            line_no=1,
            order_line=order,
            qty=p["qty"],
            batch_no="B1",
            expiry_date=dt.date(2028, 1, 1),
            delivered_at=p["at"],
            delivery_date=p["at"].date(),
        )
        return dl  # invoice lines that arrived before it are linked by matching
    if kind == "receipt":
        DeliveryLine.objects.filter(delivery_no=f"PD{p['i']:04d}", line_no=1).update(
            accepted_qty=p["accepted"],
            rejected_qty=p["rejected"],
            reject_reason="破损" if p["rejected"] else "",
            received_at=p["at"],
            accepted_date=p["at"].date(),
        )
        return None
    if kind == "blue":
        return InvoiceLine.objects.create(
            invoice_no=p["invoice_no"],
            line_no=1,
            kind="blue",
            distributor=world.distributor,
            hospital=p["hospital"],
            delivery_no=p["delivery_no"],
            delivery_line_no=1,
            delivery_line=DeliveryLine.objects.filter(delivery_no=p["delivery_no"], line_no=1).first(),
            qty=p["qty"],
            unit_price=p["price"],
            amount=p["amount"],
            tax_rate=Decimal("0.13"),
            issued_at=p["issued"],
        )
    of = p["of"]
    return InvoiceLine.objects.create(
        invoice_no=p["invoice_no"],
        line_no=1,
        kind="red",
        original_invoice_no=of["invoice_no"],
        distributor=world.distributor,
        hospital=of["hospital"],
        delivery_no=of["delivery_no"],
        delivery_line_no=1,
        delivery_line=DeliveryLine.objects.filter(delivery_no=of["delivery_no"], line_no=1).first(),
        qty=p["qty"],
        unit_price=of["price"],
        amount=p["amount"],
        tax_rate=Decimal("0.13"),
        issued_at=p["issued"],
    )


def snapshot() -> dict:
    rows = InvoiceLine.objects.values_list(
        "invoice_no",
        "line_no",
        "match_status",
        "exception_codes",
        "net_qty",
        "net_amount",
        "reverses__invoice_no",
        "delivery_line__delivery_no",
        "accepted_on",
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def matched_without_their_acceptance() -> list:
    """Matched blue lines whose ``accepted_on`` is not their delivery line's acceptance date:
    batch creation and statement builds read ``accepted_on`` alone, so there must be none."""
    rows = InvoiceLine.objects.filter(kind="blue", match_status="matched").values_list(
        "invoice_no", "accepted_on", "delivery_line__accepted_date"
    )
    return [r for r in rows if r[1] is None or r[1] != r[2]]


def in_rollback(fn):
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


@pytest.fixture
def world(db):
    return World()


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=deliveries_st, blues=blues_st, reds=reds_st, shuffle_seed=st.integers(0, 2**32 - 1))
def test_matching_is_deterministic_order_independent_and_idempotent(world, deliveries, blues, reds, shuffle_seed):
    docs = documents(world, deliveries, blues, reds)

    def all_at_once(order):
        for kind, payload, _partition in order:
            insert(world, kind, payload)
        invoices_match()
        first = snapshot()
        again = invoices_match()
        return first, snapshot(), again.lines_changed

    def as_they_arrive(order):
        for kind, payload, (region, period) in order:
            insert(world, kind, payload)
            invoices_match(region_prefix=region, period=period)
            assert matched_without_their_acceptance() == []
        arrived = snapshot()
        full = invoices_match()
        return arrived, full.lines_changed

    # a shuffled arrival order that still sends each receipt after its delivery
    rng = random.Random(shuffle_seed)
    shuffled, waiting, delivered = [], [], set()
    pool = docs[:]
    rng.shuffle(pool)
    for doc in pool:
        kind, payload, _partition = doc
        if kind == "receipt" and payload["i"] not in delivered:
            waiting.append(doc)
            continue
        shuffled.append(doc)
        if kind == "delivery":
            delivered.add(payload["i"])
            shuffled += [w for w in waiting if w[1]["i"] == payload["i"]]
            waiting = [w for w in waiting if w[1]["i"] != payload["i"]]
    backwards = list(reversed([d for d in docs if d[0] != "receipt"])) + [d for d in docs if d[0] == "receipt"]

    reference, rerun, changed_on_rerun = in_rollback(lambda: all_at_once(docs))
    assert rerun == reference
    assert changed_on_rerun == 0
    other, _rerun, _changed = in_rollback(lambda: all_at_once(backwards))
    assert other == reference
    arrived, changed_by_full_run = in_rollback(lambda: as_they_arrive(shuffled))
    assert arrived == reference
    assert changed_by_full_run == 0
