"""The floor beside each stage: the same core work by the most direct means, no
application logic (no parsing rules, no reference checks, no history rows, no ORM).

A floor is what PostgreSQL (or pandas) needs for the bytes and rows involved; the ratio
stage / floor says how much the application adds on top. Each function returns
``(rows, seconds)`` and leaves nothing behind (temporary tables are dropped).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from django.db import connection

from procurement.models import DeliveryLine, OrderLine
from settlement.models import InvoiceLine, Statement

# The national default payment term (parties.policy PAYMENT_TERM_DAYS); the floor ignores
# regional overrides on purpose.
TERM_DAYS = 30


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _raw():
    connection.ensure_connection()
    return connection.connection.cursor()


def generate_floor(data_dir: Path) -> tuple[int, float]:
    """Writing the same bytes: copy every CSV of the data set to a scratch directory."""
    files = sorted(data_dir.glob("*.csv"))
    t0 = time.perf_counter()
    rows = 0
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for f in files:
            shutil.copyfile(f, Path(tmp) / f.name)
            with open(f, "rb") as fh:
                rows += max(sum(1 for _ in fh) - 1, 0)
    return rows, time.perf_counter() - t0


def import_floor(files: list[tuple[str, Path]]) -> tuple[int, float, dict[str, dict]]:
    """``COPY`` each CSV into a TEMP table with the file's columns, all text."""
    per_table: dict[str, dict] = {}
    total_rows, total_s = 0, 0.0
    cur = _raw()
    try:
        for table, path in files:
            if path.suffix != ".csv":
                continue
            with open(path, encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f))
            name = f"bench_floor_{table}"
            cols = ", ".join(f'"{c}" text' for c in header)
            t0 = time.perf_counter()
            cur.execute(f"CREATE TEMP TABLE {name} ({cols})")
            with open(path, encoding="utf-8-sig", newline="") as f:
                cur.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv, HEADER true)", f)
            connection.connection.commit()
            seconds = time.perf_counter() - t0
            cur.execute(f"SELECT count(*) FROM {name}")
            rows = cur.fetchone()[0]
            cur.execute(f"DROP TABLE {name}")
            connection.connection.commit()
            per_table[table] = {"rows": rows, "seconds": round(seconds, 3)}
            total_rows += rows
            total_s += seconds
    finally:
        cur.close()
    return total_rows, total_s, per_table


def reconcile_floor() -> tuple[int, float]:
    """The codes that need only joins: invoice line → delivery line (natural key) → order
    line; compare parties, price, amount and quantity; write them to a TEMP table."""
    sql = f"""
        CREATE TEMP TABLE bench_floor_match AS
        SELECT i.id,
               concat_ws(',',
                 CASE WHEN d.id IS NULL THEN 'NO_DELIVERY' END,
                 CASE WHEN d.id IS NOT NULL AND d.accepted_qty IS NULL THEN 'NOT_RECEIVED' END,
                 CASE WHEN o.id IS NOT NULL AND (i.hospital_id <> o.hospital_id
                      OR i.distributor_id <> o.distributor_id) THEN 'PARTY_MISMATCH' END,
                 CASE WHEN o.id IS NOT NULL AND i.unit_price <> o.unit_price THEN 'PRICE_MISMATCH' END,
                 CASE WHEN abs(i.amount - round(i.qty * i.unit_price, 2)) > 0.01 THEN 'AMOUNT_MISCALCULATED' END,
                 CASE WHEN i.kind = 'blue' AND i.qty > coalesce(d.accepted_qty, 0) THEN 'QTY_OVER_ACCEPTED' END
               ) AS codes
        FROM {_t(InvoiceLine)} i
        LEFT JOIN {_t(DeliveryLine)} d ON d.delivery_no = i.delivery_no AND d.line_no = i.delivery_line_no
        LEFT JOIN {_t(OrderLine)} o ON o.id = d.order_line_id
    """
    return _timed_temp(sql, "bench_floor_match")


def confirm_floor(periods: list[str]) -> tuple[int, float]:
    """Copy the month's statements to a TEMP table and mark them confirmed in one UPDATE."""
    cur = _raw()
    try:
        t0 = time.perf_counter()
        cur.execute(
            f"CREATE TEMP TABLE bench_floor_st AS SELECT id, status, confirmed_at FROM {_t(Statement)} "
            "WHERE period = ANY(%s)",
            [periods],
        )
        cur.execute("UPDATE bench_floor_st SET status = 'confirmed', confirmed_at = now()")
        rows = cur.rowcount
        connection.connection.commit()
        seconds = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_floor_st")
        connection.connection.commit()
    finally:
        cur.close()
    return rows, seconds


def batch_floor(cutoff: dt.date) -> tuple[int, float]:
    """One INSERT … SELECT of the confirmed, matched blue lines accepted by the cut-off
    (with a due date) into a TEMP table, then one GROUP BY per hospital. The acceptance is
    the line's own ``accepted_on``, as batch creation reads it (matching writes it)."""
    cur = _raw()
    try:
        t0 = time.perf_counter()
        cur.execute(
            f"""
            CREATE TEMP TABLE bench_floor_batch AS
            SELECT i.id, i.hospital_id, i.distributor_id, i.amount, i.accepted_on + {TERM_DAYS} AS due_date
            FROM {_t(InvoiceLine)} i
            JOIN {_t(Statement)} s ON s.id = i.statement_id
            WHERE s.status = 'confirmed' AND i.match_status = 'matched' AND i.kind = 'blue'
              AND i.accepted_on <= %s
            """,
            [cutoff],
        )
        rows = cur.rowcount
        cur.execute("SELECT hospital_id, count(*), sum(amount) FROM bench_floor_batch GROUP BY hospital_id")
        cur.fetchall()
        connection.connection.commit()
        seconds = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_floor_batch")
        connection.connection.commit()
    finally:
        cur.close()
    return rows, seconds


def alert_floor(as_of: dt.date) -> tuple[int, float]:
    """Due date and days overdue of every accepted delivery line, in one statement."""
    sql = f"""
        CREATE TEMP TABLE bench_floor_alert AS
        SELECT d.id, d.accepted_date + {TERM_DAYS} AS due_date,
               greatest(%s::date - (d.accepted_date + {TERM_DAYS}), 0) AS overdue_days
        FROM {_t(DeliveryLine)} d
        WHERE d.accepted_date IS NOT NULL
    """
    return _timed_temp(sql, "bench_floor_alert", [as_of])


def price_floor(period: str) -> tuple[int, float]:
    """Read the month's order prices and take the median per product with pandas."""
    start = dt.date.fromisoformat(f"{period}-01")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    cur = _raw()
    try:
        t0 = time.perf_counter()
        cur.execute(
            f"SELECT product_id, unit_price FROM {_t(OrderLine)} WHERE order_date >= %s AND order_date < %s",
            [start, end],
        )
        df = pd.DataFrame(cur.fetchall(), columns=["product_id", "unit_price"])
        df["unit_price"] = df["unit_price"].astype("float64")  # a median, not money
        df.groupby("product_id")["unit_price"].median()
        seconds = time.perf_counter() - t0
        connection.connection.commit()
    finally:
        cur.close()
    return len(df), seconds


def observations_floor(months: list[str]) -> tuple[int, float]:
    """One CREATE TEMP TABLE AS of the months' order and invoice lines with their hospital's
    region: the rows an observation build reads and writes, without its unit conversion,
    comparable key or upsert."""
    start = dt.date.fromisoformat(f"{min(months)}-01")
    end = (dt.date.fromisoformat(f"{max(months)}-01") + dt.timedelta(days=32)).replace(day=1)
    sql = f"""
        CREATE TEMP TABLE floor_observations AS
        SELECT 'order' AS source, ol.id AS source_id, ol.product_id, ol.unit_price, ol.qty, h.region_id
        FROM {_t(OrderLine)} ol JOIN parties_hospital h ON h.code = ol.hospital_id
        WHERE ol.order_date >= %s AND ol.order_date < %s
        UNION ALL
        SELECT 'invoice', il.id, ol.product_id, il.unit_price, il.qty, h.region_id
        FROM {_t(InvoiceLine)} il JOIN {_t(DeliveryLine)} dl ON dl.id = il.delivery_line_id
        JOIN {_t(OrderLine)} ol ON ol.id = dl.order_line_id
        JOIN parties_hospital h ON h.code = il.hospital_id
        WHERE il.issued_at >= %s AND il.issued_at < %s"""
    return _timed_temp(sql, "floor_observations", [start, end, start, end])


def _timed_temp(sql: str, name: str, params=None) -> tuple[int, float]:
    cur = _raw()
    try:
        t0 = time.perf_counter()
        cur.execute(sql, params)
        rows = cur.rowcount
        connection.connection.commit()
        seconds = time.perf_counter() - t0
        cur.execute(f"DROP TABLE {name}")
        connection.connection.commit()
    finally:
        cur.close()
    return rows, seconds
