"""Writing interchange CSV files: UTF-8, a header of canonical column names, values
already rendered as text (money as preformatted decimals, never floats)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

# Canonical English columns of INTERCHANGE.md, in the order written.
TABLE_COLUMNS: dict[str, list[str]] = {
    "regions": ["region_code", "name", "parent_code"],
    "enterprises": ["credit_code", "name", "role", "bank_name", "bank_account"],
    "hospitals": ["hospital_code", "name", "region_code", "level", "ownership"],
    "products": [
        "product_code",
        "category",
        "generic_name",
        "dosage_form",
        "specification",
        "package",
        "units_per_package",
        "manufacturer_credit_code",
    ],
    "rounds": ["round_code", "name", "level", "category", "start_date", "end_date"],
    "awards": ["round_code", "product_code", "enterprise_credit_code", "supply_region_code", "award_price"],
    "agreements": ["round_code", "hospital_code", "product_code", "year_start", "year_end", "agreed_qty"],
    "orders": [
        "order_no",
        "line_no",
        "hospital_code",
        "distributor_credit_code",
        "product_code",
        "qty",
        "unit_price",
        "ordered_at",
    ],
    "deliveries": [
        "delivery_no",
        "line_no",
        "order_no",
        "order_line_no",
        "qty",
        "batch_no",
        "expiry_date",
        "delivered_at",
    ],
    "receipts": ["delivery_no", "line_no", "accepted_qty", "rejected_qty", "received_at", "reject_reason"],
    "invoices": [
        "invoice_no",
        "invoice_code",
        "line_no",
        "kind",
        "original_invoice_no",
        "original_invoice_code",
        "distributor_credit_code",
        "hospital_code",
        "delivery_no",
        "delivery_line_no",
        "qty",
        "unit_price",
        "amount",
        "tax_rate",
        "issued_at",
    ],
    "fund_allocations": ["hospital_code", "period", "amount"],
    "reference_prices": ["product_code", "source", "region_code", "price", "effective_from"],
}

CHUNK_ROWS = 400_000


def write_table(out_dir: Path, table: str, df: pd.DataFrame) -> int:
    """A small table through pandas, which quotes whatever text needs it."""
    columns = TABLE_COLUMNS[table]
    with (Path(out_dir) / f"{table}.csv").open("w", encoding="utf-8", newline="") as fh:
        df[columns].to_csv(fh, index=False, lineterminator="\n")
    return len(df)


def write_chunks(out_dir: Path, table: str, n_rows: int, render: Callable[[int, int], Mapping[str, np.ndarray]]) -> int:
    """A big table, rendered and appended ``CHUNK_ROWS`` rows at a time so that the text
    of millions of rows never sits in memory at once.

    Cells are joined with commas unquoted (about twice as fast as ``DataFrame.to_csv``):
    ``render`` must give codes, numbers, dates and vocabulary text only, never a comma,
    quote or line break.
    """
    columns = TABLE_COLUMNS[table]
    with (Path(out_dir) / f"{table}.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(columns) + "\n")
        for start in range(0, n_rows, CHUNK_ROWS):
            chunk = render(start, min(start + CHUNK_ROWS, n_rows))
            cells = [_texts(chunk[c], min(CHUNK_ROWS, n_rows - start)) for c in columns]
            fh.write("\n".join(map(",".join, zip(*cells, strict=True))) + "\n")
    return n_rows


def _texts(values: np.ndarray | str, n: int) -> list[str]:
    if isinstance(values, str):
        return [values] * n
    values = np.asarray(values)
    return values.tolist() if values.dtype == object else values.astype(str).tolist()
