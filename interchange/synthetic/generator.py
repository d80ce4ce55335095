"""``generate``: a consistent synthetic province written as interchange CSV files.

One call writes every input table of INTERCHANGE.md except payment_confirmations (they
need instruction numbers the system issues later), plus ``faults.csv`` (what was
injected or breaks a rule, see ``faults``) and ``manifest.json`` (scale, seed, months,
as-of date, row and fault counts). The same scale, seed and months give byte-identical
files: every random draw comes from one ``numpy.random.default_rng(seed)`` in a fixed
order.

Faults are injected into disjoint sets of order lines ("claimed"), so that each faulty
invoice line carries exactly the exception code it was built for and the clean lines
carry none.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from interchange.synthetic import faults as rules
from interchange.synthetic.codes import digital_invoice_numbers
from interchange.synthetic.flow import (
    HOUR,
    append_invoice_lines,
    build_deliveries,
    build_orders,
    build_receipts,
    line_amount_fen,
    natural_invoices,
    rank_within,
)
from interchange.synthetic.formats import (
    DAY_S,
    amount_text,
    date_text,
    day_of,
    month_of_day,
    padded,
    period_text,
    price_text,
    timestamp_text,
)
from interchange.synthetic.master import ROLE_NORMAL, build_master, scaled
from interchange.synthetic.references import build_reference_prices
from interchange.synthetic.scales import SCALES, Calendar, Scale, build_calendar
from interchange.synthetic.vocabulary import REJECT_REASONS
from interchange.synthetic.writer import write_chunks, write_table

TAX_RATE = "0.13"  # VAT on drugs and medical consumables
ABOVE_AWARD_PERMILLE = 1050  # PRICE_ABOVE_AWARD: 5% over the award, under the outlier threshold
OUTLIER_PERMILLE = 1300  # PRICE_OUTLIER: 30% over the peers, still under the listing
INVOICE_DIFF_PERMILLE = 970  # PRICE_DIFFERS_FROM_ORDER: invoiced 3% under the order price
MAX_MONTHS = 12  # one agreement year holds all the data


@dataclass
class GenerationResult:
    out_dir: Path
    scale: str
    seed: int
    months: list[str]
    as_of: str
    row_counts: dict[str, int]
    fault_counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def generate(out_dir: str | Path, *, scale: str = "S", seed: int = 0, months: int | None = None) -> GenerationResult:
    """Write the synthetic province for ``scale`` (S, M or L) into ``out_dir``.

    ``months`` overrides the scale's number of months of orders; the data always ends
    with 2026-10 and is judged as of 2026-10-31.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    sc = SCALES[scale]
    n_months = sc.months if months is None else int(months)
    if not 1 <= n_months <= MAX_MONTHS:
        raise ValueError(f"months must be between 1 and {MAX_MONTHS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _Generator(sc, seed, build_calendar(n_months), out).run()


def _pick(rng: np.random.Generator, eligible: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` indices where ``eligible`` holds, sorted."""
    idx = np.flatnonzero(eligible)
    if len(idx) <= count:
        return idx
    return np.sort(rng.choice(idx, size=count, replace=False))


def _join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of object/str columns and scalars."""
    out = None
    for part in parts:
        piece = part if isinstance(part, str) else np.asarray(part).astype(str).astype(object)
        out = piece if out is None else out + piece
    return np.asarray(out, dtype=object)


class _Generator:
    def __init__(self, sc: Scale, seed: int, cal: Calendar, out: Path) -> None:
        self.sc, self.seed, self.cal, self.out = sc, seed, cal, out
        self.rng = np.random.default_rng(seed)
        self.log = rules.FaultLog()
        self.timings: dict[str, float] = {}
        self.row_counts: dict[str, int] = {}
        self._clock = time.perf_counter()
        # Invoice faults are keyed by invoice numbers, known only once numbered:
        # (fault, invoice rows, detail prefix, rows whose keys end the detail or None).
        self.pending: list[tuple[str, np.ndarray, np.ndarray | str, np.ndarray | None]] = []

    def _lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 3)
        self._clock = now

    # ------------------------------------------------------------------ run
    def run(self) -> GenerationResult:
        rng, cal, sc = self.rng, self.cal, self.sc
        self.master = m = build_master(rng, sc, cal)
        self._lap("master")
        self.orders = o = build_orders(rng, m, cal, sc)
        self.claimed = np.zeros(o.n, dtype=bool)
        late, short = self._inject_order_faults()
        self._lap("orders")
        self.dl = build_deliveries(rng, o, cal, late=late, short=short, quiet=self.claimed)
        self.rc = build_receipts(rng, self.dl, cal)
        over, no_receipt = self._inject_receipt_faults()
        self._lap("deliveries+receipts")
        self.inv = natural_invoices(rng, o, self.dl, self.rc, cal)
        self._inject_invoice_faults(over, no_receipt)
        self._number_invoices()
        self._lap("invoices")
        agreements = self._agreements()
        allocations = self._fund_allocations()
        district_listings = self._district_listings()
        self.refs = build_reference_prices(rng, m, cal, district_listings)
        self._rule_faults(agreements, district_listings)
        self._lap("agreements+prices+rules")
        self._write(agreements, allocations)
        self._lap("write")
        return self._manifest()

    # ------------------------------------------------------------------ keys
    def order_no(self, order_idx: np.ndarray) -> np.ndarray:
        return _join("PO", self.orders.o_no[order_idx])

    def order_line_key(self, ol: np.ndarray) -> np.ndarray:
        return _join(self.order_no(self.orders.l_order[ol]), "/", self.orders.l_line_no[ol])

    def delivery_line_key(self, rows: np.ndarray) -> np.ndarray:
        return _join("DL", self.dl.dl_doc[rows], "/", self.dl.dl_line_no[rows])

    # ------------------------------------------------------------------ faults before delivery
    def _inject_order_faults(self) -> tuple[np.ndarray, np.ndarray]:
        rng, o, m, cal = self.rng, self.orders, self.master, self.cal
        k = self.sc.fault_count(o.n)
        awarded = o.l_award > 0
        # The 48 h window closes inside the data with a day to spare.
        judged = o.l_at + 3 * DAY_S < cal.cutoff_s
        late = _pick(rng, awarded & judged & ~self.claimed, k)
        self.claimed[late] = True
        short = _pick(rng, awarded & judged & (o.l_qty >= 2) & ~self.claimed, k)
        self.claimed[short] = True
        above = _pick(rng, awarded & ~self.claimed, k)
        self.claimed[above] = True
        o.l_price[above] = np.maximum(scaled(o.l_award[above], ABOVE_AWARD_PERMILLE), o.l_award[above] + 1)

        # PRICE_OUTLIER: one hospital pays 30% more than ≥ 5 peers of its city for a month,
        # on a product without award or listing changes; it has at most a third of the
        # month's lines there, so the city's median (PRICE_SPIKE) does not move. The fault
        # log judges it against the scan's peers, the whole province (see _rule_faults).
        plain = ~m.p_awarded & (m.p_role == ROLE_NORMAL) & m.p_drug
        sel = plain[o.l_p] & ~self.claimed
        n_p, n_m = len(m.p_code), len(cal.months)
        l_h = o.l_h
        df = pd.DataFrame({"c": m.h_city[l_h[sel]], "p": o.l_p[sel], "m": o.l_month_pos[sel], "h": l_h[sel]})
        per = df.groupby(["c", "p", "m", "h"], sort=True).size().rename("lines").reset_index()
        grp = per.groupby(["c", "p", "m"], sort=True)
        per["n_h"] = grp["h"].transform("size")
        per["total"] = grp["lines"].transform("sum")
        cand = per[(per["n_h"] >= rules.OUTLIER_MIN_PEERS + 1) & (per["lines"] * 3 <= per["total"])].reset_index(
            drop=True
        )
        groups = cand[["c", "p", "m"]].drop_duplicates().reset_index(drop=True)
        if len(groups):
            take = np.sort(rng.choice(len(groups), size=min(k, len(groups)), replace=False))
            chosen = groups.iloc[take]
            cand = cand.merge(chosen, on=["c", "p", "m"])
            cand["r"] = rng.random(len(cand))
            winners = cand.sort_values(["c", "p", "m", "r"], kind="stable").drop_duplicates(["c", "p", "m"])
            keys = (winners["h"].to_numpy() * n_p + winners["p"].to_numpy()) * n_m + winners["m"].to_numpy()
            line_keys = (l_h * n_p + o.l_p) * n_m + o.l_month_pos
            hit = np.isin(line_keys, keys) & sel
            o.l_price[hit] = scaled(o.l_price[hit], OUTLIER_PERMILLE)
            self.claimed |= hit
        late_mask = np.zeros(o.n, dtype=bool)
        late_mask[late] = True
        short_mask = np.zeros(o.n, dtype=bool)
        short_mask[short] = True
        return late_mask, short_mask

    # ------------------------------------------------------------------ faults in receipts
    def _single_delivery(self) -> tuple[np.ndarray, np.ndarray]:
        """Order lines delivered whole in one delivery line, and that line (0 where none)."""
        dl, o = self.dl, self.orders
        first = dl.ol_first
        single = (first >= 0) & (dl.ol_second < 0) & (dl.a_qty == o.l_qty)
        return single, np.where(first >= 0, first, 0)

    def _clean(self) -> tuple[np.ndarray, np.ndarray]:
        single, row = self._single_delivery()
        rc = self.rc
        return ~self.claimed & single & rc.exists[row] & (rc.rejected[row] == 0), row

    def _inject_receipt_faults(self) -> tuple[np.ndarray, np.ndarray]:
        rng, cal, dl, rc = self.rng, self.cal, self.dl, self.rc
        k = self.sc.fault_count(self.orders.n)
        clean, row = self._clean()
        dday = day_of(dl.dl_at[row])

        # RECEIPT_PENDING: delivered over five days before D, never confirmed.
        pending = _pick(rng, clean & (dday <= cal.as_of_day - rules.RECEIPT_CONFIRM_DAYS - 1), k)
        self.claimed[pending] = True
        rc.exists[row[pending]] = False
        # NO_RECEIPT: never confirmed, but invoiced (below).
        no_receipt = _pick(rng, clean & ~self.claimed & (dday <= cal.as_of_day - 2), k)
        self.claimed[no_receipt] = True
        rc.exists[row[no_receipt]] = False
        # QTY_EXCEEDS_ACCEPTED (over-invoiced): part rejected, the whole delivery invoiced.
        over = _pick(rng, clean & ~self.claimed & (dl.dl_qty[row] >= 2), k)
        self.claimed[over] = True
        r = row[over]
        rc.rejected[r] = rng.integers(1, dl.dl_qty[r])
        rc.accepted[r] = dl.dl_qty[r] - rc.rejected[r]
        rc.reason[r] = rng.integers(0, len(REJECT_REASONS), len(r))

        # Edge: delivered on a month's last day, accepted 00:01-00:55 Shanghai the next day
        # and written in UTC, so the UTC date is the day (and month) before the acceptance.
        next_month = month_of_day(dday + 1) != month_of_day(dday)
        edge_ok = clean & ~self.claimed & next_month & (dday + 1 < cal.cutoff_day) & (dl.dl_at[row] % DAY_S < 23 * HOUR)
        edge = _pick(rng, edge_ok, max(2, self.sc.fault_count(self.orders.n, 0.5)))
        self.claimed[edge] = True
        r = row[edge]
        rc.received_at[r] = (dday[edge] + 1) * DAY_S + rng.integers(60, 3300, len(r))
        rc.utc[r] = True
        self.log.add(
            "EDGE_UTC_NEXT_DAY",
            "receipts",
            self.delivery_line_key(r),
            _join("accepted on ", date_text(dday[edge] + 1), " Asia/Shanghai (UTC date ", date_text(dday[edge]), ")"),
        )
        eo = self.orders.edge_orders
        self.log.add(
            "EDGE_UTC_NEXT_DAY",
            "orders",
            _join(self.order_no(eo), "/1"),
            _join("ordered on ", date_text(day_of(self.orders.o_at[eo])), " Asia/Shanghai"),
        )
        return over, no_receipt

    # ------------------------------------------------------------------ faults in invoices
    def _inject_invoice_faults(self, over: np.ndarray, no_receipt: np.ndarray) -> None:
        rng, cal, o, dl, rc, inv, m = self.rng, self.cal, self.orders, self.dl, self.rc, self.inv, self.master
        k = self.sc.fault_count(o.n)
        n_natural = inv.n
        ol_inv = np.full(o.n, -1, dtype=np.int64)
        ol_inv[dl.dl_ol[inv.dl]] = np.arange(inv.n)
        # Paper invoices: about half the invoices of distributors that still use them.
        n_docs = int(inv.doc.max()) + 1 if inv.n else 0
        doc_seller = np.zeros(n_docs, dtype=np.int64)
        doc_seller[inv.doc] = inv.seller
        self.doc_paper = (m.paper_invoice_code[doc_seller] != "") & (rng.random(n_docs) < 0.5)
        self.n_natural_docs = n_docs

        def rows_of(sel: np.ndarray) -> np.ndarray:
            return ol_inv[sel][ol_inv[sel] >= 0]

        # Over-invoiced lines bill the delivered quantity instead of the accepted one.
        r = rows_of(over)
        inv.qty[r] = dl.dl_qty[inv.dl[r]]
        inv.amount[r] = line_amount_fen(inv.qty[r], inv.price[r])
        self.pending.append(
            ("QTY_EXCEEDS_ACCEPTED", r, _join("invoiced ", inv.qty[r], " > accepted ", rc.accepted[inv.dl[r]]), None)
        )

        # NO_RECEIPT: invoiced 0-2 days after delivery though never confirmed.
        d = self.dl_row_of(no_receipt)
        issue = np.minimum(day_of(dl.dl_at[d]) + rng.integers(0, 3, len(d)), cal.as_of_day)
        new = self._append_from_delivery(d, qty=dl.dl_qty[d], issue_day=issue)
        self.pending.append(("NO_RECEIPT", new, "delivery line has no receipt", None))

        clean, _ = self._clean()
        safe = np.where(ol_inv >= 0, ol_inv, 0)
        ok = clean & (ol_inv >= 0) & (inv.issue_day[safe] <= cal.as_of_day - 2)

        def take(count: int, extra: np.ndarray | None = None) -> np.ndarray:
            eligible = ok & ~self.claimed if extra is None else ok & ~self.claimed & extra
            sel = _pick(rng, eligible, count)
            self.claimed[sel] = True
            return ol_inv[sel]

        def later(days: np.ndarray) -> np.ndarray:
            return days + rng.integers(1, cal.as_of_day - days + 1)

        # QTY_EXCEEDS_ACCEPTED (invoiced twice): the second blue invoice of a delivery line.
        r = take(k)
        dup = self._append_copy(r, issue_day=later(inv.issue_day[r]))
        self.pending.append(("QTY_EXCEEDS_ACCEPTED", dup, "second invoice of the delivery line, first ", r))

        # PRICE_DIFFERS_FROM_ORDER: invoiced 3% under the order (so never above an award).
        r = take(k)
        order_price = inv.price[r].copy()
        new_price = scaled(order_price, INVOICE_DIFF_PERMILLE)
        inv.price[r] = np.maximum(np.where(new_price == order_price, order_price - 1, new_price), 1)
        inv.amount[r] = line_amount_fen(inv.qty[r], inv.price[r])
        self.pending.append(
            (
                "PRICE_DIFFERS_FROM_ORDER",
                r,
                _join("invoice ", price_text(inv.price[r]), " order ", price_text(order_price)),
                None,
            )
        )

        # AMOUNT_MISCALCULATED: amount off by 0.02-5.00 yuan.
        r = take(k)
        delta = rng.integers(2, 501, len(r)) * np.where((inv.amount[r] > 600) & (rng.random(len(r)) < 0.5), -1, 1)
        inv.amount[r] += delta
        self.pending.append(("AMOUNT_MISCALCULATED", r, _join("amount off by ", amount_text(delta)), None))

        # PARTY_MISMATCH: another distributor's invoice (its own invoice document).
        r = take(k)
        dists = m.distributors
        pos = np.searchsorted(dists, inv.seller[r])
        ordered_by = inv.seller[r].copy()
        inv.seller[r] = dists[(pos + rng.integers(1, len(dists), len(r))) % len(dists)]
        inv.doc[r] = int(inv.doc.max()) + 1 + np.arange(len(r))
        self.pending.append(
            (
                "PARTY_MISMATCH",
                r,
                _join("seller ", m.e_code[inv.seller[r]], " but ordered from ", m.e_code[ordered_by]),
                None,
            )
        )

        # Red invoices. Partial reversals (returns), one of a paper invoice where there is one.
        paper_line = np.zeros(o.n, dtype=bool)
        has_inv = np.flatnonzero(ol_inv >= 0)
        doc_of = inv.doc[ol_inv[has_inv]]
        paper_line[has_inv] = (doc_of < n_docs) & self.doc_paper[np.minimum(doc_of, max(n_docs - 1, 0))]
        r = np.concatenate([take(1, (o.l_qty >= 2) & paper_line), take(k, o.l_qty >= 2)])
        back = -rng.integers(1, inv.qty[r])
        red = self._append_copy(r, issue_day=later(inv.issue_day[r]), qty=back, red=True)
        self.pending.append(("RED_PARTIAL", r, _join("net qty ", inv.qty[r] + back, " after red "), red))
        # Full reversals; half of them re-invoiced correctly afterwards.
        r = np.concatenate([take(1, paper_line), take(k)])
        red = self._append_copy(r, issue_day=later(inv.issue_day[r]), qty=-inv.qty[r], red=True)
        self.pending.append(("REVERSED", r, "fully reversed by red ", red))
        again = r[: (len(r) + 1) // 2]
        red_day = inv.issue_day[red[: len(again)]]
        reissue = self._append_copy(again, issue_day=red_day + rng.integers(0, cal.as_of_day - red_day + 1))
        self.pending.append(("REISSUED", reissue, "replaces reversed ", again))

        # NO_DELIVERY: lines naming a delivery line that does not exist, either a line
        # number past the delivery's last line or a delivery number never issued.
        src = _pick(rng, np.ones(n_natural, dtype=bool), k)
        lines_in_doc = np.bincount(dl.dl_doc_idx, minlength=dl.n_docs)
        half = len(src) // 2
        delivery = inv.delivery[src].copy()
        line_no = lines_in_doc[dl.dl_doc_idx[inv.dl[src]]] + 1 + rng.integers(0, 3, len(src))
        width = 10**o.width
        delivery[half:] = (delivery[half:] // width) * width + (width - 1 - np.arange(len(src) - half))
        line_no[half:] = 1
        new = append_invoice_lines(
            inv,
            seller=inv.seller[src],
            buyer=inv.buyer[src],
            delivery=delivery,
            delivery_line_no=line_no,
            dl=np.full(len(src), -1),
            qty=inv.qty[src],
            price=inv.price[src],
            issue_day=inv.issue_day[src],
        )
        self.pending.append(("NO_DELIVERY", new, _join("DL", delivery, "/", line_no, " does not exist"), None))

        # PRICE_ABOVE_AWARD on invoices follows the orders priced above their award.
        blue = ~inv.red & (inv.dl >= 0)
        ol = np.where(blue, dl.dl_ol[np.maximum(inv.dl, 0)], 0)
        award = np.where(blue, o.l_award[ol], 0)
        r = np.flatnonzero(blue & (award > 0) & (inv.price > award))
        self.pending.append(
            ("PRICE_ABOVE_AWARD", r, _join("invoice ", price_text(inv.price[r]), " award ", price_text(award[r])), None)
        )

    def dl_row_of(self, ol: np.ndarray) -> np.ndarray:
        return self.dl.ol_first[ol]

    def _append_from_delivery(self, rows: np.ndarray, *, qty: np.ndarray, issue_day: np.ndarray) -> np.ndarray:
        o, dl = self.orders, self.dl
        ol = dl.dl_ol[rows]
        return append_invoice_lines(
            self.inv,
            seller=o.o_d[o.l_order[ol]],
            buyer=o.o_h[o.l_order[ol]],
            delivery=dl.dl_doc[rows],
            delivery_line_no=dl.dl_line_no[rows],
            dl=rows,
            qty=qty,
            price=o.l_price[ol],
            issue_day=issue_day,
        )

    def _append_copy(
        self, rows: np.ndarray, *, issue_day: np.ndarray, qty: np.ndarray | None = None, red: bool = False
    ) -> np.ndarray:
        inv = self.inv
        q = inv.qty[rows] if qty is None else qty
        return append_invoice_lines(
            inv,
            red=np.full(len(rows), red),
            orig=rows if red else np.full(len(rows), -1),
            seller=inv.seller[rows],
            buyer=inv.buyer[rows],
            delivery=inv.delivery[rows],
            delivery_line_no=inv.delivery_line_no[rows],
            dl=inv.dl[rows],
            qty=q,
            price=inv.price[rows],
            issue_day=issue_day,
        )

    # ------------------------------------------------------------------ invoice numbers
    def _number_invoices(self) -> None:
        rng, inv, m = self.rng, self.inv, self.master
        docs, dense = np.unique(inv.doc, return_inverse=True)
        n_docs = len(docs)
        doc_issue = np.zeros(n_docs, dtype=np.int64)
        doc_issue[dense] = inv.issue_day
        doc_seller = np.zeros(n_docs, dtype=np.int64)
        doc_seller[dense] = inv.seller
        natural = docs < self.n_natural_docs
        paper = np.zeros(n_docs, dtype=bool)
        paper[natural] = self.doc_paper[docs[natural]]
        code = np.where(paper, m.paper_invoice_code[doc_seller], "").astype(object)

        # 全电 numbers in issue order; paper numbers count from 1 per invoice code, so the
        # same 8-digit number recurs under different codes.
        order = np.lexsort((docs, doc_issue))
        seq = np.empty(n_docs, dtype=np.int64)
        seq[order] = np.arange(n_docs)
        offset = int(rng.integers(10**9, 10**10))
        year = month_of_day(doc_issue) // 12 + 1970
        number = digital_invoice_numbers(year, offset + seq)
        if paper.any():
            p_idx = np.flatnonzero(paper)
            p_order = p_idx[np.lexsort((seq[p_idx], code[p_idx].astype(str)))]
            p_rank = rank_within(code[p_order].astype(str)) + 1
            number[p_order] = padded(p_rank, 8)

        # Line numbers from 1 within each invoice, in row order.
        by_doc = np.argsort(dense, kind="stable")
        inv.line_no = np.empty(inv.n, dtype=np.int64)
        inv.line_no[by_doc] = rank_within(dense[by_doc]) + 1
        self.inv_no = number[dense]
        self.inv_code = code[dense]
        self.inv_out_order = np.lexsort((inv.line_no, seq[dense]))
        self.inv_key = _join(np.where(self.inv_code != "", self.inv_code + "-", ""), self.inv_no, "/", inv.line_no)

        for fault, rows, detail, ref in self.pending:
            if ref is not None:
                detail = _join(detail, self.inv_key[ref])
            self.log.add(fault, "invoices", self.inv_key[rows], detail)
        self.pending.clear()

    # ------------------------------------------------------------------ agreements, allocations
    def _agreements(self) -> pd.DataFrame:
        rng, cal, m, o, dl, rc = self.rng, self.cal, self.master, self.orders, self.dl, self.rc
        n_h, n_p = len(m.h_code), len(m.p_code)
        got = rc.exists
        ol = dl.dl_ol[got]
        key = o.l_h[ol] * n_p + o.l_p[ol]
        purchased_all = np.bincount(key, weights=rc.accepted[got], minlength=n_h * n_p).astype(np.int64)
        pairs = np.flatnonzero((purchased_all > 0) & np.tile(m.p_awarded, n_h))
        # A few agreements of hospitals that bought nothing of the product.
        k = self.sc.fault_count(o.n)
        h_try = rng.integers(0, n_h, 8 * k)
        awarded = np.flatnonzero(m.p_awarded)
        p_try = awarded[rng.integers(0, len(awarded), 8 * k)]
        idle = np.unique(h_try * n_p + p_try)
        idle = idle[purchased_all[idle] == 0][:k]
        pairs = np.concatenate([pairs, idle])
        purchased = purchased_all[pairs]
        h, p = pairs // n_p, pairs % n_p

        total = cal.year_end_day - cal.year_start_day + 1
        elapsed = cal.as_of_day - cal.year_start_day + 1
        # Agreed volume so that the hospital is on pace (× 1.0-1.5); a few far behind.
        pace = rng.uniform(1.0, 1.5, len(pairs))
        slow = _pick(rng, purchased > 0, k)
        pace[slow] = rng.uniform(0.25, 0.5, len(slow))
        agreed = np.ceil(purchased * total / (elapsed * pace)).astype(np.int64)
        agreed = np.where(purchased > 0, np.maximum(agreed, 1), rng.integers(10, 200, len(pairs)))

        df = pd.DataFrame(
            {
                "round_code": np.array(m.rounds.codes, dtype=object)[m.p_round[p]],
                "hospital_code": m.h_code[h],
                "product_code": m.p_code[p],
                "year_start": date_text(np.full(len(pairs), cal.year_start_day)),
                "year_end": date_text(np.full(len(pairs), cal.year_end_day)),
                "agreed_qty": agreed,
                "purchased": purchased,
            }
        )
        return df.sort_values(["round_code", "hospital_code", "product_code"], kind="stable").reset_index(drop=True)

    def _fund_allocations(self) -> pd.DataFrame:
        """What the fund owes each hospital a month: mostly well above its purchases, for
        some hospitals below them, for a few nothing (collection orders follow)."""
        rng, cal, m, inv = self.rng, self.cal, self.master, self.inv
        n_h, n_m = len(m.h_code), len(cal.months)
        blue = ~inv.red
        month_pos = month_of_day(inv.issue_day) - int(cal.months[0])
        inside = blue & (month_pos >= 0) & (month_pos < n_m)
        purchases = np.bincount(
            inv.buyer[inside] * n_m + month_pos[inside], weights=inv.amount[inside], minlength=n_h * n_m
        )
        purchases = purchases.astype(np.int64).reshape(n_h, n_m)
        k_none = max(2, round(0.03 * n_h))
        k_short = max(2, round(0.08 * n_h))
        shuffled = rng.permutation(n_h)
        none, short = shuffled[:k_none], shuffled[k_none : k_none + k_short]
        permille = rng.integers(2000, 5001, (n_h, n_m))
        permille[short] = rng.integers(200, 701, (len(short), n_m))
        base = rng.integers(20_000, 200_000, (n_h, n_m)) * 100  # fen: services other than drugs
        base[short] = 0
        amount = (purchases * permille + 500) // 1000 + base
        has = np.ones(n_h, dtype=bool)
        has[none] = False
        hh, mm = np.nonzero(np.repeat(has[:, None], n_m, axis=1))
        periods = period_text(cal.months[mm])
        df = pd.DataFrame({"hospital_code": m.h_code[hh], "period": periods, "amount": amount_text(amount[hh, mm])})
        short_rows = np.isin(hh, short) & (amount[hh, mm] < purchases[hh, mm])
        self.log.add(
            "ALLOCATION_SHORT",
            "fund_allocations",
            _join(m.h_code[hh[short_rows]], "/", periods[short_rows]),
            _join(
                "allocation ",
                amount_text(amount[hh, mm][short_rows]),
                " < invoiced ",
                amount_text(purchases[hh, mm][short_rows]),
            ),
        )
        self.log.add(
            "ALLOCATION_MISSING", "fund_allocations", m.h_code[np.sort(none)], "no allocation row in any period"
        )
        return df

    def _district_listings(self) -> list[tuple[str, int, int]]:
        """PRICE_ABOVE_LISTING through the most specific region: a district lists a product
        10% under what its hospitals pay (the province listing stays above it)."""
        m, o = self.master, self.orders
        plain = ~m.p_awarded & (m.p_role == ROLE_NORMAL) & m.p_drug
        l_h = o.l_h
        district_level = np.isin(m.h_region[l_h], m.district_codes)
        sel = plain[o.l_p] & district_level
        df = pd.DataFrame(
            {"d": m.h_region[l_h[sel]], "p": o.l_p[sel], "h": l_h[sel], "m": o.l_month_pos[sel]}
        ).drop_duplicates()
        score = df.groupby(["d", "p"], sort=True).size().rename("n").reset_index()
        score = score.sort_values(["n", "d", "p"], ascending=[False, True, True], kind="stable")
        n_pairs = max(1, round(0.005 * len(m.p_code)))
        out = []
        used: set[int] = set()
        for d, p, _ in score.itertuples(index=False):
            if p in used:
                continue
            used.add(p)
            # Every month's negotiated price is the same for these products.
            paid = int(scaled(m.p_basis_e4[p, 0], m.p_factor_permille[p]))
            out.append((str(d), int(p), int(scaled(paid, 900))))
            if len(out) == n_pairs:
                break
        return out

    # ------------------------------------------------------------------ rule faults
    def _rule_faults(self, agreements: pd.DataFrame, district_listings: list[tuple[str, int, int]]) -> None:
        m, o, dl, rc, cal, log = self.master, self.orders, self.dl, self.rc, self.cal, self.log
        l_h, l_month = o.l_h, cal.months[o.l_month_pos]

        late, in_time = rules.supply_delay(o, dl, cal)
        ol = np.flatnonzero(late)
        log.add(
            "SUPPLY_DELAY",
            "orders",
            self.order_line_key(ol),
            _join("delivered ", in_time[ol], " of ", o.l_qty[ol], " within 48h"),
        )

        rows = np.flatnonzero(rules.receipt_pending(dl, rc, cal))
        log.add(
            "RECEIPT_PENDING",
            "deliveries",
            self.delivery_line_key(rows),
            _join("delivered ", date_text(day_of(dl.dl_at[rows])), " no receipt"),
        )

        behind = rules.agreement_behind(agreements["purchased"].to_numpy(), agreements["agreed_qty"].to_numpy(), cal)
        a = agreements[behind]
        log.add(
            "AGREEMENT_BEHIND",
            "agreements",
            _join(
                a["round_code"].to_numpy(),
                "/",
                a["hospital_code"].to_numpy(),
                "/",
                a["product_code"].to_numpy(),
                "/",
                a["year_start"].to_numpy(),
            ),
            _join("purchased ", a["purchased"].to_numpy(), " of ", a["agreed_qty"].to_numpy()),
        )

        def hp_keys(mask: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
            t = rules.hospital_product_months(l_h[mask], o.l_p[mask], l_month[mask])
            keys = _join(
                m.h_code[t["h"].to_numpy()], "/", m.p_code[t["p"].to_numpy()], "/", period_text(t["m"].to_numpy())
            )
            return keys, t

        keys, t = hp_keys((o.l_award > 0) & (o.l_price > o.l_award))
        log.add("PRICE_ABOVE_AWARD", "orders", keys, _join("period=", period_text(t["m"].to_numpy())))

        listing = m.p_listing_e4[o.l_p, o.l_month_pos]
        for district, p, price in district_listings:
            listing = np.where((m.h_region[l_h] == district) & (o.l_p == p), price, listing)
        keys, t = hp_keys(o.l_price > listing)
        log.add("PRICE_ABOVE_LISTING", "orders", keys, _join("period=", period_text(t["m"].to_numpy())))

        # PRICE_SPIKE is per product and the hospitals' city (DOMAIN.md): a district
        # hospital counts under its city, as the scan groups it (price_monitor rules).
        city = m.h_city[l_h]
        spikes = rules.price_spikes(city, o.l_p, l_month, o.l_price)
        log.add(
            "PRICE_SPIKE",
            "orders",
            _join(m.p_code[spikes["p"].to_numpy()], "/", m.city_codes[spikes["c"].to_numpy()]),
            _join(
                "period=",
                period_text(spikes["m"].to_numpy()),
                " median ",
                price_text(spikes["x2"].to_numpy() // 2),
                " previous ",
                price_text(spikes["prev2"].to_numpy() // 2),
            ),
        )
        # PRICE_OUTLIER's peers are "all hospitals of the scanned region": the scan's
        # partition, i.e. the province (price_monitor.services.scan.scan_prefixes).
        province = np.array([str(r)[:2] + "0000" for r in m.h_region], dtype=object)
        outliers = rules.price_outliers(province[l_h], l_h, o.l_p, l_month, o.l_price)
        log.add(
            "PRICE_OUTLIER",
            "orders",
            _join(
                m.h_code[outliers["h"].to_numpy()],
                "/",
                m.p_code[outliers["p"].to_numpy()],
                "/",
                period_text(outliers["m"].to_numpy()),
            ),
            _join("period=", period_text(outliers["m"].to_numpy()), " region=", outliers["r"].to_numpy()),
        )

        lar, retail = rules.listing_faults(self.refs, cal.as_of_day)
        log.add(
            "LISTING_ABOVE_REFERENCE",
            "reference_prices",
            _join(m.p_code[lar["p"].to_numpy()], "/", lar["region_code"].to_numpy()),
            _join("listing ", price_text(lar["price_e4"].to_numpy()), " min ", price_text(lar["min_e4"].to_numpy())),
        )
        log.add(
            "RETAIL_ABOVE_LISTING",
            "reference_prices",
            _join(m.p_code[retail["p"].to_numpy()], "/", retail["region_code"].to_numpy()),
            _join(
                "retail ",
                price_text(retail["price_e4"].to_numpy()),
                " listing ",
                price_text(retail["listing_e4"].to_numpy()),
            ),
        )

    # ------------------------------------------------------------------ output
    def _write(self, agreements: pd.DataFrame, allocations: pd.DataFrame) -> None:
        out, m = self.out, self.master
        counts = self.row_counts
        counts["regions"] = write_table(out, "regions", m.regions)
        counts["enterprises"] = write_table(out, "enterprises", m.enterprises)
        counts["hospitals"] = write_table(out, "hospitals", m.hospitals)
        counts["products"] = write_table(out, "products", m.products)
        counts["rounds"] = write_table(out, "rounds", m.rounds.frame)
        counts["awards"] = write_table(out, "awards", m.awards)
        counts["agreements"] = write_table(out, "agreements", agreements)
        self._write_orders()
        self._write_deliveries()
        self._write_receipts()
        self._write_invoices()
        counts["fund_allocations"] = write_table(out, "fund_allocations", allocations)
        refs = self.refs
        ref_df = pd.DataFrame(
            {
                "product_code": m.p_code[refs["p"].to_numpy()],
                "source": refs["source"].to_numpy(),
                "region_code": refs["region_code"].to_numpy(),
                "price": price_text(refs["price_e4"].to_numpy()),
                "effective_from": date_text(refs["effective_day"].to_numpy()),
            }
        )
        counts["reference_prices"] = write_table(out, "reference_prices", ref_df)
        faults = self.log.frame()
        faults.to_csv(out / "faults.csv", index=False, lineterminator="\n", encoding="utf-8")

    def _write_orders(self) -> None:
        o, m = self.orders, self.master

        def render(a: int, b: int) -> dict[str, np.ndarray | str]:
            order = o.l_order[a:b]
            return {
                "order_no": self.order_no(order),
                "line_no": o.l_line_no[a:b],
                "hospital_code": m.h_code[o.o_h[order]],
                "distributor_credit_code": m.e_code[o.o_d[order]],
                "product_code": m.p_code[o.l_p[a:b]],
                "qty": o.l_qty[a:b],
                "unit_price": price_text(o.l_price[a:b]),
                "ordered_at": timestamp_text(o.o_at[order], o.o_utc[order]),
            }

        self.row_counts["orders"] = write_chunks(self.out, "orders", o.n, render)

    def _write_deliveries(self) -> None:
        dl, o = self.dl, self.orders

        def render(a: int, b: int) -> dict[str, np.ndarray | str]:
            ol = dl.dl_ol[a:b]
            lot = dl.dl_lot_month[a:b]
            return {
                "delivery_no": _join("DL", dl.dl_doc[a:b]),
                "line_no": dl.dl_line_no[a:b],
                "order_no": self.order_no(o.l_order[ol]),
                "order_line_no": o.l_line_no[ol],
                "qty": dl.dl_qty[a:b],
                "batch_no": padded((lot // 12 + 1970) % 100, 2)
                + padded(lot % 12 + 1, 2)
                + padded(dl.dl_lot_no[a:b], 3),
                "expiry_date": date_text(dl.dl_expiry_day[a:b]),
                "delivered_at": timestamp_text(dl.dl_at[a:b], dl.dl_utc[a:b]),
            }

        self.row_counts["deliveries"] = write_chunks(self.out, "deliveries", dl.n, render)

    def _write_receipts(self) -> None:
        dl, rc = self.dl, self.rc
        rows = np.flatnonzero(rc.exists)
        reasons = np.array([*REJECT_REASONS, ""], dtype=object)

        def render(a: int, b: int) -> dict[str, np.ndarray | str]:
            r = rows[a:b]
            return {
                "delivery_no": _join("DL", dl.dl_doc[r]),
                "line_no": dl.dl_line_no[r],
                "accepted_qty": rc.accepted[r],
                "rejected_qty": rc.rejected[r],
                "received_at": timestamp_text(rc.received_at[r], rc.utc[r]),
                "reject_reason": reasons[rc.reason[r]],  # -1 → ""
            }

        self.row_counts["receipts"] = write_chunks(self.out, "receipts", len(rows), render)

    def _write_invoices(self) -> None:
        inv, m = self.inv, self.master
        rows = self.inv_out_order
        orig = np.maximum(inv.orig, 0)

        def render(a: int, b: int) -> dict[str, np.ndarray | str]:
            r = rows[a:b]
            red = inv.red[r]
            return {
                "invoice_no": self.inv_no[r],
                "invoice_code": self.inv_code[r],
                "line_no": inv.line_no[r],
                "kind": np.where(red, "red", "blue"),
                "original_invoice_no": np.where(red, self.inv_no[orig[r]], ""),
                "original_invoice_code": np.where(red, self.inv_code[orig[r]], ""),
                "distributor_credit_code": m.e_code[inv.seller[r]],
                "hospital_code": m.h_code[inv.buyer[r]],
                "delivery_no": _join("DL", inv.delivery[r]),
                "delivery_line_no": inv.delivery_line_no[r],
                "qty": inv.qty[r],
                "unit_price": price_text(inv.price[r]),
                "amount": amount_text(inv.amount[r]),
                "tax_rate": TAX_RATE,
                "issued_at": date_text(inv.issue_day[r]),
            }

        self.row_counts["invoices"] = write_chunks(self.out, "invoices", inv.n, render)

    def _manifest(self) -> GenerationResult:
        cal = self.cal
        months = [str(p) for p in period_text(cal.months)]
        as_of = str(date_text(np.array([cal.as_of_day]))[0])
        fault_counts = self.log.counts()
        manifest = {
            "scale": self.sc.name,
            "seed": self.seed,
            "months": months,
            "as_of": as_of,
            "agreement_year_start": str(date_text(np.array([cal.year_start_day]))[0]),
            "agreement_year_end": str(date_text(np.array([cal.year_end_day]))[0]),
            "row_counts": self.row_counts,
            "fault_counts": fault_counts,
        }
        (self.out / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return GenerationResult(
            out_dir=self.out,
            scale=self.sc.name,
            seed=self.seed,
            months=months,
            as_of=as_of,
            row_counts=dict(self.row_counts),
            fault_counts=fault_counts,
            timings=dict(self.timings),
        )
