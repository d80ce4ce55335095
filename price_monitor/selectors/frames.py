"""Frames the price rules read: one SQL statement each, integer money, streamed in chunks.

Money leaves the database as integers (1/10,000 yuan per package) so no float ever
holds a price: observations already store ``price_units``; awards and reference prices
are converted in SQL (``CAST(ROUND(price * 10000) AS BIGINT)``, exact for 4 decimals).
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from django.db import connection
from pandas.api.types import union_categoricals

from price_monitor.models import PriceObservation
from price_monitor.periods import period_bounds
from price_monitor.services.rules import AWARD_COLUMNS, ORDER_COLUMNS, REFERENCE_COLUMNS

CHUNK_ROWS = 100_000
OBSERVATIONS = PriceObservation._meta.db_table


def sql_frame(
    sql: str, params: list, columns: tuple[str, ...] | list[str], *, dates=(), ints=(), categorical: bool = False
) -> pd.DataFrame:
    """Run ``sql`` and build a frame chunk by chunk (fetchmany), typing the columns once.

    ``categorical``: code columns (hospital, product, region …) become pandas categoricals
    chunk by chunk, so a month of a large province holds a few thousand distinct strings
    and int codes instead of millions of Python strings (far less memory, faster groupby)."""
    texts = [c for c in columns if c not in ints and c not in dates]
    if connection.vendor == "postgresql":
        return _copy_frame(sql, params, list(columns), texts=texts, dates=dates, ints=ints, categorical=categorical)
    chunks: list[pd.DataFrame] = []
    with connection.cursor() as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(CHUNK_ROWS):
            chunk = pd.DataFrame.from_records(rows, columns=list(columns))
            if categorical:
                chunk = chunk.astype({c: "category" for c in texts})
            chunks.append(chunk)
    if not chunks:
        empty = {
            c: pd.Series([], dtype="int64" if c in ints else "datetime64[ns]" if c in dates else "str") for c in columns
        }
        return pd.DataFrame(empty)
    if categorical:
        df = pd.DataFrame(
            {
                c: (
                    pd.Series(union_categoricals([ch[c] for ch in chunks], sort_categories=True))
                    if c in texts
                    else pd.concat([ch[c] for ch in chunks], ignore_index=True)
                )
                for c in columns
            }
        )
    else:
        df = pd.concat(chunks, ignore_index=True)
    for c in ints:
        df[c] = df[c].astype("int64")
    for c in dates:
        df[c] = as_datetime(df[c])
    return df


def _copy_frame(sql: str, params: list, columns: list[str], *, texts, dates, ints, categorical: bool) -> pd.DataFrame:
    """PostgreSQL: ``COPY (query) TO STDOUT`` as CSV, parsed by pandas' C reader — several
    times faster than fetching tuples into Python for a million rows."""
    with connection.cursor() as cur:
        raw = cur.cursor  # the psycopg2 cursor under Django's wrapper
        query = raw.mogrify(sql, params).decode()
        buf = io.BytesIO()
        raw.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buf)
    buf.seek(0)
    dtype = {c: "str" for c in (*texts, *dates)}
    dtype.update({c: "int64" for c in ints})
    # Text is read as text (a categorical dtype here would parse "371000" as a number),
    # then made categorical chunk by chunk so millions of Python strings never coexist.
    chunks = []
    for chunk in pd.read_csv(
        buf, names=columns, header=None, dtype=dtype, keep_default_na=False, na_values=[""], chunksize=CHUNK_ROWS
    ):
        chunks.append(chunk.astype({c: "category" for c in texts}) if categorical else chunk)
    if categorical:
        df = pd.DataFrame(
            {
                c: (
                    pd.Series(union_categoricals([ch[c] for ch in chunks], sort_categories=True))
                    if c in texts
                    else pd.concat([ch[c] for ch in chunks], ignore_index=True)
                )
                for c in columns
            }
        )
    else:
        df = pd.concat(chunks, ignore_index=True)
    for c in dates:
        df[c] = as_datetime(df[c])
    return df


def as_datetime(values: pd.Series) -> pd.Series:
    """SQLite answers dates as 'YYYY-MM-DD' text, PostgreSQL as date objects: convert the
    few distinct values once and spread them (a month of order lines has ≤ 31 dates)."""
    if len(values) == 0:
        return pd.Series(pd.to_datetime([]), index=values.index)
    codes, uniques = pd.factorize(values)
    parsed = pd.to_datetime(pd.Series([str(u) for u in uniques]), format="%Y-%m-%d")
    return pd.Series(parsed.to_numpy()[codes], index=values.index)


def order_prices(*, region_prefix: str, period: str) -> pd.DataFrame:
    """Order-line prices of the month (by order date) of hospitals under ``region_prefix``.

    Read from the order lines themselves, not from the observations: the same rows and
    values an observation build of the partition writes (services.observations, source
    "order": the hospital's region, the order date, ``price_units`` = unit price × 10,000),
    so the rules never depend on observations being in step, and a scan needs no build of
    last month's prices (PRICE_SPIKE) before it can run."""
    start, end = period_bounds(period)
    units = "CAST(ROUND(o.unit_price * 10000) AS BIGINT)"
    sql = (
        f"SELECT o.id, o.hospital_id, h.region_id, o.product_id, o.distributor_id, o.order_date, {units}, o.qty "
        "FROM procurement_orderline o JOIN parties_hospital h ON h.code = o.hospital_id "
        f"WHERE o.order_date >= %s AND o.order_date < %s AND h.region_id LIKE %s AND {units} >= 0"
    )
    return sql_frame(
        sql,
        [start, end, f"{region_prefix}%"],
        ORDER_COLUMNS,
        dates=("order_date",),
        ints=("source_id", "price_units", "qty"),
        categorical=True,
    )


def awards_frame() -> pd.DataFrame:
    """Every award with its round's period and its supply region's coverage prefix."""
    sql = (
        "SELECT a.product_id, r.code, a.enterprise_id, a.supply_region_id, g.prefix, LENGTH(g.prefix), "
        "r.start_date, r.end_date, CAST(ROUND(a.award_price * 10000) AS BIGINT) "
        "FROM procurement_award a JOIN procurement_round r ON r.id = a.round_id "
        "JOIN parties_region g ON g.code = a.supply_region_id"
    )
    return sql_frame(sql, [], AWARD_COLUMNS, dates=("start_date", "end_date"), ints=("prefix_len", "award_price_units"))


def references_frame(*, until: dt.date) -> pd.DataFrame:
    """Every reference price effective on or before ``until`` (all that may be in force then)."""
    sql = (
        "SELECT r.product_id, p.category, p.manufacturer_id, r.source, r.region_id, g.prefix, LENGTH(g.prefix), "
        "r.effective_from, CAST(ROUND(r.price * 10000) AS BIGINT) "
        "FROM price_monitor_referenceprice r JOIN procurement_product p ON p.code = r.product_id "
        "JOIN parties_region g ON g.code = r.region_id WHERE r.effective_from <= %s"
    )
    return sql_frame(sql, [until], REFERENCE_COLUMNS, dates=("effective_from",), ints=("prefix_len", "price_units"))


def manufacturers() -> dict[str, str]:
    """product_code → manufacturer credit code."""
    with connection.cursor() as cur:
        cur.execute("SELECT code, manufacturer_id FROM procurement_product")
        return dict(cur.fetchall())
