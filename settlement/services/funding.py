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

``split_funding`` is the pure rule (pandas, vectorised); ``batch_fund`` locks the
allocations and prepayments, reads the lines, applies the rule and writes the split
back with one set-based UPDATE.
"""

from __future__ import annotations

import csv
import io
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
    lines: pd.DataFrame
    by_hospital: pd.DataFrame  # hospital_id → amount_fen, deducted_fen, prepayment_fen, collection_fen
    by_distributor: dict[str, int] = field(default_factory=dict)  # distributor → Σ amount fen


def write_funding(batch_id: int, df: pd.DataFrame) -> None:
    """One set-based UPDATE of the three parts from a temporary table (COPY on PostgreSQL)."""
    table = "tmp_batch_funding"
    data = df[["id", "deducted_fen", "prepayment_fen", "collection_fen"]].astype("int64")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, d bigint, p bigint, c bigint) ON COMMIT DROP"
            )
            cursor.execute(f"TRUNCATE {table}")
            buf = io.StringIO()
            csv.writer(buf).writerows(data.itertuples(index=False, name=None))
            buf.seek(0)
            cursor.copy_expert(f"COPY {table} (id, d, p, c) FROM STDIN WITH (FORMAT csv)", buf)
            cursor.execute(
                f"""UPDATE settlement_batchline AS b
                    SET deducted_amount = t.d::numeric / 100, prepayment_amount = t.p::numeric / 100,
                        collection_amount = t.c::numeric / 100
                    FROM {table} AS t WHERE b.id = t.id AND b.batch_id = %s""",
                [batch_id],
            )
            cursor.execute(f"DROP TABLE {table}")
        else:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{table}")
            cursor.execute(f"CREATE TEMP TABLE {table} (id integer PRIMARY KEY, d integer, p integer, c integer)")
            cursor.executemany(
                f"INSERT INTO {table} (id, d, p, c) VALUES (%s, %s, %s, %s)",
                [tuple(int(v) for v in row) for row in data.itertuples(index=False, name=None)],
            )
            # SQLite keeps decimals as text-affine NUMERIC: write the exact decimal text.
            cursor.execute(
                f"""UPDATE settlement_batchline
                    SET deducted_amount = printf('%%.2f', t.d / 100.0), prepayment_amount = printf('%%.2f', t.p / 100.0),
                        collection_amount = printf('%%.2f', t.c / 100.0)
                    FROM {table} AS t WHERE settlement_batchline.id = t.id AND settlement_batchline.batch_id = %s""",
                [batch_id],
            )
            cursor.execute(f"DROP TABLE temp.{table}")


@transaction.atomic
def batch_fund(*, batch: SettlementBatch, prepayment_fen: Mapping[str, int]) -> FundingResult:
    """Split every line of ``batch`` (its allocations must already be locked by the caller
    through ``allocation_available_fen(lock=True)``; prepayment availability passed in)."""
    hospitals = BatchLine.objects.filter(batch=batch).values("hospital_id")
    available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=True)
    df = split_funding(batch_lines_frame(batch), available, prepayment_fen)
    write_funding(batch.id, df)
    by_hospital = df.groupby("hospital_id")[["amount_fen", "deducted_fen", "prepayment_fen", "collection_fen"]].sum()
    by_distributor = {str(k): int(v) for k, v in df.groupby("distributor_id")["amount_fen"].sum().items()}
    return FundingResult(lines=df, by_hospital=by_hospital, by_distributor=by_distributor)
