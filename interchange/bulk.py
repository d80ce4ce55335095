"""Set-based database access for imports: staging tables, keyed fetches, COPY writes.

PostgreSQL: rows travel by ``COPY`` (psycopg2 ``copy_expert``) into ``TEMP`` tables and
are written with one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (or ``UPDATE … FROM``).
SQLite (the embedded default): ``executemany`` into temp tables for look-ups and
``bulk_create`` / ``bulk_update`` in batches for writes. Everything runs inside the
caller's transaction.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import threading
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from django.db import connection, models

BATCH_SIZE = 2000
_STR = np.dtypes.StringDType()
_counter = itertools.count(1)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def replan_deferred_checks() -> None:
    """PostgreSQL: forget this session's cached plans (``DISCARD PLANS``), so the foreign-key
    checks deferred to COMMIT are planned for the tables as they are now.

    A key check (``SELECT 1 FROM parent WHERE id = $1 FOR KEY SHARE``) is planned once per
    session and kept. If that happened while the parent table was nearly empty (a worker's
    first, small partition), the kept plan is a sequential scan, and every later check scans
    the whole parent: after a scan of small partitions, one L partition's alerts took over
    8 minutes to COMMIT instead of seconds (30,000 checks: 14 s instead of 0.09 s in a bare
    reproduction). Call it after writing many rows that reference a table which grew a lot in
    this session. Cheap: no lock; Django sends no prepared statements, so nothing else is lost."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("DISCARD PLANS")


def _temp_name(stem: str) -> str:
    return f"_imp_{stem}_{next(_counter)}"


_SPECIAL = (",", '"', "\n", "\r")
_SPECIAL_RE = re.compile('[,"\n\r]')


def _csv_cells(s: pd.Series) -> list[str]:
    """One column as CSV cells (Python ``str``): NA → empty, quoted only where needed."""
    na = s.isna().to_numpy()
    if isinstance(s.dtype, pd.Int64Dtype):
        cells = list(map(str, s.fillna(0).to_numpy(dtype=np.int64).tolist()))
        for i in np.flatnonzero(na).tolist():
            cells[i] = ""
        return cells
    values = s.to_numpy(dtype=object)
    if na.any():
        values = np.where(na, "", values)
    if values.dtype != object:
        values = values.astype(str).astype(object)
    elif len(values) and pd.api.types.infer_dtype(values, skipna=False) != "string":
        values = values.astype(_STR).astype(object)  # ints, Decimals …: their str(), as StringDType makes it
    joined = "".join(values)
    if any(c in joined for c in _SPECIAL):
        special = _SPECIAL_RE.search
        return [_quoted(v) if special(v) else v for v in values]
    return values.tolist()


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def _csv_text(frame: pd.DataFrame) -> io.StringIO:
    """``frame`` as headerless CSV for COPY: each column made into cells at once, the lines
    joined in one pass (``str.join`` runs in C; no copy of every line per column)."""
    if frame.empty:
        return io.StringIO("")
    columns = [_csv_cells(frame[col]) for col in frame.columns]
    lines = columns[0] if len(columns) == 1 else map(",".join, zip(*columns, strict=True))
    return io.StringIO("\n".join(lines) + "\n")


def stage(frame: pd.DataFrame, types: dict[str, str], *, stem: str = "keys") -> str:
    """A TEMP table holding ``frame``'s columns (SQL ``types``: text/bigint/…); returns its name.

    Text cells are stored as given (``""`` stays empty, not NULL); Int64 NA becomes NULL.
    """
    name = _temp_name(stem)
    cols = list(types)
    ddl = ", ".join(f"{c} {t}" for c, t in types.items())
    with connection.cursor() as cur:
        if is_postgres():
            cur.execute(f"CREATE TEMP TABLE {name} ({ddl}) ON COMMIT DROP")
            text_cols = [c for c, t in types.items() if t == "text"]
            force = f", FORCE_NOT_NULL ({', '.join(text_cols)})" if text_cols else ""
            cur.copy_expert(
                f"COPY {name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv{force})", _csv_text(frame[cols])
            )
        else:
            cur.execute(f"CREATE TEMP TABLE {name} ({ddl})")
            placeholders = ", ".join(["%s"] * len(cols))
            cur.executemany(
                f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({placeholders})", _python_rows(frame[cols])
            )
    return name


def drop(name: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")


def _python_rows(frame: pd.DataFrame) -> Iterable[tuple]:
    arrays = []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.Int64Dtype):
            arr = s.astype(object).where(s.notna(), None).to_numpy(dtype=object)
            arr = np.array([None if v is None else int(v) for v in arr], dtype=object)
        else:
            arr = s.to_numpy(dtype=object)
        arrays.append(arr)
    return zip(*arrays, strict=True)


def query_frame(sql: str, params: Sequence | None = None) -> pd.DataFrame:
    """Rows of ``sql`` as an object frame (PostgreSQL through COPY TO, as text)."""
    with connection.cursor() as cur:
        if is_postgres():
            buf = io.StringIO()
            inner = cur.mogrify(sql, params).decode() if params else sql
            cur.copy_expert(f"COPY ({inner}) TO STDOUT WITH (FORMAT csv, HEADER)", buf)
            buf.seek(0)
            if not buf.getvalue().strip():
                return pd.DataFrame()
            return pd.read_csv(buf, dtype=object, keep_default_na=False, na_filter=False)
        cur.execute(sql, params or ())
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=names, coerce_float=False).astype(object)


def fetch_by_keys(keys: pd.DataFrame, types: dict[str, str], sql: str) -> pd.DataFrame:
    """Stage ``keys`` and run ``sql`` with ``{keys}`` standing for the staged table."""
    name = stage(keys.drop_duplicates(), types)
    try:
        return query_frame(sql.replace("{keys}", name))
    finally:
        drop(name)


# -- writes -------------------------------------------------------------------------


def copy_insert(
    model: type[models.Model],
    frame: pd.DataFrame | None,
    *,
    text_columns: Iterable[str] = (),
    order_by: Sequence[str] = (),
    staged: str | None = None,
    columns: Sequence[str] = (),
) -> int:
    """PostgreSQL: COPY ``frame`` (columns = db columns, values as text) into a staging
    table shaped like the model's table, then one INSERT … ON CONFLICT DO NOTHING.

    ``staged``: the rows (``columns``) are already in that TEMP table (``Sink``); no COPY.
    ``order_by``: insert in natural-key order, so the unique index is filled left to right.
    """
    if staged is None and (frame is None or frame.empty):
        return 0
    cols = list(columns) if staged is not None else list(frame.columns)
    table = model._meta.db_table
    col_list = ", ".join(cols)
    with connection.cursor() as cur:
        name = staged or _copy_to_temp(cur, frame, table, cols, text_columns, "stg")
        order = f" ORDER BY {', '.join(order_by)}" if order_by else ""
        cur.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {name}{order} ON CONFLICT DO NOTHING")
        inserted = cur.rowcount
        cur.execute(f"DROP TABLE {name}")
    return inserted


def _copy_to_temp(cur, frame: pd.DataFrame, table: str, cols: list[str], text_columns: Iterable[str], kind: str) -> str:
    """COPY ``frame`` into a new TEMP table shaped like ``table``'s ``cols``; its name."""
    name = _temp_name(kind)
    col_list = ", ".join(cols)
    force = [c for c in text_columns if c in cols]
    force_sql = f", FORCE_NOT_NULL ({', '.join(force)})" if force else ""
    cur.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {col_list} FROM {table} WITH NO DATA")
    cur.copy_expert(f"COPY {name} ({col_list}) FROM STDIN WITH (FORMAT csv{force_sql})", _csv_text(frame))
    return name


def copy_update(
    model: type[models.Model],
    frame: pd.DataFrame | None,
    *,
    key: str,
    where: str = "",
    text_columns: Iterable[str] = (),
    staged: str | None = None,
    columns: Sequence[str] = (),
) -> int:
    """PostgreSQL: COPY then one ``UPDATE table SET … FROM staging WHERE table.key = staging.key``
    (``staged``: the rows are already in that TEMP table, see ``copy_insert``)."""
    if staged is None and (frame is None or frame.empty):
        return 0
    cols = list(columns) if staged is not None else list(frame.columns)
    table = model._meta.db_table
    sets = ", ".join(f"{c} = s.{c}" for c in cols if c != key)
    extra = f" AND {where}" if where else ""
    with connection.cursor() as cur:
        name = staged or _copy_to_temp(cur, frame, table, cols, text_columns, "upd")
        cur.execute(f"UPDATE {table} t SET {sets} FROM {name} s WHERE t.{key} = s.{key}{extra}")
        updated = cur.rowcount
        cur.execute(f"DROP TABLE {name}")
    return updated


def bulk_create_frame(model: type[models.Model], frame: pd.DataFrame, convert: dict | None = None) -> int:
    """SQLite (and small tables): ``bulk_create`` in batches of ``BATCH_SIZE``.

    ``frame`` columns are model attribute names (``hospital_id`` …) holding Python values
    (``convert`` maps a column to a function applied to its Series first).
    """
    if frame.empty:
        return 0
    frame = frame.copy()
    for col, func in (convert or {}).items():
        frame[col] = func(frame[col])
    cols = list(frame.columns)
    total = 0
    for start in range(0, len(frame), BATCH_SIZE * 5):
        chunk = frame.iloc[start : start + BATCH_SIZE * 5]
        objs = [model(**dict(zip(cols, row, strict=True))) for row in _python_rows(chunk)]
        model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
        total += len(objs)
    return total


def bulk_update_frame(
    model: type[models.Model], frame: pd.DataFrame, fields: list[str], convert: dict | None = None
) -> int:
    """``bulk_update`` of existing rows: ``frame`` has ``pk`` (or ``id``) plus ``fields``."""
    if frame.empty:
        return 0
    frame = frame.copy()
    for col, func in (convert or {}).items():
        frame[col] = func(frame[col])
    cols = list(frame.columns)
    total = 0
    for start in range(0, len(frame), BATCH_SIZE * 5):
        chunk = frame.iloc[start : start + BATCH_SIZE * 5]
        objs = [model(**dict(zip(cols, row, strict=True))) for row in _python_rows(chunk)]
        model.objects.bulk_update(objs, fields, batch_size=BATCH_SIZE)
        total += len(objs)
    return total


# -- value conversions for the ORM path -------------------------------------------------


def decimals(scale: int):
    """Int64 units → Decimal (exact) for bulk_create."""
    from decimal import Decimal

    def conv(s: pd.Series) -> pd.Series:
        return pd.Series(
            [None if v is pd.NA or v is None else Decimal(int(v)).scaleb(-scale) for v in s.astype(object)],
            index=s.index,
            dtype=object,
        )

    return conv


def aware_datetimes(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else v.to_pydatetime() for v in s], index=s.index, dtype=object)


def dates(s: pd.Series) -> pd.Series:
    import datetime as dt

    return pd.Series([dt.date.fromisoformat(v) if v else None for v in s], index=s.index, dtype=object)


def copy_text(frame: pd.DataFrame, kinds: dict[str, str | int]) -> pd.DataFrame:
    """Columns made ready for COPY: units (int scale in ``kinds``) → decimal text;
    timestamps → ISO text; the rest as is."""
    from interchange.parsing import units_text

    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        kind = kinds.get(col)
        s = frame[col]
        if isinstance(kind, int):
            out[col] = units_text(s, kind)
        elif kind == "timestamp":
            out[col] = timestamp_text(s)
        else:
            out[col] = s
    return out


def timestamp_text(s: pd.Series) -> pd.Series:
    """``datetime64[…, UTC]`` → ``2026-09-01T01:00:00.000000Z`` (C speed); ``""`` for NaT."""
    naive = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    txt = np.strings.add(np.datetime_as_string(naive, unit="us").astype(np.dtypes.StringDType()), "Z").astype(object)
    txt[pd.isna(s).to_numpy()] = ""
    return pd.Series(txt, index=s.index)


def _text_columns(frame: pd.DataFrame, kinds: dict) -> list[str]:
    """Columns whose blank cells are empty strings (COPY FORCE_NOT_NULL), not NULLs."""
    return [
        c
        for c in frame.columns
        if c not in kinds and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c].dtype))
    ]


def _orm_converters(kinds: dict[str, str | int]) -> dict:
    conv = {}
    for col, kind in kinds.items():
        if isinstance(kind, int):
            conv[col] = decimals(kind)
        elif kind == "timestamp":
            conv[col] = aware_datetimes
        elif kind == "date":
            conv[col] = dates
    return conv


def insert_rows(
    model: type[models.Model], frame: pd.DataFrame, kinds: dict[str, str | int], *, order_by: Sequence[str] = ()
) -> int:
    """Insert new rows: ``frame`` columns are the model's column names (``hospital_id`` …).

    ``kinds``: column → scale (int, for Int64 money units), "timestamp" or "date"; other
    columns are text/ints as they are. PostgreSQL: COPY + INSERT … ON CONFLICT DO NOTHING;
    SQLite: bulk_create in batches.
    """
    if frame.empty:
        return 0
    sink = _active_sink()
    if sink is not None:
        return sink.insert(model, frame, kinds, order_by=order_by)
    if is_postgres():
        text_cols = _text_columns(frame, kinds)
        return copy_insert(model, copy_text(frame, kinds), text_columns=text_cols, order_by=order_by)
    return bulk_create_frame(model, frame, _orm_converters(kinds))


def update_rows(model: type[models.Model], frame: pd.DataFrame, kinds: dict[str, str | int], *, where: str = "") -> int:
    """Update existing rows by ``id``: ``frame`` has ``id`` and the columns to set.

    ``where`` (PostgreSQL only) guards the UPDATE, e.g. ``t.received_at IS NULL``.
    """
    if frame.empty:
        return 0
    sink = _active_sink()
    if sink is not None:
        return sink.update(model, frame, kinds, where=where)
    if is_postgres():
        text_cols = _text_columns(frame, kinds)
        return copy_update(model, copy_text(frame, kinds), key="id", where=where, text_columns=text_cols)
    if connection.vendor == "sqlite" and _sqlite_has_update_from():
        return _sqlite_update(model, frame, kinds, where=where)
    fields = [model._meta.get_field(c).name for c in frame.columns if c != "id"]
    return bulk_update_frame(model, frame, fields, _orm_converters(kinds))


def _sqlite_has_update_from() -> bool:
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 33, 0)


def sqlite_timestamp_text(s: pd.Series) -> pd.Series:
    """UTC timestamps as Django stores them in SQLite: ``str(naive_utc_datetime)``."""
    naive = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    seconds = np.strings.replace(np.datetime_as_string(naive.astype("datetime64[s]"), unit="s").astype(_STR), "T", " ")
    micro = (naive.astype(np.int64) % 1_000_000).astype(np.int64)
    frac = np.strings.add(".", np.strings.zfill(micro.astype(str).astype(_STR), 6))
    text = np.where(micro != 0, np.strings.add(seconds, frac), seconds).astype(object)
    text[pd.isna(s).to_numpy()] = None
    return pd.Series(text, index=s.index)


def _sqlite_update(model: type[models.Model], frame: pd.DataFrame, kinds: dict, *, where: str = "") -> int:
    """SQLite ≥ 3.33: stage the rows, then one ``UPDATE … FROM`` (values in Django's storage form)."""
    table = model._meta.db_table
    staged = pd.DataFrame(index=frame.index)
    types = {}
    for col in frame.columns:
        kind = kinds.get(col)
        s = frame[col]
        if isinstance(kind, int):
            staged[col] = units_text_or_none(s, kind)
            types[col] = "text"
        elif kind == "timestamp":
            staged[col] = sqlite_timestamp_text(s)
            types[col] = "text"
        elif isinstance(s.dtype, pd.Int64Dtype):
            staged[col] = s
            types[col] = "bigint"
        else:
            staged[col] = s.astype(object).where(s.notna(), None)
            types[col] = "text"
    name = stage(staged, types, stem="upd")
    sets = ", ".join(f"{c} = s.{c}" for c in frame.columns if c != "id")
    guard = f" AND {where.replace('t.', table + '.')}" if where else ""
    try:
        with connection.cursor() as cur:
            cur.execute(f"UPDATE {table} SET {sets} FROM {name} s WHERE {table}.id = s.id{guard}")
            return cur.rowcount
    finally:
        drop(name)


def units_text_or_none(s: pd.Series, scale: int) -> pd.Series:
    from interchange.parsing import units_text

    text = units_text(s, scale)
    return text.where(s.notna().to_numpy(), None)


# -- collecting the writes of a file read in chunks --------------------------------------

_local = threading.local()


def _active_sink() -> Sink | None:
    return getattr(_local, "sink", None)


@contextlib.contextmanager
def collecting():
    """Inside the block ``insert_rows`` / ``update_rows`` stage their rows instead of
    writing them; ``sink.flush()`` then writes everything staged with one statement per
    target (PostgreSQL: the chunks are COPYed into one TEMP table each, so memory stays
    at one chunk), ``sink.discard()`` drops it. The database tables are untouched until
    ``flush``, so every chunk is checked against the same state as the first."""
    sink = Sink()
    previous = _active_sink()
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous


class Sink:
    def __init__(self) -> None:
        self._ops: dict[tuple, dict] = {}  # (kind, model, columns, where/order) → staged op

    def _op(self, kind: str, model, frame: pd.DataFrame, kinds: dict, extra) -> dict:
        key = (kind, model, tuple(frame.columns), extra)
        op = self._ops.get(key)
        if op is None:
            op = {"kind": kind, "model": model, "kinds": kinds, "extra": extra, "frames": [], "table": None, "rows": 0}
            if is_postgres():
                cols = list(frame.columns)
                op["table"] = _temp_name("sink")
                op["text_columns"] = _text_columns(frame, kinds)
                with connection.cursor() as cur:
                    cur.execute(
                        f"CREATE TEMP TABLE {op['table']} ON COMMIT DROP AS "
                        f"SELECT {', '.join(cols)} FROM {model._meta.db_table} WITH NO DATA"
                    )
            self._ops[key] = op
        return op

    def _stage(self, op: dict, frame: pd.DataFrame) -> int:
        op["rows"] += len(frame)
        if op["table"] is None:
            op["frames"].append(frame)
            return len(frame)
        cols = list(frame.columns)
        force = [c for c in op["text_columns"] if c in cols]
        force_sql = f", FORCE_NOT_NULL ({', '.join(force)})" if force else ""
        with connection.cursor() as cur:
            cur.copy_expert(
                f"COPY {op['table']} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv{force_sql})",
                _csv_text(copy_text(frame, op["kinds"])),
            )
        return len(frame)

    def insert(self, model, frame: pd.DataFrame, kinds: dict, *, order_by: Sequence[str] = ()) -> int:
        return self._stage(self._op("insert", model, frame, kinds, tuple(order_by)), frame)

    def update(self, model, frame: pd.DataFrame, kinds: dict, *, where: str = "") -> int:
        return self._stage(self._op("update", model, frame, kinds, where), frame)

    @property
    def staged(self) -> int:
        return sum(op["rows"] for op in self._ops.values())

    def flush(self) -> tuple[int, int]:
        """Write what was staged; (rows inserted, rows updated)."""
        inserted = updated = 0
        previous = _active_sink()
        _local.sink = None
        try:
            for (kind, model, cols, extra), op in self._ops.items():
                if op["table"] is None:
                    frames = [f for f in op["frames"] if not f.empty]
                    if not frames:
                        continue
                    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
                    if kind == "insert":
                        inserted += insert_rows(model, frame, op["kinds"], order_by=extra)
                    else:
                        updated += update_rows(model, frame, op["kinds"], where=extra)
                    continue
                staged, op["table"] = op["table"], None  # dropped by the write
                with bulk_load(model, op["rows"], foreign_keys=kind == "insert"):
                    if kind == "insert":
                        inserted += copy_insert(model, None, staged=staged, columns=cols, order_by=extra)
                    else:
                        updated += copy_update(model, None, key="id", where=extra, staged=staged, columns=cols)
        finally:
            _local.sink = previous
            self.discard()
        return inserted, updated

    def discard(self) -> None:
        for op in self._ops.values():
            if op["table"] is not None:
                drop(op["table"])
        self._ops = {}


# -- bulk-load mode (PostgreSQL) -----------------------------------------------------------
#
# A set-based INSERT (or the receipts' UPDATE of every delivery line, which cannot be HOT
# on full pages) spends most of its time maintaining the table's secondary indexes, one
# random insertion per row and index. When one write adds about as many rows as the table
# already holds (the first load, a large monthly file), the non-unique secondary indexes
# are dropped before the write and built again after it by sorting (same definitions, as
# read back from pg_index, so nothing drifts from the models), all inside the file's
# transaction: a failure rolls the DROP back with the rows.
#
# Locking: DROP INDEX takes an ACCESS EXCLUSIVE lock on the table until COMMIT, so readers
# of that table wait for the rest of the import (the small-load path keeps today's ROW
# EXCLUSIVE lock). When the lock is not granted within BULK_LOCK_TIMEOUT, or the table has
# pending trigger events in this transaction, the write falls back to the ordinary path.
# Unique indexes (primary key, natural key: ON CONFLICT needs it) stay.

BULK_LOAD_MIN_ROWS = 50_000  # below this the ordinary path is cheap enough
BULK_LOAD_RATIO = 0.5  # staged rows / rows already in the table
BULK_MAINTENANCE_WORK_MEM = "512MB"
BULK_LOCK_TIMEOUT = "5s"
# Also drop the foreign keys and add them back with one set-based validation each. This takes
# an ACCESS EXCLUSIVE lock on the referenced tables too (hospitals, enterprises, products …).
BULK_LOAD_FKS = True
BULK_LOAD_INDEXES = True


def _secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX …) of ``table``'s valid, non-unique indexes that back no constraint."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary "
            "AND x.indisvalid AND x.indisready AND NOT x.indisexclusion "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
            "ORDER BY c.relname",
            [table],
        )
        return list(cur.fetchall())


def _existing_rows(table: str, limit: int) -> int:
    """Rows in ``table``, counted up to ``limit`` (enough to decide, bounded cost)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT %s) s", [limit])
        return int(cur.fetchone()[0])


def wants_bulk_load(model: type[models.Model], rows: int) -> bool:
    """Large enough against what the table holds to rebuild its indexes instead of maintaining them."""
    if not is_postgres() or rows < BULK_LOAD_MIN_ROWS:
        return False
    cap = int(rows / BULK_LOAD_RATIO)
    return _existing_rows(model._meta.db_table, cap + 1) <= cap


def _foreign_keys(table: str) -> list[tuple[str, str, bool]]:
    """(name, definition, initially deferred) of ``table``'s foreign keys."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid), condeferrable AND condeferred FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' AND convalidated ORDER BY conname",
            [table],
        )
        return list(cur.fetchall())


@contextlib.contextmanager
def bulk_load(model: type[models.Model], rows: int, *, foreign_keys: bool = True):
    """Around one large write: drop the non-unique secondary indexes (and, with
    ``foreign_keys`` and ``BULK_LOAD_FKS``, the foreign keys), rebuild them afterwards (see
    above). Yields whether it did; a no-op for small writes and on SQLite.

    The receipts' UPDATE passes ``foreign_keys=False``: PostgreSQL skips the check of a
    foreign key whose columns keep their value, and dropping ``received_by`` would lock the
    users table for the whole load."""
    if not wants_bulk_load(model, rows):
        yield False
        return
    from django.db import DatabaseError, transaction

    table = model._meta.db_table
    qn = connection.ops.quote_name
    with transaction.atomic():  # a savepoint: an error inside undoes the DROPs with the rows
        indexes = _secondary_indexes(table) if BULK_LOAD_INDEXES else []
        fks = _foreign_keys(table)
        dropped_fks = fks if BULK_LOAD_FKS and foreign_keys else []
        if not indexes and not dropped_fks:
            yield False
            return
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT current_setting('lock_timeout')")
                previous = cur.fetchone()[0]
                cur.execute("SELECT set_config('lock_timeout', %s, true)", [BULK_LOCK_TIMEOUT])
                cur.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")
                for name, _ in indexes:
                    cur.execute(f"DROP INDEX {qn(name)}")
                for name, _, _ in dropped_fks:
                    cur.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
                cur.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        except DatabaseError as exc:
            # 55P03 lock not granted in time, 55006 pending trigger events: the ordinary path.
            cause = exc.__cause__
            if (getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)) not in ("55P03", "55006"):
                raise
            yield False
            return
        yield True
        with connection.cursor() as cur:
            # The write queued its (deferred) foreign-key checks; CREATE INDEX refuses a table
            # with pending trigger events, so run them now rather than at COMMIT.
            kept = [qn(name) for name, _, deferred in fks if deferred and not dropped_fks]
            if kept:
                cur.execute(f"SET CONSTRAINTS {', '.join(kept)} IMMEDIATE")
            cur.execute("SELECT current_setting('maintenance_work_mem')")
            previous = cur.fetchone()[0]
            cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", [BULK_MAINTENANCE_WORK_MEM])
            for _, ddl in indexes:
                cur.execute(ddl)
            cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", [previous])
            if kept:
                cur.execute(f"SET CONSTRAINTS {', '.join(kept)} DEFERRED")
            # One set-based check per foreign key (an anti-join) instead of a probe per row.
            for name, definition, _ in dropped_fks:
                cur.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition} NOT VALID")
                cur.execute(f"ALTER TABLE {qn(table)} VALIDATE CONSTRAINT {qn(name)}")
