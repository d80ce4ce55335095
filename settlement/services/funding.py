"""Funding a batch on approval (DOMAIN.md "Flow of a purchase" 8), in integer fen.

Per hospital, lines oldest due date first (then invoice_no, invoice_code, line_no):

(a) deduction from the hospital's fund allocation of the batch period, less what earlier
    approved batches of that period deducted;
(b) the hospital's remaining prepayment balance (paid out, year start ≤ cut-off, not
    cleared);
(c) a collection order for the rest.

A line is split where a source runs out part-way, so per line deducted + prepayment +
collection = amount exactly. A negative (red) line gives its amount back to the
allocation: it is "deducted" in full (negative), and its size is available to the
hospital's positive lines of the same batch, so net deductions never exceed what the
allocation had left.

``split_funding`` is the pure rule (pandas, vectorised; the reference the tests hold the
database to); ``batch_fund`` locks the allocations and writes the same rule with one
set-based UPDATE computed in the database (window functions, ``fund_lines``): no line is
read into Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import BigIntegerField, F, Sum, Value
from django.db.models.functions import Cast, Round

from settlement.models import BatchLine, FundAllocation, SettlementBatch
from settlement.models.batches import FROZEN_BATCH_STATUSES

SORT_COLUMNS = ["hospital_id", "due_date", "invoice_no", "invoice_code", "line_no", "id"]


def fen_of(path: str):
    """SQL: the Decimal column at ``path`` as integer fen (exact; SQLite stores REAL)."""
    return Cast(Round(F(path) * Value(100)), output_field=BigIntegerField())


def fen_sum(path: str):
    return Sum(fen_of(path))


def split_funding(
    lines: pd.DataFrame, allocation_fen: Mapping[str, int], prepayment_fen: Mapping[str, int]
) -> pd.DataFrame:
    """``lines``: columns id, hospital_id, due_date, invoice_no, invoice_code, line_no,
    amount_fen. Adds deducted_fen, prepayment_fen, collection_fen (int64), sorted in
    funding order. ``allocation_fen``/``prepayment_fen``: hospital → what is available."""
    df = lines.sort_values(SORT_COLUMNS, kind="stable").reset_index(drop=True)
    amount = df["amount_fen"].astype("int64").to_numpy()
    negative = amount < 0
    positive = np.where(negative, 0, amount)
    hospitals = df["hospital_id"]
    give_back = pd.Series(np.where(negative, -amount, 0), index=df.index).groupby(hospitals).transform("sum").to_numpy()
    alloc = hospitals.map(allocation_fen).fillna(0).astype("int64").to_numpy() + give_back
    prep_cap = alloc + hospitals.map(prepayment_fen).fillna(0).astype("int64").to_numpy()
    cum = pd.Series(positive, index=df.index).groupby(hospitals).cumsum().to_numpy()
    prev = cum - positive
    deducted = np.minimum(cum, alloc) - np.minimum(prev, alloc)
    prepaid = np.minimum(cum, prep_cap) - np.minimum(prev, prep_cap) - deducted
    collected = positive - deducted - prepaid
    df["deducted_fen"] = np.where(negative, amount, deducted).astype("int64")
    df["prepayment_fen"] = np.where(negative, 0, prepaid).astype("int64")
    df["collection_fen"] = np.where(negative, 0, collected).astype("int64")
    return df


def split_hospital_totals(
    total_positive_fen: int, total_negative_fen: int, allocation: int, prepayment: int
) -> tuple[int, int, int]:
    """The same rule at hospital level (for previews): (deducted, prepayment, collection)."""
    alloc = allocation - total_negative_fen  # total_negative_fen ≤ 0
    deducted = min(total_positive_fen, alloc)
    prepaid = min(total_positive_fen - deducted, prepayment)
    collected = total_positive_fen - deducted - prepaid
    return deducted + total_negative_fen, prepaid, collected


def allocation_available_fen(*, period: str, hospitals_qs, lock: bool) -> dict[str, int]:
    """hospital → allocation of ``period`` less what approved batches of the period deducted.

    ``hospitals_qs``: a values("hospital_id")-style subquery. With ``lock`` the allocation
    rows are locked (pk order) so concurrent approvals cannot both spend them.
    """
    allocations = FundAllocation.objects.filter(period=period, hospital_id__in=hospitals_qs).order_by("pk")
    if lock:
        allocations = allocations.select_for_update()
    available = {h: int(f) for h, f in allocations.annotate(fen=fen_of("amount")).values_list("hospital_id", "fen")}
    if not available:
        return {}
    spent = (
        BatchLine.objects.filter(
            batch__period=period,
            batch__status__in=FROZEN_BATCH_STATUSES,
            live=True,
            hospital_id__in=hospitals_qs,
        )
        .values("hospital_id")
        .annotate(fen=fen_sum("deducted_amount"))
        .values_list("hospital_id", "fen")
    )
    for hospital_id, fen in spent:
        if hospital_id in available:
            available[hospital_id] -= int(fen or 0)
    return {h: max(f, 0) for h, f in available.items()}


def batch_lines_frame(batch: SettlementBatch) -> pd.DataFrame:
    rows = (
        BatchLine.objects.filter(batch=batch)
        .annotate(amount_fen=fen_of("amount"))
        .values_list(
            "id",
            "hospital_id",
            "distributor_id",
            "due_date",
            "invoice_line__invoice_no",
            "invoice_line__invoice_code",
            "invoice_line__line_no",
            "amount_fen",
        )
    )
    cols = ["id", "hospital_id", "distributor_id", "due_date", "invoice_no", "invoice_code", "line_no", "amount_fen"]
    df = pd.DataFrame.from_records(list(rows), columns=cols)
    df["amount_fen"] = df["amount_fen"].astype("int64")
    return df


@dataclass
class FundingResult:
    by_hospital: pd.DataFrame  # hospital_id → amount_fen, deducted_fen, prepayment_fen, collection_fen
    by_distributor: dict[str, int] = field(default_factory=dict)  # distributor → Σ amount fen


_AVAILABLE = "tmp_batch_available"

# The rule of ``split_funding`` in one statement. Per hospital, the positive amounts are
# taken in funding order against two boundaries: ``alloc`` (the allocation plus the red
# lines' give-back) and ``cap`` (alloc plus the prepayment). A line's deducted part is
# LEAST(cum, alloc) - LEAST(cum - pos, alloc), cum being the running sum of the positive
# amounts up to and including it (ROWS frame: each line's own prefix); its deducted +
# prepayment part the same against ``cap``.
#
# A hospital whose boundaries both lie outside (0, total) needs no order: every cum is
# in [pos, total], so a boundary ≤ 0 gives each line 0 and a boundary ≥ total gives it
# its whole ``pos``, whatever the line's place. cum = pos gives the same. Only the other
# hospitals' lines are sorted and summed in a window (at L, 400 hospitals of 5,000 and
# 0.2M lines of 2.76M: the sort of every line was a third of the statement).
#
# Text keys sort by code point, as in Python (COLLATE "C" on PostgreSQL; SQLite compares
# bytes, which is the same for UTF-8). ``{source}`` yields id, hospital_id, due_date,
# invoice_no, invoice_code, line_no, amt (fen) and pos (amt when positive, else 0), plus
# the pass-through columns ``{keep_*}``; it is read three times ({cte}: inlined when it
# is a cheap scan, else materialised once), twice when ``{bounds}`` is a staged table
# (batch creation: ``stage_bounds``).
_SPLIT_SQL = """
WITH l AS {cte}({source}),
h AS {h_cte}({bounds}),
x AS (
  SELECT l.id{keep_l}, l.hospital_id, l.amt, l.pos, l.pos AS cum, h.alloc, h.cap
  FROM l JOIN h ON h.hospital_id = l.hospital_id
  WHERE {flat}
  UNION ALL
  SELECT w.id{keep_w}, w.hospital_id, w.amt, w.pos,
         CAST(SUM(w.pos) OVER (PARTITION BY w.hospital_id
                               ORDER BY w.due_date, w.invoice_no{collate}, w.invoice_code{collate}, w.line_no, w.id
                               ROWS UNBOUNDED PRECEDING) AS {bigint}) AS cum,
         w.alloc, w.cap
  FROM (SELECT l.*, h.alloc, h.cap FROM l JOIN h ON h.hospital_id = l.hospital_id WHERE NOT ({flat})) AS w
)
SELECT x.id{keep_x},
       CASE WHEN x.amt < 0 THEN x.amt ELSE {least}(x.cum, x.alloc) - {least}(x.cum - x.pos, x.alloc) END AS d,
       CASE WHEN x.amt < 0 THEN 0
            ELSE {least}(x.cum, x.cap) - {least}(x.cum - x.pos, x.cap)
                 - ({least}(x.cum, x.alloc) - {least}(x.cum - x.pos, x.alloc)) END AS p,
       CASE WHEN x.amt < 0 THEN 0
            ELSE x.pos - ({least}(x.cum, x.cap) - {least}(x.cum - x.pos, x.cap)) END AS c
FROM x
"""
_FLAT = "(h.alloc <= 0 OR h.alloc >= h.tp) AND (h.cap <= 0 OR h.cap >= h.tp)"
# Per hospital: its positive total and the two boundaries (see ``_SPLIT_SQL``), over ``l``.
_BOUNDS_SQL = """
  SELECT g.hospital_id, g.tp, COALESCE(t.a, 0) + g.gb AS alloc, COALESCE(t.a, 0) + g.gb + COALESCE(t.p, 0) AS cap
  FROM (SELECT hospital_id, CAST(SUM(pos) AS {bigint}) AS tp, CAST(SUM(pos - amt) AS {bigint}) AS gb
        FROM l GROUP BY hospital_id) AS g
  LEFT JOIN {available} AS t ON t.hospital_id = g.hospital_id
"""
_BOUNDS = "tmp_batch_bounds"

# A batch's own lines (one parameter: the batch id), ordered within equal keys by the
# invoice line (the natural key never ties; the same order as at creation).
_BATCH_LINES_SOURCE = """
      SELECT b.invoice_line_id AS id, b.id AS line_id, b.hospital_id, b.due_date,
             i.invoice_no, i.invoice_code, i.line_no, b.amt,
             CASE WHEN b.amt > 0 THEN b.amt ELSE 0 END AS pos
      FROM (SELECT id, hospital_id, due_date, invoice_line_id, CAST(ROUND(amount * 100) AS {bigint}) AS amt
            FROM settlement_batchline WHERE batch_id = %s) AS b
      JOIN settlement_invoiceline AS i ON i.id = b.invoice_line_id
"""


def _fill_available(cursor, available_fen: Mapping[str, int], prepayment_fen: Mapping[str, int]) -> None:
    """hospital → (allocation, prepayment) available, in fen, as a small temporary table."""
    if connection.vendor == "postgresql":
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_AVAILABLE} (hospital_id text PRIMARY KEY, a bigint, p bigint) "
            "ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_AVAILABLE}")
    else:
        cursor.execute(f"DROP TABLE IF EXISTS temp.{_AVAILABLE}")
        cursor.execute(f"CREATE TEMP TABLE {_AVAILABLE} (hospital_id text PRIMARY KEY, a integer, p integer)")
    rows = [
        (h, int(available_fen.get(h, 0)), int(prepayment_fen.get(h, 0)))
        for h in sorted(set(available_fen) | set(prepayment_fen))
    ]
    for i in range(0, len(rows), 500):
        chunk = rows[i : i + 500]
        cursor.execute(
            f"INSERT INTO {_AVAILABLE} (hospital_id, a, p) VALUES " + ", ".join(["(%s, %s, %s)"] * len(chunk)),
            [v for row in chunk for v in row],
        )


def _drop_temp(cursor, name: str, *, if_exists: bool = False) -> None:
    """DROP the temporary table ``name`` (SQLite names its temp schema)."""
    table = name if connection.vendor == "postgresql" else f"temp.{name}"
    cursor.execute(f"DROP TABLE {'IF EXISTS ' if if_exists else ''}{table}")


def _drop_available(cursor) -> None:
    _drop_temp(cursor, _AVAILABLE)


def bigint_type() -> str:
    return "bigint" if connection.vendor == "postgresql" else "INTEGER"


def split_sql(source: str | None = None, keep: tuple[str, ...] = (), *, bounds: str | None = None) -> str:
    """The split query for the running vendor over ``source`` (default: the lines of one
    batch, one parameter: its id), passing the columns ``keep`` of the source through.
    On PostgreSQL a given source (a plain scan of staged lines) is inlined, cheaper to read
    three times than to keep; the default source, a join, is materialised once.

    ``bounds``: a table that ``stage_bounds`` filled from the same source; the per-hospital
    boundaries are read from it instead of being computed in the statement."""
    materialise = source is None
    if source is None:
        source, keep = _BATCH_LINES_SOURCE.format(bigint=bigint_type()), ("line_id", *keep)
    pg = connection.vendor == "postgresql"
    return _SPLIT_SQL.format(
        cte=("MATERIALIZED " if materialise else "NOT MATERIALIZED ") if pg else "",
        least="LEAST" if pg else "MIN",
        collate=' COLLATE "C"' if pg else "",
        bigint=bigint_type(),
        h_cte="NOT MATERIALIZED " if pg and bounds else "",
        bounds=(
            f"SELECT hospital_id, tp, alloc, cap FROM {bounds}"
            if bounds
            else _BOUNDS_SQL.format(bigint=bigint_type(), available=_AVAILABLE)
        ),
        source=source,
        flat=_FLAT,
        keep_x="".join(f", x.{c}" for c in keep),
        keep_w="".join(f", w.{c}" for c in keep if c != "hospital_id"),
        keep_l="".join(f", l.{c}" for c in keep if c != "hospital_id"),
    )


def parts_sql(alias: str = "s") -> tuple[str, str, str]:
    """SQL for the three parts of the split row ``alias`` as exact decimals (yuan)."""
    if connection.vendor == "postgresql":
        return tuple(f"{alias}.{c}::numeric / 100" for c in "dpc")
    # SQLite keeps decimals as text-affine NUMERIC: write the exact decimal text.
    return tuple(f"printf('%%.2f', {alias}.{c} / 100.0)" for c in "dpc")


def fund_lines(batch_id: int, available_fen: Mapping[str, int], prepayment_fen: Mapping[str, int]) -> int:
    """Write every line's three parts with one set-based UPDATE computed in the database
    (no line leaves it). Lines whose parts come out as they are stay untouched: batch
    lines are written once and their pages filled, so each changed line is a new row
    version elsewhere, with its index entries. Returns the number of lines written."""
    d, p, c = parts_sql()
    pg = connection.vendor == "postgresql"
    table = "b" if pg else "settlement_batchline"
    alias = " AS b" if pg else ""
    same = "IS NOT DISTINCT FROM" if pg else "IS"
    changed = " OR ".join(
        f"NOT ({table}.{col} {same} {part})"
        for col, part in zip(("deducted_amount", "prepayment_amount", "collection_amount"), (d, p, c), strict=True)
    )
    with connection.cursor() as cursor:
        _fill_available(cursor, available_fen, prepayment_fen)
        cursor.execute(
            f"""UPDATE settlement_batchline{alias}
                SET deducted_amount = {d}, prepayment_amount = {p}, collection_amount = {c}
                FROM ({split_sql()}) AS s WHERE {table}.id = s.line_id AND {table}.batch_id = %s
                AND ({changed})""",
            [batch_id, batch_id],
        )
        written = cursor.rowcount
        _drop_available(cursor)
    return written


def insert_funded_lines(
    batch_id: int, source: str, params: list, available_fen: Mapping[str, int], prepayment_fen: Mapping[str, int]
) -> int:
    """INSERT the lines of ``source`` into the batch with their split computed in the same
    statement (columns as ``split_sql`` wants, plus distributor_id and amount); returns the
    number of lines written. The caller has made sure none is live in another batch
    (creations are serialised: batches.batch_create); the one-live-batch unique index
    refuses the whole statement if one were."""
    d, p, c = parts_sql()
    keep = ("hospital_id", "distributor_id", "amount", "due_date")
    with connection.cursor() as cursor:
        _fill_available(cursor, available_fen, prepayment_fen)
        bounds = stage_bounds(cursor, source, params)
        cursor.execute(
            f"""INSERT INTO settlement_batchline (batch_id, invoice_line_id, live, hospital_id, distributor_id,
                    amount, due_date, deducted_amount, prepayment_amount, collection_amount)
                SELECT %s, s.id, %s, s.hospital_id, s.distributor_id, s.amount, s.due_date, {d}, {p}, {c}
                FROM ({split_sql(source, keep, bounds=bounds)}) AS s""",
            [batch_id, True, *params],
        )
        written = cursor.rowcount
        _drop_bounds(cursor)
        _drop_available(cursor)
    return written


def stage_bounds(cursor, source: str, params: list) -> str:
    """Each hospital's positive total and boundaries over ``source``'s lines, as a small
    temporary table (with statistics on PostgreSQL); its name, for ``split_sql(bounds=…)``.

    Computed inside the split statement, the boundaries are a CTE read twice, which
    PostgreSQL keeps without statistics: it then hashed the lines (2.76M for a province)
    twice to join them to their hospitals (5,000), instead of hashing the hospitals."""
    bounds_sql = _BOUNDS_SQL.format(bigint=bigint_type(), available=_AVAILABLE)
    pg = connection.vendor == "postgresql"
    _drop_temp(cursor, _BOUNDS, if_exists=True)
    on_commit = " ON COMMIT DROP" if pg else ""
    cursor.execute(f"CREATE TEMP TABLE {_BOUNDS}{on_commit} AS WITH l AS ({source}) {bounds_sql}", params)
    if pg:
        cursor.execute(f"ANALYZE {_BOUNDS}")
    return _BOUNDS


def _drop_bounds(cursor) -> None:
    _drop_temp(cursor, _BOUNDS)


def funding_totals(batch_id: int) -> FundingResult:
    """Σ per hospital (amount and the three parts) and Σ amount per distributor, in fen:
    one pass over the batch's lines, grouped by (hospital, distributor). PostgreSQL sums
    the exact decimals and converts each group once; SQLite keeps decimals as REAL, so
    each line is rounded to fen first."""
    parts = ("amount", "deducted_amount", "prepayment_amount", "collection_amount")
    cols = ["amount_fen", "deducted_fen", "prepayment_fen", "collection_fen"]
    exact = connection.vendor == "postgresql"
    sums = {c: (Sum(p) if exact else fen_sum(p)) for c, p in zip(cols, parts, strict=True)}
    rows = (
        BatchLine.objects.filter(batch_id=batch_id)
        .values("hospital_id", "distributor_id")
        .annotate(**sums)
        .order_by()
        .values_list("hospital_id", "distributor_id", *cols)
    )
    df = pd.DataFrame.from_records(list(rows), columns=["hospital_id", "distributor_id", *cols])
    for c in cols:
        values = df[c].fillna(0)
        df[c] = [int(v * 100) for v in values] if exact else values.astype("int64")  # Decimal × 100: exact
    by_hospital = df.groupby("hospital_id")[cols].sum().astype("int64").sort_index()
    per_distributor = df.groupby("distributor_id")["amount_fen"].sum().sort_index()
    return FundingResult(by_hospital=by_hospital, by_distributor={str(d): int(f) for d, f in per_distributor.items()})


def funding_basis(
    hospital_ids, available_fen: Mapping[str, int], prepayment_fen: Mapping[str, int]
) -> dict[str, list[int]]:
    """What a split was computed against: hospital → [allocation, prepayment] available (fen)."""
    return {h: [int(available_fen.get(h, 0)), int(prepayment_fen.get(h, 0))] for h in sorted(hospital_ids)}


@transaction.atomic
def batch_fund(
    *, batch: SettlementBatch, prepayment_fen: Mapping[str, int], hospital_ids: list[str] | None = None
) -> FundingResult:
    """Split every line of ``batch`` (its allocations must already be locked by the caller
    through ``allocation_available_fen(lock=True)``; prepayment availability passed in).
    The split is ``split_funding``'s rule, computed by the database. Creation already wrote
    it against what was available then (``batch.funding_basis``); when the same amounts
    are available now, the lines are left as they are, otherwise they are split again
    (``fund_lines``: one UPDATE). ``hospital_ids``: the batch's hospitals when the caller
    has them (else a sub-select)."""
    hospitals = (
        hospital_ids if hospital_ids is not None else BatchLine.objects.filter(batch=batch).values("hospital_id")
    )
    available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=True)
    planned = batch.funding_basis or None  # None: drafted before creation planned the split
    if planned is None or planned != funding_basis(planned, available, prepayment_fen):
        fund_lines(batch.id, available, prepayment_fen)
    return funding_totals(batch.id)
