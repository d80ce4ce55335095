"""Import one file of one table (INTERCHANGE.md "General rules"): the command line, the
API and the demo all come through ``table_import``.

1. read (encoding, headers; a missing required column rejects the file at once);
2. normalise and type every column (interchange.parsing), duplicates inside the file;
3. the table's loader checks references and rules against the database and plans
   what to write (new rows; master-data changes, audited);
4. strict (default): any bad row → nothing written; ``lenient``: the valid rows are
   written in one transaction, the bad ones reported; all rows bad → rejected;
5. the error report (every bad row: row, column, value, reason) goes next to the input
   as ``<file>.errors.csv`` (or under ``settings.IMPORT_REPORT_DIR``);
6. after commit ``interchange.signals.table_imported`` names the partitions touched.

The large document tables (loaders with ``chunkable = True``) are read ``CHUNK_ROWS``
rows at a time: steps 2-3 run per chunk against the database as it was before the file
(the writes are staged, ``interchange.bulk.collecting``), in-file duplicates and red
lines' originals are tracked across chunks (a second pass when one spans chunks, so the
report is the same as for the whole file at once), and step 4 writes the staged rows in
one statement per table, in the file's transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from interchange import bulk, reasons
from interchange.loaders.base import ImportBatch
from interchange.parsing import ErrorLog, parse_table
from interchange.permissions import ImportForbidden, import_allowed
from interchange.readers import UnreadableFile, open_table
from interchange.registry import table_handler
from interchange.signals import table_imported
from interchange.writers import write_table

log = logging.getLogger(__name__)

APPLIED = "applied"
REJECTED = "rejected"
MAX_ERRORS_IN_REPLY = 200
REPORT_SUFFIX = ".errors.csv"


class UnknownTable(ValueError):
    """No table of that name is registered."""


@dataclass
class ImportReport:
    table: str
    file: str
    status: str = APPLIED
    lenient: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reason: str = ""  # one line, when the file is rejected
    errors: pd.DataFrame = field(default_factory=lambda: ErrorLog().frame())
    warnings: list[str] = field(default_factory=list)
    report_path: str = ""
    encoding: str = ""
    partitions: set[tuple[str, str]] = field(default_factory=set)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == APPLIED

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }

    def error_list(self, limit: int | None = None) -> list[dict]:
        df = self.errors if limit is None else self.errors.head(limit)
        return [
            {"row": int(r.row), "column": r.column, "value": r.value, "reason": r.reason, "message": r.message}
            for r in df.itertuples(index=False)
        ]

    def as_dict(self, max_errors: int = MAX_ERRORS_IN_REPLY) -> dict:
        return {
            "table": self.table,
            "file": Path(self.file).name,
            "status": self.status,
            "lenient": self.lenient,
            "counts": self.counts(),
            "reason": self.reason,
            "error_count": self.error_count,
            "errors": self.error_list(max_errors),
            "errors_truncated": self.error_count > max_errors,
            "warnings": list(self.warnings),
            "report_path": self.report_path,
            "encoding": self.encoding,
            "partitions": sorted([list(p) for p in self.partitions]),
            "run_id": self.run_id,
        }

    def summary(self) -> str:
        c = self.counts()
        return (
            f"{self.table}: {self.status} — read {c['read']}, created {c['created']}, updated {c['updated']}, "
            f"unchanged {c['unchanged']}, rejected {c['rejected']}"
        )


# Rows per chunk when a large table's CSV is read in chunks (bounded memory): every chunk
# is parsed and checked against the database as it stood before the file (writes are
# staged, interchange.bulk.collecting) and the file is written at the end, in the same
# transaction, only when accepted.
CHUNK_ROWS = 200_000


def table_import(
    *, table: str, path: str | Path, lenient: bool = False, user=None, source: str | None = None
) -> ImportReport:
    """Import ``path`` into ``table``; see the module docstring. Raises UnknownTable, ImportForbidden."""
    handler = table_handler(table)
    if handler is None:
        raise UnknownTable(table)
    if not import_allowed(user, handler):
        raise ImportForbidden(table)
    path = Path(path)
    started = timezone.now()
    report = ImportReport(table=table, file=str(path), lenient=lenient)
    source = source or f"import:{path.name}"
    chunked = bool(getattr(handler.loader, "chunkable", False))
    try:
        opened = open_table(path, handler.spec, CHUNK_ROWS if chunked else None)
        report.encoding = opened.encoding
        for header in opened.unknown:
            report.warnings.append(f"{reasons.UNKNOWN_COLUMN}: {header}")
        for name in opened.duplicated:
            report.warnings.append(f"{reasons.DUPLICATE_COLUMN}: {name}")
        if opened.missing:
            report.read = sum(len(frame) for frame in opened.chunks())
            errors = ErrorLog()
            errors.add(np.ones(len(opened.missing), dtype=np.int64), "", "", reasons.MISSING_COLUMN)
            frame = errors.frame()
            frame["column"] = opened.missing
            frame["value"] = opened.missing
            report.errors = frame
            report.status = REJECTED
            report.reason = f"{reasons.MISSING_COLUMN}: {', '.join(opened.missing)}"
            report.rejected = report.read
            _finish(report, path, user, source, started)
            return report

        with transaction.atomic():
            _lock_table(table)
            _import_rows(handler, opened, report, lenient=lenient, user=user, source=source, chunked=chunked)
    except (UnreadableFile, OSError) as exc:
        report = ImportReport(table=table, file=str(path), lenient=lenient, encoding=report.encoding)
        report.status, report.reason = REJECTED, str(exc)[:500]
    _finish(report, path, user, source, started)
    return report


def _import_rows(handler, opened, report: ImportReport, *, lenient: bool, user, source: str, chunked: bool) -> None:
    """Check every chunk, then write (or not) — inside the file's transaction."""
    table = handler.name
    hints: dict = {}
    for attempt in range(4):
        with bulk.collecting() if chunked else contextlib.nullcontext() as sink:
            run = _check_chunks(handler, opened, lenient=lenient, user=user, source=source, hints=hints, sink=sink)
            rerun = run.rerun_hints()
            if rerun is None or attempt == 3:
                break
            # A duplicate key or a red line's original spans chunks: check again knowing the whole file.
            if sink is not None:
                sink.discard()
            hints = rerun
    errors = run.errors
    bad = errors.bad_rows()
    report.read = run.read
    report.rejected = int(len(bad))
    report.errors = errors.frame()
    report.partitions = set(run.partitions)
    if len(bad) and not lenient:
        report.status = REJECTED
        report.reason = _first_reason(report)
    elif len(bad) and len(bad) >= report.read:
        report.status = REJECTED
        report.reason = _first_reason(report, all_rows=True)
    else:
        if chunked:
            report.created, report.updated = run.sink.flush()
        else:
            report.created, report.updated = handler.loader.write(run.batch)
        report.unchanged = run.unchanged + run.duplicates
        if report.created or report.updated:
            # The rows' key checks run at COMMIT: plan them for the referenced tables as they are
            # now, not as this process first saw them (a long-lived worker's small first import).
            bulk.replan_deferred_checks()
            partitions = frozenset(run.partitions)
            changed = report.created + report.updated
            transaction.on_commit(lambda: _analyze(table, changed))
            transaction.on_commit(
                lambda: table_imported.send(sender=None, table=table, partitions=set(partitions), user=user)
            )
    if report.status == REJECTED:
        report.partitions = set()
        if chunked:
            run.sink.discard()


@dataclass
class _Run:
    """One pass over the chunks of a file."""

    errors: ErrorLog
    context: dict
    duplicates_seen: _DuplicateKeys
    hints: dict
    sink: object = None
    batch: ImportBatch | None = None  # the last chunk's batch (the only one when not chunked)
    read: int = 0
    unchanged: int = 0
    duplicates: int = 0
    partitions: set = field(default_factory=set)

    def rerun_hints(self) -> dict | None:
        """None when this pass is exact; else what a second pass must know from the start."""
        hints = dict(self.hints)
        again = False
        if self.duplicates_seen.spans_chunks and "duplicate_keys" not in self.hints:
            hints["duplicate_keys"] = self.duplicates_seen.groups()
            again = True
        blue = self.context.get("blue_in_file", set())
        if "blue_in_file" in self.hints:
            if blue != self.hints["blue_in_file"]:
                hints["blue_in_file"], again = set(blue), True
        elif self.context.get("unresolved_originals", set()) & blue:
            hints["blue_in_file"], again = set(blue), True
        return hints if again else None


def _check_chunks(handler, opened, *, lenient: bool, user, source: str, hints: dict, sink) -> _Run:
    table = handler.name
    context: dict = {}
    if "blue_in_file" in hints:
        context["blue_in_file"] = set(hints["blue_in_file"])
    run = _Run(
        errors=ErrorLog(),
        context=context,
        duplicates_seen=_DuplicateKeys(handler.spec, known=hints.get("duplicate_keys")),
        hints=hints,
        sink=sink,
    )
    for frame in opened.chunks():
        run.read += len(frame)
        typed, text = parse_table(frame, handler.spec, run.errors)
        del frame
        batch = ImportBatch(
            table=table,
            spec=handler.spec,
            typed=typed,
            text=text,
            log=run.errors,
            user=user,
            source=source,
            context=context,
        )
        run.duplicates_seen.apply(batch)
        handler.loader.check(batch)
        if lenient and len(run.errors) and getattr(handler.loader, "self_referencing", False):
            _recheck_survivors(handler.loader, batch)
        if hasattr(handler.loader, "end_chunk"):
            handler.loader.end_chunk(batch, lenient=lenient)
        run.unchanged += batch.plan.unchanged
        run.duplicates += batch.duplicates
        run.partitions |= set(batch.plan.partitions)
        run.batch = batch
        # Strict: once a row is bad nothing will be written, so stop staging.
        if sink is not None and (lenient or not len(run.errors)):
            handler.loader.write(batch)
    return run


_HASH_KEYS = ("jicai-import-k01", "jicai-import-k02")


def _row_hashes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes per row (128 bits: a collision is not a practical concern)."""
    if frame.empty:
        empty = np.array([], dtype=np.uint64)
        return empty, empty
    return tuple(pd.util.hash_pandas_object(frame, index=False, hash_key=k).to_numpy() for k in _HASH_KEYS)


def _pairs_in(a: np.ndarray, b: np.ndarray, prior_a: np.ndarray, prior_b: np.ndarray) -> np.ndarray:
    """Per i: is the pair ``(a[i], b[i])`` among the pairs ``(prior_a[j], prior_b[j])``?

    A hash look-up of the first halves alone (``isin``: one hash table of ``prior_a``, linear),
    then the pairs compared in full only for the rows whose first half is known — the rows
    that repeat an earlier one, few in a real file. It replaced a merge of each chunk with all
    earlier chunks' pairs, deduplicated anew per chunk, whose cost grew with the square of the
    file: for the L order file's 15 chunks 94 s of duplicate checks against 14–17 s
    (benchmarks/README.md, "Tenth session")."""
    hit = np.zeros(len(a), dtype=bool)
    if not len(a) or not len(prior_a):
        return hit
    first = pd.Series(a, copy=False).isin(pd.Series(prior_a, copy=False)).to_numpy()
    rows = np.flatnonzero(first)
    if not rows.size:
        return hit
    # The earlier pairs that share a first half with one of these rows: as few as the rows.
    near = pd.Series(prior_a, copy=False).isin(pd.Series(a[rows], copy=False)).to_numpy()
    known = pd.DataFrame({"a": prior_a[near], "b": prior_b[near]}).drop_duplicates()
    here = pd.DataFrame({"a": a[rows], "b": b[rows]})
    hit[rows] = (here.merge(known, how="left", indicator=True)["_merge"] == "both").to_numpy()
    return hit


def _duplicated(df: pd.DataFrame, cols: list[str], hashes: pd.DataFrame, keep) -> np.ndarray:
    """``df.duplicated(subset=cols, keep=keep)``, compared on values only among the rows whose
    hashes of ``cols`` repeat (equal values hash alike, so no other row can be a duplicate)."""
    out = np.zeros(len(df), dtype=bool)
    candidates = hashes.duplicated(keep=False).to_numpy()
    if candidates.any():
        out[candidates] = df[candidates].duplicated(subset=cols, keep=keep).to_numpy()
    return out


def _halves(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit halves of a 128-bit hash column pair (``k1``/``k2``, ``c1``/``c2``)."""
    return frame[f"{name}1"].to_numpy(), frame[f"{name}2"].to_numpy()


class _DuplicateKeys:
    """In-file duplicates over the whole file, whichever chunks the rows are in.

    A row identical to an earlier row is skipped; rows sharing a key with other content
    are all refused (DUPLICATE_KEY, "rows a, b"). Per chunk the exact check is done on the
    values; across chunks on 128-bit hashes of the key and of the whole row. A key
    conflict across chunks is found only when its second row comes, after the first was
    checked: ``spans_chunks`` then asks for a second pass with ``known`` = ``groups()``.
    """

    def __init__(self, spec, known: dict | None = None) -> None:
        self.spec = spec
        self.key = list(spec.key)
        self.cols = list(spec.column_names)
        self.known = known
        self.spans_chunks = False
        self._seen: list[pd.DataFrame] = []  # per chunk: k1, k2, c1, c2, row (kept rows only)

    def _prior(self) -> pd.DataFrame:
        if not self._seen:
            return pd.DataFrame({c: pd.Series(dtype=np.uint64) for c in ("k1", "k2", "c1", "c2")}).assign(
                row=pd.Series(dtype=np.int64)
            )
        if len(self._seen) > 1:
            self._seen = [pd.concat(self._seen, ignore_index=True)]
        return self._seen[0]

    def apply(self, batch: ImportBatch) -> None:
        df = batch.typed
        if df.empty:
            return
        k1, k2 = _row_hashes(df[self.key])
        c1, c2 = _row_hashes(df[self.cols])
        here = pd.DataFrame({"k1": k1, "k2": k2, "c1": c1, "c2": c2, "row": df.index.to_numpy(dtype=np.int64)})
        prior = self._prior()
        exact = _duplicated(df, self.cols, here[["c1", "c2"]], keep="first")
        if len(prior):
            exact |= _pairs_in(*_halves(here, "c"), *_halves(prior, "c"))
        if exact.any():
            batch.duplicates = int(exact.sum())
            batch.typed = df = df[~exact]
            batch.text = batch.text[~exact]
            here = here[~exact]
        present = np.ones(len(df), dtype=bool)
        for c in self.key:
            s = df[c]
            # An Int64 key cell that was blank or invalid is NA: ``!= ""`` is NA there, not False.
            filled = (s != "").to_numpy(dtype=bool, na_value=False)
            present &= s.notna().to_numpy() & (filled | (not self.spec.column(c).required))
        self._seen.append(here[present].reset_index(drop=True))
        column = next((c for c in reversed(self.key) if self.spec.column(c).required), self.key[0])
        if self.known is not None:
            rows = df.index.to_numpy()
            dup = np.array([r in self.known for r in rows], dtype=bool) if self.known else np.zeros(len(df), bool)
            if dup.any():
                detail = np.array([self.known.get(r, "") for r in rows], dtype=object)
                batch.flag(df, dup, column, reasons.DUPLICATE_KEY, detail=detail)
            return
        dup = _duplicated(df, self.key, here[["k1", "k2"]], keep=False) & present
        detail = pd.Series("", index=df.index, dtype=object)
        if dup.any():
            groups = df[dup].groupby(self.key, sort=False, dropna=False).groups
            for rows in groups.values():
                listed = ", ".join(str(r) for r in rows)
                detail.loc[rows] = f"rows {listed}"
        if len(prior):
            across = np.zeros(len(df), dtype=bool)
            across[np.flatnonzero(present)] = _pairs_in(*_halves(here[present], "k"), *_halves(prior, "k"))
            if across.any():
                self.spans_chunks = True  # reported exactly by the second pass
                dup |= across
        if dup.any():
            batch.flag(df, dup, column, reasons.DUPLICATE_KEY, detail=detail.to_numpy())

    def groups(self) -> dict[int, str]:
        """row → "rows a, b, …" for every row whose key another kept row of the file shares."""
        seen = self._prior()
        if seen.empty:
            return {}
        multi = seen[seen.duplicated(["k1", "k2"], keep=False)].sort_values("row")
        out: dict[int, str] = {}
        for _, rows in multi.groupby(["k1", "k2"], sort=False)["row"]:
            listed = f"rows {', '.join(str(r) for r in rows)}"
            for r in rows:
                out[int(r)] = listed
        return out


# After a bulk load the planner's statistics are stale until autovacuum gets to them
# (or never, where it is off): refresh them at once so the scans that follow plan well.
# Measured at scale M: the agreement-progress query took 56-73 s per partition before
# ANALYZE and 0.33 s after.
ANALYZE_AFTER_ROWS = 10_000
ANALYZE_TABLES = {
    "orders": ("procurement_orderline",),
    "deliveries": ("procurement_deliveryline",),
    "receipts": ("procurement_deliveryline",),
    "invoices": ("settlement_invoiceline",),
    "agreements": ("procurement_agreement",),
}


ANALYZE_AFTER_SHARE = 0.10


def _analyze(table: str, changed: int) -> None:
    """ANALYZE the table when the import changed ≥ 10,000 rows or ≥ 10 % of its rows as
    the planner last counted them (never analysed: always), so a small installation's
    first imports get statistics too. Sampling keeps it well under a second."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for db_table in ANALYZE_TABLES.get(table, ()):
            if changed < ANALYZE_AFTER_ROWS:
                cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [db_table])
                row = cursor.fetchone()
                known = row[0] if row else -1
                if known >= 0 and changed < known * ANALYZE_AFTER_SHARE:
                    continue
            cursor.execute(f"ANALYZE {connection.ops.quote_name(db_table)}")


def _recheck_survivors(loader, batch: ImportBatch) -> None:
    """Lenient: rows may lean on rows that were just refused (a region's parent, a red
    line's blue original); check the survivors again until nothing more falls out."""
    for _ in range(5):
        before = len(batch.log.bad_rows())
        survivors = batch.valid()
        sub = ImportBatch(
            table=batch.table,
            spec=batch.spec,
            typed=survivors,
            text=batch.text.loc[survivors.index],
            log=batch.log,
            user=batch.user,
            source=batch.source,
            context=batch.context,
        )
        _without_rows_refused_elsewhere(sub, batch)
        loader.check(sub)
        batch.plan = sub.plan
        if len(batch.log.bad_rows()) == before:
            return


def _without_rows_refused_elsewhere(sub: ImportBatch, batch: ImportBatch) -> None:
    # Hide refused rows from the loader's "same file" look-ups (e.g. regions defined in the file).
    sub.typed = sub.typed[~sub.typed.index.isin(batch.log.bad_rows())]


def _first_reason(report: ImportReport, *, all_rows: bool = False) -> str:
    if report.errors.empty:
        return ""
    first = report.errors.iloc[0]
    head = "所有行均被拒绝 / every row was rejected" if all_rows else f"{report.rejected} 行有误 / rows with errors"
    return f"{head}: row {first['row']} {first['column']} {first['reason']} ({report.error_count} errors)"[:500]


def _lock_table(table: str) -> None:
    """Imports of one table run one at a time (PostgreSQL advisory lock, released at commit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x1A2B, zlib.crc32(table.encode()) & 0x7FFFFFFF])


def _finish(report: ImportReport, path: Path, user, source: str, started: dt.datetime) -> None:
    report.report_path = _write_report(report, path)
    report.run_id = _record_run(report, user, source, started)


def report_path_for(path: Path) -> Path:
    return path.with_name(path.name + REPORT_SUFFIX)


def _write_report(report: ImportReport, path: Path) -> str:
    """``<file>.errors.csv`` beside the input, else under IMPORT_REPORT_DIR; "" when clean."""
    beside = report_path_for(path)
    if report.errors.empty:
        try:
            if beside.exists():
                beside.unlink()  # a report from an earlier run of this file would mislead
        except OSError:
            pass
        return ""
    columns = list(ErrorLog.COLUMNS)
    rows = report.errors[columns].itertuples(index=False, name=None)
    try:
        write_table(columns, rows, "csv", beside)
        return str(beside)
    except OSError:
        fallback_dir = Path(settings.IMPORT_REPORT_DIR)
        fallback_dir.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        target = fallback_dir / f"{path.name}.{stamp}{REPORT_SUFFIX}"
        rows = report.errors[columns].itertuples(index=False, name=None)
        write_table(columns, rows, "csv", target)
        return str(target)


def _record_run(report: ImportReport, user, source: str, started: dt.datetime) -> int | None:
    from interchange.models import ImportRun

    try:
        with transaction.atomic():
            run = ImportRun.objects.create(
                table=report.table,
                file_name=str(report.file)[:500],
                source=source[:200],
                user=user if user is not None and getattr(user, "pk", None) else None,
                lenient=report.lenient,
                status=report.status,
                reason=report.reason[:500],
                started_at=started,
                read=report.read,
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
                rejected=report.rejected,
                report_path=report.report_path[:1000],
                warnings=report.warnings,
            )
    except DatabaseError:  # the ImportRun table is not migrated yet: the import itself stands
        log.warning("import run of %s not recorded (interchange_importrun missing?)", report.file)
        return None
    return run.pk
