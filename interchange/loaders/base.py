"""What every table loader shares: the batch being imported, its plan, and the
comparison of file rows with rows already in the database.

A loader has two steps. ``check(batch)`` adds row errors to ``batch.log`` (references,
rules, conflicts with what is stored) and fills ``batch.plan`` with what would be
written. ``write(batch)`` applies the plan through the owning app's
``services/loading.py``; it runs only when the file is accepted, in the same
transaction as the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interchange import reasons
from interchange.parsing import ErrorLog, units_from_db, units_text
from interchange.tables import SCALE, TableSpec


@dataclass
class Plan:
    create: pd.DataFrame | None = None  # typed rows to insert (index = file row)
    update: pd.DataFrame | None = None  # typed rows to change in place (master data, receipts)
    changes: list[dict] = field(default_factory=list)  # audit: {"key", "changes": {field: [old, new]}}
    unchanged: int = 0
    partitions: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class ImportBatch:
    table: str
    spec: TableSpec
    typed: pd.DataFrame  # canonical values, index = file row number
    text: pd.DataFrame  # normalised cell text, for the error report
    log: ErrorLog
    user: object | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    duplicates: int = 0  # rows identical to an earlier row of the file (skipped)
    context: dict = field(default_factory=dict)  # loader look-ups shared between check and write

    def flag(self, frame: pd.DataFrame, mask, column: str, reason: reasons.Reason, detail=None) -> None:
        self.log.add_mask(frame, mask, column, reason, text=self.text, detail=detail)

    def valid(self) -> pd.DataFrame:
        """Rows with no error so far."""
        bad = self.log.bad_rows()
        if bad.size == 0:
            return self.typed
        return self.typed[~self.typed.index.isin(bad)]


class TableLoader:
    """Base of the per-table loaders; see the module docstring."""

    spec: TableSpec
    # True when rows of a file may reference other rows of the same file (regions'
    # parents, red invoices' blue originals): lenient mode then re-checks the survivors.
    self_referencing = False

    def check(self, batch: ImportBatch) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def write(self, batch: ImportBatch) -> tuple[int, int]:  # pragma: no cover - interface
        raise NotImplementedError


# -- helpers ------------------------------------------------------------------------


def canonical(existing: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Database values → the canonical forms of ``interchange.parsing``."""
    from interchange.parsing import ints_from_db, timestamps_from_db

    out = pd.DataFrame(index=existing.index)
    for col in existing.columns:
        kind = kinds.get(col, "code")
        s = existing[col]
        if kind in SCALE:
            out[col] = pd.Series(units_from_db(s.to_numpy(dtype=object), SCALE[kind]).array, index=existing.index)
        elif kind == "int":
            out[col] = ints_from_db(s)
        elif kind == "timestamp":
            out[col] = pd.Series(timestamps_from_db(s.to_numpy(dtype=object)).array, index=existing.index)
        else:
            out[col] = s.astype(object).where(s.notna(), "").map(str) if len(s) else s.astype(object)
    return out


def display(s: pd.Series, kind: str) -> pd.Series:
    """Canonical values as the text a person would type (for audit entries and messages)."""
    if kind in SCALE:
        return units_text(s, SCALE[kind])
    if kind == "timestamp":
        return pd.Series(
            [v.tz_convert("Asia/Shanghai").isoformat() if not pd.isna(v) else "" for v in s],
            index=s.index,
            dtype=object,
        )
    if kind == "int":
        return s.astype(object).where(s.notna(), "").map(str)
    return s.astype(object)


@dataclass
class Comparison:
    new: pd.DataFrame  # file rows whose key is not stored yet
    same: pd.DataFrame  # identical to what is stored
    differing: pd.DataFrame  # key stored with other content; columns of the file plus old_<col>
    diff_columns: pd.Series  # per differing row: list of columns that differ


def compare(rows: pd.DataFrame, existing: pd.DataFrame, key: list[str], columns: list[str]) -> Comparison:
    """Split ``rows`` by whether their ``key`` is stored and, if so, whether ``columns`` agree."""
    rows = rows.copy()
    rows["_row"] = rows.index
    if existing.empty:
        new = rows.set_index("_row").rename_axis(rows.index.name)
        empty = new.iloc[0:0]
        return Comparison(new, empty, empty, pd.Series(dtype=object))
    old = existing[key + columns].rename(columns={c: f"old_{c}" for c in columns})
    merged = rows.merge(old.drop_duplicates(key), on=key, how="left", indicator=True)
    merged = merged.set_index("_row")
    merged.index.name = rows.index.name
    found = (merged["_merge"] == "both").to_numpy()
    differs = np.zeros(len(merged), dtype=bool)
    per_col = {}
    for c in columns:
        a, b = merged[c], merged[f"old_{c}"]
        eq = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna().to_numpy() & b.isna().to_numpy())
        ne = ~eq & found
        per_col[c] = ne
        differs |= ne
    diff_cols = pd.Series(
        [[c for c in columns if per_col[c][i]] for i in np.flatnonzero(differs)],
        index=merged.index[differs],
        dtype=object,
    )
    merged = merged.drop(columns=["_merge"])
    return Comparison(
        new=merged[~found][rows.columns.drop("_row")],
        same=merged[found & ~differs][rows.columns.drop("_row")],
        differing=merged[differs],
        diff_columns=diff_cols,
    )


def flag_conflicts(batch: ImportBatch, cmp: Comparison, kinds: dict[str, str], reason=reasons.CONFLICT) -> None:
    """Log a conflict on the first differing column of each differing row: ``column: old → new``."""
    if cmp.differing.empty:
        return
    first = cmp.diff_columns.map(lambda cols: cols[0])
    for col in first.unique():
        rows = first.index[first == col]
        sub = cmp.differing.loc[rows]
        kind = kinds.get(col, "code")
        old = display(sub[f"old_{col}"], kind).to_numpy(dtype=object)
        new = display(sub[col], kind).to_numpy(dtype=object)
        detail = [f"{col}: {o} → {n}" for o, n in zip(old, new, strict=True)]
        values = batch.text.loc[rows, col].to_numpy(dtype=object) if col in batch.text.columns else new
        batch.log.add(rows.to_numpy(), col, values, reason, detail)


def audit_changes(cmp: Comparison, key: list[str], kinds: dict[str, str]) -> list[dict]:
    """For master-data updates: [{"key": "a/b", "changes": {col: [old, new]}}] per differing row."""
    out = []
    if cmp.differing.empty:
        return out
    disp = {}
    for col in {c for cols in cmp.diff_columns for c in cols}:
        kind = kinds.get(col, "code")
        disp[col] = (display(cmp.differing[f"old_{col}"], kind), display(cmp.differing[col], kind))
    keys = cmp.differing[key].astype(str).agg("/".join, axis=1)
    for row, cols in cmp.diff_columns.items():
        out.append({"key": keys.loc[row], "changes": {c: [disp[c][0].loc[row], disp[c][1].loc[row]] for c in cols}})
    return out


def kinds_of(spec: TableSpec) -> dict[str, str]:
    return {c.name: c.kind for c in spec.columns}


def month(s: pd.Series) -> pd.Series:
    """``YYYY-MM`` of ``YYYY-MM-DD`` text."""
    return s.astype(str).str.slice(0, 7)


def partitions_of(regions: pd.Series, months: pd.Series) -> set[tuple[str, str]]:
    pairs = pd.DataFrame({"r": regions.to_numpy(dtype=object), "m": months.to_numpy(dtype=object)}).drop_duplicates()
    return {(r, m) for r, m in pairs.itertuples(index=False) if r and m}
