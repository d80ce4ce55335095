"""The purchase flow of DOMAIN.md, one numpy column at a time:
orders → deliveries → receipts → invoices.

Every function works on whole columns; nothing loops over order lines. Instants are
Shanghai wall-clock seconds (see ``formats``), money integer 1/10000 yuan (prices) and
fen (amounts). The natural flow built here is clean; ``generator`` injects the faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interchange.synthetic.formats import DAY_S, day_of, month_of_day, month_start_day
from interchange.synthetic.master import PRIMARY, Master, covering_award_e4, normal_price_e4
from interchange.synthetic.scales import Calendar, Scale
from interchange.synthetic.vocabulary import REJECT_REASONS

HOUR = 3600
SUPPLY_WINDOW_S = 48 * HOUR  # SUPPLY_DELAY_HOURS
UTC_SHARE = 0.08  # timestamps written in UTC (`Z`) rather than +08:00


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal, sorted group values."""
    return np.arange(len(groups)) - np.searchsorted(groups, groups, side="left")


def yyyymm(month_index: np.ndarray) -> np.ndarray:
    month_index = np.asarray(month_index, dtype=np.int64)
    return (1970 + month_index // 12) * 100 + month_index % 12 + 1


def line_amount_fen(qty: np.ndarray, price_e4: np.ndarray) -> np.ndarray:
    """round_half_up(qty × unit_price, 2) in fen; a negative quantity gives the negative amount."""
    qty = np.asarray(qty, dtype=np.int64)
    magnitude = (np.abs(qty) * np.asarray(price_e4, dtype=np.int64) + 50) // 100
    return np.sign(qty) * magnitude


@dataclass
class Orders:
    width: int  # digits of the sequence in order and delivery numbers
    o_h: np.ndarray
    o_d: np.ndarray  # enterprise index of the distributor
    o_at: np.ndarray
    o_utc: np.ndarray
    o_month_pos: np.ndarray  # index into Calendar.months
    o_no: np.ndarray  # yyyymm × 10**width + seq; rendered `PO` + digits
    o_per_month: np.ndarray  # orders in each month
    edge_orders: np.ndarray  # orders placed just after midnight on a month's first day, shown in UTC
    l_order: np.ndarray
    l_line_no: np.ndarray
    l_p: np.ndarray
    l_qty: np.ndarray
    l_price: np.ndarray
    l_award: np.ndarray  # covering award price, 0 when no award covers the line

    @property
    def n(self) -> int:
        return len(self.l_order)

    @property
    def l_h(self) -> np.ndarray:
        return self.o_h[self.l_order]

    @property
    def l_at(self) -> np.ndarray:
        return self.o_at[self.l_order]

    @property
    def l_month_pos(self) -> np.ndarray:
        return self.o_month_pos[self.l_order]


def build_orders(rng: np.random.Generator, master: Master, cal: Calendar, scale: Scale) -> Orders:
    n_h, n_p = len(master.h_code), len(master.p_code)
    n_per_month = max(4, round(scale.lines_per_month / 3.9))
    at_parts, h_parts, pos_parts, utc_parts, edge_parts = [], [], [], [], []
    for pos, month in enumerate(cal.months):
        start = month_start_day(int(month))
        days = np.arange(month_start_day(int(month) + 1) - start)
        weekday = (start + days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        w = np.where(weekday >= 5, 0.35, 1.0)
        day = rng.choice(days, size=n_per_month, p=w / w.sum())
        tod = np.clip(rng.normal(10.5 * HOUR, 2.5 * HOUR, n_per_month), 7 * HOUR, 20 * HOUR)
        night = rng.random(n_per_month) < 0.03
        tod = np.where(night, rng.uniform(0, DAY_S, n_per_month), tod).astype(np.int64)
        at = (start + day) * DAY_S + tod
        utc = rng.random(n_per_month) < UTC_SHARE
        edge = np.zeros(n_per_month, dtype=bool)
        if pos > 0:
            # Ordered 00:01-01:30 Shanghai on the 1st, written in UTC: the UTC date is
            # still the previous month.
            at[:2] = start * DAY_S + rng.integers(60, 5400, size=2)
            utc[:2] = True
            edge[:2] = True
        order = np.argsort(at, kind="stable")
        at_parts.append(at[order])
        utc_parts.append(utc[order])
        edge_parts.append(edge[order])
        h_parts.append(rng.choice(n_h, size=n_per_month, p=master.h_order_weight))
        pos_parts.append(np.full(n_per_month, pos))
    o_at = np.concatenate(at_parts)
    o_h = np.concatenate(h_parts)
    o_pos = np.concatenate(pos_parts)
    n_o = len(o_at)
    o_d = master.h_dists[o_h, rng.integers(0, 3, size=n_o)]
    # Order and delivery numbers share the sequence width; B deliveries continue it.
    width = max(6, len(str(2 * n_per_month)))
    seq = rank_within(o_pos) + 1
    o_no = yyyymm(cal.months[o_pos]) * 10**width + seq

    k = 1 + np.minimum(rng.poisson(2.9, n_o), 11)
    l_order = np.repeat(np.arange(n_o), k)
    l_p = rng.choice(n_p, size=len(l_order), p=master.p_popularity)
    # Primary care buys neither high-value drugs nor specialist consumables.
    specialist = (master.h_level[o_h[l_order]] == PRIMARY) & ~master.p_common[l_p]
    common = np.flatnonzero(master.p_common)
    cw = master.p_popularity[common]
    l_p[specialist] = rng.choice(common, size=int(specialist.sum()), p=cw / cw.sum())
    # One line per product and order.
    _, first = np.unique(l_order * n_p + l_p, return_index=True)
    keep = np.zeros(len(l_order), dtype=bool)
    keep[first] = True
    l_order, l_p = l_order[keep], l_p[keep]
    l_h = o_h[l_order]
    l_qty = 1 + rng.poisson(master.p_lambda[l_p] * master.h_qty_mult[l_h])
    l_price = normal_price_e4(master, l_h, l_p, o_pos[l_order])
    l_award = np.where(master.p_awarded[l_p], covering_award_e4(master, l_h, l_p), 0)
    return Orders(
        width=width,
        o_h=o_h,
        o_d=o_d,
        o_at=o_at,
        o_utc=np.concatenate(utc_parts),
        o_month_pos=o_pos,
        o_no=o_no,
        o_per_month=np.bincount(o_pos, minlength=len(cal.months)),
        edge_orders=np.flatnonzero(np.concatenate(edge_parts)),
        l_order=l_order,
        l_line_no=rank_within(l_order) + 1,
        l_p=l_p,
        l_qty=l_qty,
        l_price=l_price,
        l_award=l_award,
    )


@dataclass
class Deliveries:
    dl_ol: np.ndarray  # order line
    dl_doc: np.ndarray  # delivery number digits; rendered `DL` + digits
    dl_doc_idx: np.ndarray  # dense index of the delivery document
    dl_line_no: np.ndarray
    dl_qty: np.ndarray
    dl_at: np.ndarray
    dl_utc: np.ndarray
    dl_lot_month: np.ndarray
    dl_lot_no: np.ndarray
    dl_expiry_day: np.ndarray
    ol_first: np.ndarray  # per order line: its delivery line in the order's first delivery, -1 if none
    ol_second: np.ndarray  # … in the follow-up delivery, -1 if none
    a_at: np.ndarray  # per order line: planned instants of both parts (also when after the cut-off)
    b_at: np.ndarray
    a_qty: np.ndarray
    b_qty: np.ndarray

    @property
    def n(self) -> int:
        return len(self.dl_ol)

    @property
    def n_docs(self) -> int:
        return int(self.dl_doc_idx[-1]) + 1 if len(self.dl_doc_idx) else 0


def build_deliveries(
    rng: np.random.Generator,
    orders: Orders,
    cal: Calendar,
    *,
    late: np.ndarray,
    short: np.ndarray,
    quiet: np.ndarray,
) -> Deliveries:
    """Each order line ships in the order's first delivery, a few split over a second one.

    ``late`` lines ship whole in a follow-up delivery 50-150 h after the order; ``short``
    lines ship only part of the quantity; ``quiet`` lines (claimed by another fault) are
    never split.
    """
    n, n_o = orders.n, len(orders.o_at)
    o, qty = orders.l_order, orders.l_qty
    order_has_late = np.zeros(n_o, dtype=bool)
    order_has_late[o[late]] = True
    split = (rng.random(n) < 0.03) & (qty >= 2) & ~late & ~short & ~quiet & ~order_has_late[o]
    a_qty = qty.copy()
    b_qty = np.zeros(n, dtype=np.int64)
    a_split = np.clip(np.floor(qty * rng.uniform(0.3, 0.8, n)).astype(np.int64), 1, np.maximum(qty - 1, 1))
    a_qty = np.where(split, a_split, a_qty)
    b_qty = np.where(split, qty - a_split, b_qty)
    a_qty = np.where(late, 0, a_qty)
    b_qty = np.where(late, qty, b_qty)
    a_qty = np.where(short, np.floor(qty * rng.uniform(0.3, 0.9, n)).astype(np.int64), a_qty)

    lag_a = np.clip(2 * HOUR + rng.gamma(2.0, 4 * HOUR, n_o), 2 * HOUR, 40 * HOUR).astype(np.int64)
    lag_b = np.minimum(lag_a + rng.integers(HOUR, 6 * HOUR, n_o), 47 * HOUR)
    lag_b = np.where(order_has_late, rng.integers(50 * HOUR, 150 * HOUR, n_o), lag_b)
    a_at = orders.o_at[o] + lag_a[o]
    b_at = orders.o_at[o] + lag_b[o]
    has_a = (a_qty > 0) & (a_at < cal.cutoff_s)
    has_b = (b_qty > 0) & (b_at < cal.cutoff_s)

    # Follow-up deliveries are numbered after the month's orders.
    order_has_b = np.zeros(n_o, dtype=bool)
    order_has_b[o[has_b]] = True
    b_orders = np.flatnonzero(order_has_b)
    b_pos = orders.o_month_pos[b_orders]
    b_seq = orders.o_per_month[b_pos] + rank_within(b_pos) + 1
    b_doc = np.full(n_o, -1, dtype=np.int64)
    b_doc[b_orders] = (orders.o_no[b_orders] // 10**orders.width) * 10**orders.width + b_seq

    idx_a, idx_b = np.flatnonzero(has_a), np.flatnonzero(has_b)
    dl_ol = np.concatenate([idx_a, idx_b])
    dl_doc = np.concatenate([orders.o_no[o[idx_a]], b_doc[o[idx_b]]])
    dl_qty = np.concatenate([a_qty[idx_a], b_qty[idx_b]])
    dl_at = np.concatenate([a_at[idx_a], b_at[idx_b]])
    part = np.concatenate([np.zeros(len(idx_a), dtype=np.int8), np.ones(len(idx_b), dtype=np.int8)])
    order = np.lexsort((dl_ol, dl_doc))
    dl_ol, dl_doc, dl_qty, dl_at, part = dl_ol[order], dl_doc[order], dl_qty[order], dl_at[order], part[order]
    nd = len(dl_ol)
    doc_idx = np.cumsum(np.r_[True, dl_doc[1:] != dl_doc[:-1]]) - 1 if nd else np.zeros(0, dtype=np.int64)

    ol_first = np.full(n, -1, dtype=np.int64)
    ol_second = np.full(n, -1, dtype=np.int64)
    pos = np.arange(nd)
    ol_first[dl_ol[part == 0]] = pos[part == 0]
    ol_second[dl_ol[part == 1]] = pos[part == 1]

    lot_month = month_of_day(day_of(dl_at)) - rng.integers(1, 12, nd)
    shelf = np.where(rng.random(nd) < 0.5, 24, 36)
    return Deliveries(
        dl_ol=dl_ol,
        dl_doc=dl_doc,
        dl_doc_idx=doc_idx,
        dl_line_no=rank_within(dl_doc) + 1,
        dl_qty=dl_qty,
        dl_at=dl_at,
        dl_utc=rng.random(nd) < UTC_SHARE,
        dl_lot_month=lot_month,
        dl_lot_no=rng.integers(1, 60, nd),
        dl_expiry_day=month_start_day(lot_month + shelf) - 1,
        ol_first=ol_first,
        ol_second=ol_second,
        a_at=a_at,
        b_at=b_at,
        a_qty=np.where(has_a, a_qty, 0),
        b_qty=np.where(has_b, b_qty, 0),
    )


@dataclass
class Receipts:
    exists: np.ndarray  # per delivery line
    received_at: np.ndarray
    utc: np.ndarray
    accepted: np.ndarray
    rejected: np.ndarray
    reason: np.ndarray  # index into REJECT_REASONS, -1 when nothing rejected


def build_receipts(rng: np.random.Generator, dl: Deliveries, cal: Calendar) -> Receipts:
    """Hospitals confirm a delivery 1-72 h after it arrives; nothing after the cut-off."""
    n = dl.n
    lag = rng.integers(HOUR, 72 * HOUR, max(dl.n_docs, 1))
    at = dl.dl_at + lag[dl.dl_doc_idx]
    rejecting = rng.random(n) < 0.008
    rejected = np.where(rejecting, rng.integers(1, dl.dl_qty + 1), 0)
    return Receipts(
        exists=at < cal.cutoff_s,
        received_at=at,
        utc=rng.random(n) < UTC_SHARE,
        accepted=dl.dl_qty - rejected,
        rejected=rejected,
        reason=np.where(rejected > 0, rng.integers(0, len(REJECT_REASONS), n), -1),
    )


@dataclass
class InvoiceLines:
    """Invoice lines before numbering. ``doc`` groups lines into one invoice."""

    doc: np.ndarray
    line_no: np.ndarray
    red: np.ndarray
    orig: np.ndarray  # for a red line: the blue line (row index) it reverses, else -1
    seller: np.ndarray  # enterprise index
    buyer: np.ndarray  # hospital index
    delivery: np.ndarray  # delivery number digits (may name no delivery: NO_DELIVERY)
    delivery_line_no: np.ndarray
    dl: np.ndarray  # delivery line row, -1 when the reference does not exist
    qty: np.ndarray
    price: np.ndarray
    amount: np.ndarray  # fen
    issue_day: np.ndarray
    extra: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.doc)


INVOICE_COLUMNS = (
    "doc",
    "line_no",
    "red",
    "orig",
    "seller",
    "buyer",
    "delivery",
    "delivery_line_no",
    "dl",
    "qty",
    "price",
    "amount",
    "issue_day",
)


def natural_invoices(
    rng: np.random.Generator, orders: Orders, dl: Deliveries, rc: Receipts, cal: Calendar
) -> InvoiceLines:
    """One invoice per delivery, one blue line per accepted delivery line, issued 0-6 days
    after the delivery's last acceptance; none issued after the data ends."""
    invoiceable = rc.exists & (rc.accepted > 0)
    rec_day = day_of(rc.received_at)
    n_docs = max(dl.n_docs, 1)
    last_accept = np.full(n_docs, -1, dtype=np.int64)
    np.maximum.at(last_accept, dl.dl_doc_idx[invoiceable], rec_day[invoiceable])
    issue_doc = last_accept + rng.integers(0, 7, n_docs)
    rows = np.flatnonzero(invoiceable & (issue_doc[dl.dl_doc_idx] <= cal.as_of_day))
    ol = dl.dl_ol[rows]
    doc = dl.dl_doc_idx[rows]
    price = orders.l_price[ol]
    return InvoiceLines(
        doc=doc,
        line_no=rank_within(doc) + 1,
        red=np.zeros(len(rows), dtype=bool),
        orig=np.full(len(rows), -1, dtype=np.int64),
        seller=orders.o_d[orders.l_order[ol]],
        buyer=orders.o_h[orders.l_order[ol]],
        delivery=dl.dl_doc[rows],
        delivery_line_no=dl.dl_line_no[rows],
        dl=rows,
        qty=rc.accepted[rows],
        price=price,
        amount=line_amount_fen(rc.accepted[rows], price),
        issue_day=issue_doc[doc],
    )


def append_invoice_lines(inv: InvoiceLines, **cols: np.ndarray) -> np.ndarray:
    """Append single-line invoices (each its own document); returns their row indices."""
    n_new = len(cols["qty"])
    first_doc = int(inv.doc.max()) + 1 if inv.n else 0
    defaults = {
        "doc": np.arange(first_doc, first_doc + n_new),
        "line_no": np.ones(n_new, dtype=np.int64),
        "red": np.zeros(n_new, dtype=bool),
        "orig": np.full(n_new, -1, dtype=np.int64),
    }
    defaults.update(cols)
    if "amount" not in defaults:
        defaults["amount"] = line_amount_fen(defaults["qty"], defaults["price"])
    start = inv.n
    for name in INVOICE_COLUMNS:
        setattr(
            inv, name, np.concatenate([getattr(inv, name), np.asarray(defaults[name]).astype(getattr(inv, name).dtype)])
        )
    return np.arange(start, start + n_new)
