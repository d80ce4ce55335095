"""对账: check every blue invoice line against its delivery line, receipt, order line and
award (DOMAIN.md "Matching rules and exception codes").

One pass per partition, set-based: the lines are read with one SQL statement (joined to
their delivery and order lines by natural key), the codes are computed with pandas in
integer money units (fen for amounts, 1/10000 yuan for unit prices), and only the rows
whose result changed are written back, with one ``UPDATE … FROM`` a temp table (filled
by ``COPY`` on PostgreSQL, ``executemany`` on SQLite: settlement.services.bulk_writes).

Partition = (region prefix of the *invoice's* hospital, month). A month's partition
starts from the invoice lines issued in that month and the delivery lines delivered or
accepted in it (so the signals of the invoice, delivery and receipt imports, which name
the month of their own document dates, each reach the lines they affect), then widens to
every invoice line of the same delivery lines: the running sum of QTY_EXCEEDS_ACCEPTED
and the red-line netting both live within one delivery line, whatever the months. A
region's partition of every month starts from its invoice lines alone: they are all of
its lines, and an invoice line of another region on one of its orders is in its own
region's partition.

A pass may hold the partitions of several regions (``region_prefix`` a list): a whole
reconcile packs them into even passes of at most ``RECONCILE_PASS_LINES`` lines
(``reconcile_passes``), because a region's lines lie all over the line tables and each
pass's load reads them whole; the result is the same line by line, only the order in which
new statements are numbered follows the passes.

Red lines: a red line reverses the blue line of its ``original_invoice_code`` /
``original_invoice_no`` with the same seller and delivery line (the lowest line_no when
the blue invoice has several). ``reverses`` points at it, ``net_qty``/``net_amount``
equal its own qty/amount, and its status is
  - ``reversed``: netted into its blue line (the blue line's net_qty/net_amount include it);
  - ``matched``: its blue line was already in an approved batch when it arrived, so it
    stands alone as a negative line for a later batch (and a statement);
  - ``exception`` with ``NO_ORIGINAL``: no such blue line (yet).

``matched_at`` is when matching last changed the line's result.

Statements in the same pass (``build_statements=True``, what ``manage.py reconcile`` and the
``match_partition`` task use): the newly matched lines get their statement
(settlement.services.statements) from the same frame and are written by the same UPDATE —
one new row version per line instead of two (the match result, then ``statement_id``),
with exactly the statements, numbers and events of matching followed by ``statements_build``.
Lines in an approved batch (``settlement.selectors.lines.frozen_batch_lines``) are never
written; their stored net quantities still count in the running sums.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from interchange.money import from_fen, price_to_units
from parties.identifiers import region_prefix as to_prefix
from parties.policy import policy_value
from procurement.models import Award, DeliveryLine, OrderLine
from settlement.models import ExceptionCode, InvoiceLine, MatchStatus, Statement, StatementStatus
from settlement.selectors.lines import batches_module, frozen_batch_lines, frozen_batch_statuses, period_bounds
from settlement.services.bulk_writes import rows_update, sqlite_has_update_from

if TYPE_CHECKING:
    from settlement.services.statements import BuildResult

logger = logging.getLogger(__name__)

# A red line whose original blue line is unknown. Red lines only (never on payables rows).
NO_ORIGINAL = "NO_ORIGINAL"
CODE_SEPARATOR = ";"
SQLITE_BATCH_SIZE = 100  # bulk_update fallback only: its CASE per field grows with the batch
IDS_CHUNK = 5000
FETCH_IDS = 100  # up to this many ids, the load is fetched row by row (COPY's parse costs ~20 ms a call)
LOAD_WORK_MEM = "256MB"  # PostgreSQL, for the load statement's transaction (SET LOCAL)
# Invoice lines per pass of a whole reconcile (reconcile_passes); settings.RECONCILE_PASS_LINES overrides.
PASS_LINES = 500_000

# The order codes are joined in: sorted, as the spec asks.
_CODES = sorted(ExceptionCode.values)
_NA_INT = -(2**62)  # sentinel to compare nullable integer columns


@dataclass
class MatchResult:
    """What one run saw and did."""

    lines_checked: int = 0  # invoice lines (blue and red) in the working set
    lines_changed: int = 0  # rows written
    frozen: int = 0  # lines left alone: in an approved batch
    by_status: dict[str, int] = field(default_factory=dict)  # blue lines per status after the run
    by_code: dict[str, int] = field(default_factory=dict)  # blue lines carrying each code
    seconds: float = 0.0
    # With build_statements: lines gathered into statements in the same pass, statements created.
    statement_lines_added: int = 0
    statements_created: list[str] = field(default_factory=list)

    def __add__(self, other: MatchResult) -> MatchResult:
        def merged(a: dict, b: dict) -> dict:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}

        return MatchResult(
            lines_checked=self.lines_checked + other.lines_checked,
            lines_changed=self.lines_changed + other.lines_changed,
            frozen=self.frozen + other.frozen,
            by_status=merged(self.by_status, other.by_status),
            by_code=merged(self.by_code, other.by_code),
            seconds=self.seconds + other.seconds,
            statement_lines_added=self.statement_lines_added + other.statement_lines_added,
            statements_created=self.statements_created + other.statements_created,
        )


# --- loading -------------------------------------------------------------------------

_COLUMNS = [
    "id",
    "kind",
    "invoice_code",
    "invoice_no",
    "line_no",
    "original_invoice_code",
    "original_invoice_no",
    "distributor_id",
    "hospital_id",
    "delivery_no",
    "delivery_line_no",
    "delivery_line_id",
    "qty",
    "price_u",
    "amount_f",
    "issued_at",
    "reverses_id",
    "net_qty",
    "net_amount_f",
    "match_status",
    "exception_codes",
    "statement_id",
    "disputed",
    "inv_region",
    "st_status",
    "dl_id",
    "accepted_qty",
    "received",
    "ol_price_u",
    "ol_distributor_id",
    "ol_hospital_id",
    "product_id",
    "order_date",
    "ord_region",
    "frozen",
    "accepted_date",
    "accepted_on",
]


def _tables() -> dict[str, str]:
    from parties.models import Hospital

    return {
        "il": InvoiceLine._meta.db_table,
        "dl": DeliveryLine._meta.db_table,
        "ol": OrderLine._meta.db_table,
        "h": Hospital._meta.db_table,
        "st": Statement._meta.db_table,
    }


_ALIASES = ("il", "o")  # the invoice-line aliases of the load and seed queries


def _frozen_exists(alias: str) -> tuple[str, list] | None:
    """``EXISTS (…)``: the invoice line ``alias`` is in an approved batch. A correlated probe
    per line (the one-live-batch index): with every line of a province approved, the set of
    all frozen lines built per partition took ~14 s at L, the probes ~0.5 s. None when no
    line can be frozen (no batches module, no frozen status)."""
    if alias not in _ALIASES:
        raise ValueError(f"not an invoice-line alias of the load: {alias!r}")
    lines = frozen_batch_lines(RawSQL(f"{alias}.id", (), output_field=BigIntegerField()))  # noqa: S611 — a fixed alias
    if lines is None:
        return None
    try:
        sql, params = lines.values("pk").query.sql_with_params()
    except EmptyResultSet:  # no frozen status at all
        return None
    return f"EXISTS ({sql})", list(params)


def _frozen_sql() -> tuple[str, list]:
    """SQL for the load's ``frozen`` column: 1 when the loaded line ``il`` is in an approved batch."""
    exists = _frozen_exists("il")
    if exists is None:
        return "0", []
    return f"CASE WHEN {exists[0]} THEN 1 ELSE 0 END", exists[1]


def _any_frozen() -> bool:
    """Is any batch approved (or paid)? Until one is, no line is frozen and the seed needs no filter."""
    batches = batches_module()
    if batches is None:
        return False
    return batches.SettlementBatch.objects.filter(status__in=frozen_batch_statuses()).exists()


def _seed_sql(
    prefixes: tuple[str, ...] | None, period: str | None, ids: list[int] | None, of: str = "il"
) -> tuple[str, list]:
    """SQL for the (delivery_no, delivery_line_no) keys the partition starts from; "" = every line.
    ``ids``: those of invoice lines (``of="il"``) or of delivery lines (``of="dl"``) instead.

    A delivery line whose every invoice line is in an approved batch is left out: nothing
    of it can be written (frozen lines keep their results), so a reconcile after a batch's
    approval reads only the delivery lines with an open invoice line (with all their invoice
    lines, frozen ones too, for the running sums), not the province's history."""
    t = _tables()
    if ids is not None:
        marks = ", ".join(["%s"] * len(ids))
        if of == "dl":
            return f"SELECT delivery_no, line_no AS delivery_line_no FROM {t['dl']} WHERE id IN ({marks})", list(ids)
        return f"SELECT DISTINCT delivery_no, delivery_line_no FROM {t['il']} WHERE id IN ({marks})", list(ids)
    frozen = _frozen_exists("o") if _any_frozen() else None
    if prefixes is None and period is None:
        if frozen is None:
            return "", []
        return f"SELECT DISTINCT o.delivery_no, o.delivery_line_no FROM {t['il']} o WHERE NOT {frozen[0]}", frozen[1]
    # The open invoice lines (in no approved batch), found once for both halves of the seed:
    # one anti-join of the line table with the frozen lines (1.7 s at L with the province's
    # 2.76M lines approved; two of them took 3.6 s a pass).
    lines, with_open, open_params = t["il"], "", []
    if frozen is not None:
        materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
        with_open = (
            f"WITH open_lines AS {materialized}(SELECT o.delivery_no, o.delivery_line_no, o.hospital_id, o.issued_at "
            f"FROM {t['il']} o WHERE NOT {frozen[0]}) "
        )
        lines, open_params = "open_lines", frozen[1]
    region_where, region_params = [], []
    if prefixes is not None:
        region_where = ["(" + " OR ".join(["h.region_id LIKE %s"] * len(prefixes)) + ")"]
        region_params = [f"{p}%" for p in prefixes]
    invoices = f"s.delivery_no, s.delivery_line_no FROM {lines} s JOIN {t['h']} h ON h.code = s.hospital_id "
    if period is None:  # then prefixes is not None (every line of every region returned above)
        # Every month of the regions: every invoice line of theirs is in the seed's invoice half,
        # so the delivery half (the delivery lines of the regions' orders) would add only other
        # regions' invoice lines — matched in their own region's pass — at the cost of two more
        # scans of the order and delivery line tables in every pass of a whole reconcile.
        sql = f"{with_open}SELECT DISTINCT {invoices}WHERE {' AND '.join(region_where)}"
        return sql, open_params + region_params
    start, end = period_bounds(period)
    inv_where = [*region_where, "s.issued_at >= %s AND s.issued_at < %s"]
    inv_params = [*region_params, start, end]
    dl_where = [
        *region_where,
        "((d.delivery_date >= %s AND d.delivery_date < %s) OR (d.accepted_date >= %s AND d.accepted_date < %s))",
    ]
    dl_params = [*region_params, start, end, start, end]
    if frozen is not None:
        dl_where.append(
            "EXISTS (SELECT 1 FROM open_lines x WHERE x.delivery_no = d.delivery_no AND x.delivery_line_no = d.line_no)"
        )
    sql = (
        f"{with_open}SELECT {invoices}WHERE {' AND '.join(inv_where)} "
        f"UNION SELECT d.delivery_no, d.line_no FROM {t['dl']} d JOIN {t['ol']} o ON o.id = d.order_line_id "
        f"JOIN {t['h']} h ON h.code = o.hospital_id WHERE {' AND '.join(dl_where)}"
    )
    return sql, open_params + inv_params + dl_params


# Column types of the frame _load returns (the rest are text, None when NULL).
_INT_COLUMNS = (
    "id",
    "line_no",
    "delivery_line_no",
    "delivery_line_id",
    "qty",
    "price_u",
    "amount_f",
    "reverses_id",
    "net_qty",
    "net_amount_f",
    "statement_id",
    "disputed",
    "dl_id",
    "accepted_qty",
    "received",
    "ol_price_u",
    "frozen",
)
_DATE_COLUMNS = ("issued_at", "order_date")  # datetime64; accepted_date stays as the text/date it came as
_COPY_NULL = r"\N"  # NULL in the COPY text, so an empty string stays "" (exception_codes, invoice_code)


def _load(
    prefixes: tuple[str, ...] | None, period: str | None, ids: list[int] | None, of: str = "il"
) -> pd.DataFrame:
    """The lines of the partition, locked (``FOR UPDATE OF il``), with their delivery and
    order lines, in pk order: one row per invoice line, columns ``_COLUMNS``."""
    t = _tables()
    frozen_sql, frozen_params = _frozen_sql()
    seed_sql, seed_params = _seed_sql(prefixes, period, ids, of)
    seed_join = (
        f"JOIN ({seed_sql}) seed ON seed.delivery_no = il.delivery_no AND seed.delivery_line_no = il.delivery_line_no"
        if seed_sql
        else ""
    )
    lock = " FOR UPDATE OF il" if connection.features.has_select_for_update_of else ""
    sql = f"""
        SELECT il.id, il.kind, il.invoice_code, il.invoice_no, il.line_no,
               il.original_invoice_code, il.original_invoice_no, il.distributor_id, il.hospital_id,
               il.delivery_no, il.delivery_line_no, il.delivery_line_id, il.qty,
               CAST(ROUND(il.unit_price * 10000) AS BIGINT), CAST(ROUND(il.amount * 100) AS BIGINT),
               il.issued_at, il.reverses_id, il.net_qty, CAST(ROUND(il.net_amount * 100) AS BIGINT),
               il.match_status, il.exception_codes, il.statement_id,
               CASE WHEN il.dispute_reason <> '' THEN 1 ELSE 0 END, ih.region_id, st.status,
               dl.id, dl.accepted_qty, CASE WHEN dl.received_at IS NULL THEN 0 ELSE 1 END,
               CAST(ROUND(ol.unit_price * 10000) AS BIGINT), ol.distributor_id, ol.hospital_id, ol.product_id,
               ol.order_date, oh.region_id, {frozen_sql}, dl.accepted_date, il.accepted_on
        FROM {t["il"]} il
        {seed_join}
        JOIN {t["h"]} ih ON ih.code = il.hospital_id
        LEFT JOIN {t["st"]} st ON st.id = il.statement_id
        LEFT JOIN {t["dl"]} dl ON dl.delivery_no = il.delivery_no AND dl.line_no = il.delivery_line_no
        LEFT JOIN {t["ol"]} ol ON ol.id = dl.order_line_id
        LEFT JOIN {t["h"]} oh ON oh.code = ol.hospital_id
        ORDER BY il.id{lock}
    """
    params = [*frozen_params, *seed_params]  # in the order they appear in the text
    with connection.cursor() as cursor:
        if ids is not None and len(ids) <= FETCH_IDS:
            return _load_fetchall(cursor, sql, params)  # a receipt's few lines: no COPY and CSV parse
        if connection.vendor == "postgresql":
            # For this transaction: the pk-ordered lock sort of a pass (~500k wide rows: ~170 MB)
            # fits in memory instead of spilling to disk, and no JIT compile (~0.2 s) per partition.
            cursor.execute(f"SET LOCAL work_mem = '{LOAD_WORK_MEM}'")
            cursor.execute("SET LOCAL jit = off")
            return _load_copy(cursor, sql, params)
        return _load_fetchall(cursor, sql, params)


def _load_fetchall(cursor, sql: str, params: list) -> pd.DataFrame:
    """Any database: ``fetchall`` and a frame built from the Python values."""
    cursor.execute(sql, params)
    df = pd.DataFrame.from_records(cursor.fetchall(), columns=_COLUMNS)
    for col in _INT_COLUMNS:
        df[col] = pd.array(df[col].tolist(), dtype="Int64") if len(df) else pd.array([], dtype="Int64")
    for col in _DATE_COLUMNS:
        df[col] = pd.to_datetime(df[col])
    return df


def _load_copy(cursor, sql: str, params: list) -> pd.DataFrame:
    """PostgreSQL: the same SELECT (with its FOR UPDATE: COPY runs it as it is, locks included)
    streamed as CSV by ``COPY … TO STDOUT`` and parsed by pandas' C reader with the types given,
    instead of ``fetchall`` of ~36 Python objects per row and a frame built from them (about half
    the client time at M). NULL is written as ``\\N``, so an empty string stays an empty string.
    Text columns hold None for NULL, as the fetchall path's do; ``accepted_date`` and
    ``accepted_on`` are ISO text."""
    raw = cursor.cursor
    buf = io.StringIO()
    copy = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, NULL '{_COPY_NULL}')"
    if hasattr(raw, "copy_expert"):  # psycopg2: no parameters in COPY, so bind them client-side
        raw.copy_expert(raw.mogrify(copy, params).decode(), buf)
    else:  # psycopg 3
        with raw.copy(copy, params) as stream:
            for block in stream:
                buf.write(bytes(block).decode())
    buf.seek(0)
    dtypes = {col: ("Int64" if col in _INT_COLUMNS else object) for col in _COLUMNS}
    df = pd.read_csv(buf, header=None, names=_COLUMNS, dtype=dtypes, keep_default_na=False, na_values=[_COPY_NULL])
    for col in _COLUMNS:
        if dtypes[col] is object:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    for col in _DATE_COLUMNS:
        df[col] = pd.to_datetime(df[col], format="%Y-%m-%d")
    return df


def _load_awards(product_ids: Iterable[str]) -> pd.DataFrame:
    """Awards of these products: product, coverage prefix, award price (1/10000 yuan), round period."""
    rows: list[tuple] = []
    products = sorted({p for p in product_ids if p is not None and p is not pd.NA})
    for i in range(0, len(products), IDS_CHUNK):
        rows += list(
            Award.objects.filter(product_id__in=products[i : i + IDS_CHUNK]).values_list(
                "product_id", "supply_region_id", "award_price", "round__start_date", "round__end_date"
            )
        )
    frame = pd.DataFrame.from_records(
        [(p, to_prefix(r), price_to_units(price), s, e) for p, r, price, s, e in rows],
        columns=["product_id", "award_prefix", "award_u", "round_start", "round_end"],
    )
    frame["award_u"] = frame["award_u"].astype("int64")
    frame["round_start"] = pd.to_datetime(frame["round_start"])
    frame["round_end"] = pd.to_datetime(frame["round_end"])
    frame["prefix_len"] = frame["award_prefix"].str.len()
    return frame


# --- computing -----------------------------------------------------------------------


def _round_fen(units):
    """1/10000 yuan → fen, ROUND_HALF_UP (away from zero on a tie, like Decimal's).
    Works on int64 arrays and on object arrays of Python ints (beyond int64)."""
    sign = np.where(units < 0, -1, 1)
    return sign * ((np.abs(units) + 50) // 100)


def _tolerance_units(regions: pd.Series) -> pd.Series:
    """AMOUNT_TOLERANCE per row (1/10000 yuan), by the hospital's region (parties.policy)."""
    per_region = {code: price_to_units(policy_value("AMOUNT_TOLERANCE", code)) for code in regions.dropna().unique()}
    return regions.map(per_region).astype("int64")


def _differs(new: pd.Series, old: pd.Series) -> pd.Series:
    if not (pd.api.types.is_numeric_dtype(new) and pd.api.types.is_numeric_dtype(old)):
        return new.fillna("").astype(str).to_numpy() != old.fillna("").astype(str).to_numpy()
    return new.astype("Int64").fillna(_NA_INT).to_numpy() != old.astype("Int64").fillna(_NA_INT).to_numpy()


def _compute(df: pd.DataFrame) -> pd.DataFrame:
    """New (delivery_line_id, reverses_id, net_qty, net_amount_f, match_status, exception_codes,
    statement_id) per line, as columns prefixed ``new_``."""
    out = df.copy()
    blue = (out["kind"] == "blue").to_numpy()
    frozen = (out["frozen"] == 1).fillna(False).to_numpy()

    # -- red lines: find the blue line each reverses --------------------------------------
    keys = ["distributor_id", "delivery_no", "delivery_line_no"]
    blues = (
        out.loc[blue, ["id", "invoice_code", "invoice_no", "line_no", "frozen", *keys]]
        .sort_values(["line_no", "id"])
        .drop_duplicates(["invoice_code", "invoice_no", *keys])
        .rename(
            columns={
                "id": "target",
                "invoice_code": "original_invoice_code",
                "invoice_no": "original_invoice_no",
                "frozen": "target_frozen",
            }
        )
        .drop(columns="line_no")
    )
    reds = out.loc[~blue, ["id", "original_invoice_code", "original_invoice_no", "match_status", "reverses_id", *keys]]
    reds = reds.merge(blues, how="left", on=["original_invoice_code", "original_invoice_no", *keys])
    reds = reds.set_index("id")
    has_target = reds["target"].notna()
    target_frozen = (reds["target_frozen"] == 1).fillna(False)
    already_netted = (reds["match_status"] == MatchStatus.REVERSED) & (
        reds["reverses_id"].astype("Int64").fillna(_NA_INT) == reds["target"].astype("Int64").fillna(_NA_INT - 1)
    )
    # Netted into its blue line unless that line was frozen before this red line was netted.
    netted = has_target & (~target_frozen | already_netted)
    red_status = np.where(
        ~has_target, MatchStatus.EXCEPTION, np.where(netted, MatchStatus.REVERSED, MatchStatus.MATCHED)
    )
    red_codes = np.where(~has_target, NO_ORIGINAL, "")

    red_idx = np.flatnonzero(~blue)
    red_frame = out.iloc[red_idx][["id", "qty", "amount_f"]].copy()
    red_frame["target"] = reds.loc[red_frame["id"].to_numpy(), "target"].astype("Int64").to_numpy()
    red_frame["netted"] = netted.loc[red_frame["id"].to_numpy()].to_numpy()
    out["new_reverses_id"] = pd.array([pd.NA] * len(out), dtype="Int64")
    if len(red_idx):
        out.iloc[red_idx, out.columns.get_loc("new_reverses_id")] = red_frame["target"].to_numpy()

    # -- net quantities and amounts of blue lines -------------------------------------------
    red_sums = red_frame[red_frame["netted"]].groupby("target")[["qty", "amount_f"]].sum()
    plus_qty = out["id"].map(red_sums["qty"]).fillna(0).astype("int64")
    plus_amount = out["id"].map(red_sums["amount_f"]).fillna(0).astype("int64")
    net_qty = (out["qty"].astype("int64") + np.where(blue, plus_qty, 0)).astype("int64")
    net_amount = (out["amount_f"].astype("int64") + np.where(blue, plus_amount, 0)).astype("int64")
    # A frozen line keeps what it was approved with.
    net_qty = np.where(frozen & out["net_qty"].notna(), out["net_qty"].fillna(0).astype("int64"), net_qty)
    net_amount = np.where(
        frozen & out["net_amount_f"].notna(), out["net_amount_f"].fillna(0).astype("int64"), net_amount
    )
    out["new_net_qty"] = net_qty
    out["new_net_amount_f"] = net_amount

    # -- the checks, blue lines ----------------------------------------------------------------
    has_dl = out["dl_id"].notna().to_numpy()
    received = (out["received"] == 1).fillna(False).to_numpy()
    disputed = (out["disputed"] == 1).fillna(False).to_numpy()

    # QTY_EXCEEDS_ACCEPTED: running sum of net quantity per delivery line, in
    # (issued_at, invoice_no, line_no) order (invoice_code, id only break exact ties).
    run = out.loc[blue & has_dl, ["id", "dl_id", "issued_at", "invoice_no", "line_no", "invoice_code", "new_net_qty"]]
    run = run.sort_values(["dl_id", "issued_at", "invoice_no", "line_no", "invoice_code", "id"])
    running = run.groupby("dl_id")["new_net_qty"].cumsum()
    running_sum = pd.Series(running.to_numpy(), index=run["id"].to_numpy())
    accepted = out["accepted_qty"].fillna(0).astype("int64").to_numpy()
    run_by_row = out["id"].map(running_sum).fillna(0).astype("int64").to_numpy()
    qty_exceeds = blue & has_dl & received & (run_by_row > accepted)

    price_u = out["price_u"].astype("int64").to_numpy()
    ol_price = out["ol_price_u"].fillna(-1).astype("int64").to_numpy()
    price_differs = has_dl & (price_u != ol_price)

    party_mismatch = has_dl & (
        (out["distributor_id"].fillna("").to_numpy() != out["ol_distributor_id"].fillna("").to_numpy())
        | (out["hospital_id"].fillna("").to_numpy() != out["ol_hospital_id"].fillna("").to_numpy())
    )

    # PRICE_ABOVE_AWARD: the award covering the order (round period holds the order date, the
    # supply region covers the order's hospital); the most specific region, then the lowest price.
    above_award = np.zeros(len(out), dtype=bool)
    cand_rows = out.loc[blue & has_dl, ["id", "product_id", "order_date", "ord_region"]]
    if len(cand_rows):
        awards = _load_awards(cand_rows["product_id"].unique())
        if len(awards):
            cand = cand_rows.merge(awards, on="product_id")
            in_period = (cand["round_start"] <= cand["order_date"]) & (cand["order_date"] <= cand["round_end"])
            covers = np.zeros(len(cand), dtype=bool)
            for width in cand["prefix_len"].unique():
                sel = (cand["prefix_len"] == width).to_numpy()
                covers[sel] = (
                    cand.loc[sel, "ord_region"].str[: int(width)] == cand.loc[sel, "award_prefix"]
                ).to_numpy()
            cand = cand[in_period.to_numpy() & covers]
            best = cand.sort_values(["id", "prefix_len", "award_u"], ascending=[True, False, True]).drop_duplicates(
                "id"
            )
            award_u = out["id"].map(pd.Series(best["award_u"].to_numpy(), index=best["id"].to_numpy()))
            above_award = (award_u.notna() & (out["price_u"].astype("int64") > award_u.fillna(0))).to_numpy()

    # AMOUNT_MISCALCULATED: abs(amount − round_half_up(qty × unit_price, 2)) > AMOUNT_TOLERANCE.
    q = np.asarray(net_qty, dtype="int64")
    if len(q) and int(np.abs(q).max()) * int(np.abs(price_u).max()) >= 2**62:  # exact Python ints beyond int64
        product = q.astype(object) * price_u.astype(object)
    else:
        product = q * price_u
    expected_f = _round_fen(product)
    diff_u = np.abs(np.asarray(net_amount) - expected_f) * 100
    amount_wrong = np.asarray(diff_u > _tolerance_units(out["inv_region"]).to_numpy(), dtype=bool)

    masks = {
        ExceptionCode.NO_DELIVERY: ~has_dl,
        ExceptionCode.NO_RECEIPT: has_dl & ~received,
        ExceptionCode.QTY_EXCEEDS_ACCEPTED: qty_exceeds,
        ExceptionCode.PRICE_DIFFERS_FROM_ORDER: price_differs,
        ExceptionCode.PRICE_ABOVE_AWARD: has_dl & above_award,
        ExceptionCode.AMOUNT_MISCALCULATED: amount_wrong,
        ExceptionCode.PARTY_MISMATCH: party_mismatch,
        ExceptionCode.DISPUTED: has_dl & disputed,
    }
    codes = np.full(len(out), "", dtype=object)
    for code in _CODES:
        codes = codes + np.where(masks[code], code + CODE_SEPARATOR, "")
    codes = pd.Series(codes, index=out.index, dtype=object).str.rstrip(CODE_SEPARATOR)
    reversed_ = np.asarray(net_qty) == 0
    codes = codes.where(~reversed_, "")
    blue_status = np.where(
        reversed_, MatchStatus.REVERSED, np.where(codes != "", MatchStatus.EXCEPTION, MatchStatus.MATCHED)
    )

    status = np.array(blue_status, dtype=object)
    all_codes = np.array(codes.to_numpy(dtype=object), dtype=object)  # a writable copy
    if len(red_idx):
        ordered = pd.Series(red_status, index=reds.index).loc[out["id"].iloc[red_idx].to_numpy()]
        status[red_idx] = ordered.to_numpy()
        all_codes[red_idx] = pd.Series(red_codes, index=reds.index).loc[out["id"].iloc[red_idx].to_numpy()].to_numpy()
    out["new_match_status"] = status
    out["new_exception_codes"] = all_codes
    out["new_delivery_line_id"] = out["dl_id"]

    # A line that leaves "matched" leaves its open statement too, unless the hospital
    # disputed it there (the distributor must see the reason). Confirmed statements keep
    # their lines: they are the record of what the hospital confirmed.
    leaves = (
        (status != MatchStatus.MATCHED)
        & out["statement_id"].notna().to_numpy()
        & (out["st_status"] == StatementStatus.OPEN).fillna(False).to_numpy()
        & ~disputed
    )
    out["new_statement_id"] = out["statement_id"].where(~leaves, pd.NA).astype("Int64")

    # The acceptance the receivables age by: the delivery line's date when it accepted anything.
    accepted = (out["accepted_qty"].fillna(0) > 0).to_numpy() & out["accepted_date"].notna().to_numpy()
    out["new_accepted_on"] = np.where(accepted, _iso_dates(out["accepted_date"]), None)
    out["accepted_on"] = _iso_dates(out["accepted_on"])

    # Frozen lines keep everything.
    for col in (
        "accepted_on",
        "delivery_line_id",
        "reverses_id",
        "net_qty",
        "net_amount_f",
        "match_status",
        "exception_codes",
        "statement_id",
    ):
        out.loc[frozen, f"new_{col}"] = out.loc[frozen, col]
    return out


_RESULT_COLUMNS = (
    "accepted_on",
    "delivery_line_id",
    "reverses_id",
    "net_qty",
    "net_amount_f",
    "match_status",
    "exception_codes",
    "statement_id",
)


def _iso_dates(values: pd.Series) -> np.ndarray:
    """ISO ``YYYY-MM-DD`` text (None for none) of dates loaded as text (COPY) or as dates."""
    text = values.astype(str).str.slice(0, 10).to_numpy(dtype=object)
    text[values.isna().to_numpy()] = None
    return text


def _changed(out: pd.DataFrame) -> np.ndarray:
    mask = np.zeros(len(out), dtype=bool)
    for col in _RESULT_COLUMNS:
        mask |= np.asarray(_differs(out[f"new_{col}"], out[col]), dtype=bool)
    return mask & ~(out["frozen"] == 1).fillna(False).to_numpy()


# --- writing -------------------------------------------------------------------------

_WRITE_COLUMNS = (
    ("id", "bigint PRIMARY KEY"),
    ("accepted_on", "date"),
    ("delivery_line_id", "bigint"),
    ("reverses_id", "bigint"),
    ("net_qty", "integer"),
    ("net_amount_f", "bigint"),
    ("match_status", "varchar(10)"),
    ("exception_codes", "varchar(200)"),
    ("statement_id", "bigint"),
    ("touch", "integer"),  # 1: the match result changed (matched_at = now); 0: only gathered into a statement
)


def _write(rows: pd.DataFrame, matched_at) -> None:
    """One UPDATE … FROM a temp table of the changed rows (settlement.services.bulk_writes).
    ``rows["touch"]``: the match result changed, so ``matched_at`` is set; otherwise only the
    statement was assigned and ``matched_at`` stays."""
    if rows.empty:
        return
    if connection.vendor != "postgresql" and not sqlite_has_update_from():
        _write_bulk_update(rows, matched_at)
        return
    frame = pd.DataFrame(
        {
            "id": rows["id"].astype("int64"),
            "accepted_on": rows["new_accepted_on"].astype(object),
            "delivery_line_id": rows["new_delivery_line_id"].astype("Int64"),
            "reverses_id": rows["new_reverses_id"].astype("Int64"),
            "net_qty": rows["new_net_qty"].astype("int64"),
            "net_amount_f": rows["new_net_amount_f"].astype("int64"),
            "match_status": rows["new_match_status"].astype(object),
            "exception_codes": rows["new_exception_codes"].astype(object),
            "statement_id": rows["new_statement_id"].astype("Int64"),
            "touch": rows["touch"].astype("int64"),
        }
    )
    # fen → yuan exactly: numeric division on PostgreSQL; SQLite stores decimals as REAL anyway.
    amount = "CAST(v.net_amount_f AS numeric) / 100" if connection.vendor == "postgresql" else "v.net_amount_f / 100.0"
    rows_update(
        table=InvoiceLine._meta.db_table,
        columns=_WRITE_COLUMNS,
        frame=frame,
        assignments=(
            "accepted_on = v.accepted_on, delivery_line_id = v.delivery_line_id, reverses_id = v.reverses_id, "
            "net_qty = v.net_qty, "
            f"net_amount = {amount}, match_status = v.match_status, "
            "exception_codes = COALESCE(v.exception_codes, ''), statement_id = v.statement_id, "
            "matched_at = CASE WHEN v.touch = 1 THEN %s ELSE t.matched_at END"
        ),
        params=[connection.ops.adapt_datetimefield_value(matched_at)],
        by_id=True,
    )


def _none(value):
    return None if value is pd.NA or value is None or (isinstance(value, float) and np.isnan(value)) else value


def _write_bulk_update(rows: pd.DataFrame, matched_at) -> None:
    """SQLite before 3.33 (no UPDATE … FROM)."""
    touched = rows["touch"].to_numpy() == 1
    _bulk_update(rows[touched], matched_at)
    _bulk_update(rows[~touched], None)


def _bulk_update(rows: pd.DataFrame, matched_at) -> None:
    if rows.empty:
        return
    objs = [
        InvoiceLine(
            id=int(r.id),
            accepted_on=_none(r.new_accepted_on),
            delivery_line_id=_none(r.new_delivery_line_id),
            reverses_id=_none(r.new_reverses_id),
            net_qty=int(r.new_net_qty),
            net_amount=from_fen(int(r.new_net_amount_f)),
            match_status=r.new_match_status,
            exception_codes=r.new_exception_codes,
            statement_id=_none(r.new_statement_id),
            matched_at=matched_at,
        )
        for r in rows.itertuples(index=False)
    ]
    InvoiceLine.objects.bulk_update(
        objs,
        [
            "accepted_on",
            "delivery_line_id",
            "reverses_id",
            "net_qty",
            "net_amount",
            "match_status",
            "exception_codes",
            "statement_id",
            *(["matched_at"] if matched_at is not None else []),
        ],
        batch_size=SQLITE_BATCH_SIZE,
    )


# --- the service ---------------------------------------------------------------------


def _summary(out: pd.DataFrame, result: MatchResult) -> None:
    blue = out[out["kind"] == "blue"]
    result.by_status = {k: int(v) for k, v in blue["new_match_status"].value_counts().sort_index().items()}
    counts: dict[str, int] = {}
    # Per distinct code string (a handful), not per line.
    for codes, n in blue["new_exception_codes"].value_counts().items():
        if codes:
            for code in codes.split(CODE_SEPARATOR):
                counts[code] = counts.get(code, 0) + int(n)
    result.by_code = dict(sorted(counts.items()))


def _gatherable(out: pd.DataFrame, prefixes: tuple[str, ...] | None) -> np.ndarray:
    """Rows of the frame a statement build would take after this pass: blue, matched, on no
    statement, delivery line accepted, not frozen, invoice's hospital within one of ``prefixes``."""
    take = (
        (out["kind"] == "blue").to_numpy()
        & (out["new_match_status"] == MatchStatus.MATCHED).to_numpy()
        & out["new_statement_id"].isna().to_numpy()
        & out["accepted_date"].notna().to_numpy()
        & ~(out["frozen"] == 1).fillna(False).to_numpy()
    )
    if prefixes:
        regions = out["inv_region"].fillna("").astype(str)
        within = [r for r in regions.unique() if r.startswith(prefixes)]  # per distinct region, not per line
        take &= regions.isin(within).to_numpy()
    return take


def _gather(
    out: pd.DataFrame | None,
    prefixes: tuple[str, ...] | None,
    whole_partition: bool,
    result: MatchResult,
    built: BuildResult,
) -> np.ndarray:
    """Statements in the same pass (settlement.services.statements): the lines a
    ``statements_build(region_prefix=prefix)`` run right after this matching would gather — from
    the frame (with its new values) and, unless the frame holds every line of the partition, the
    unassigned ones outside it — get their statement now, so each line is written once: the same
    lines in the same pk order, so the same statements, numbers and events as matching and then
    building. Sets ``new_statement_id`` of the frame's gathered rows and returns their mask; writes
    the lines outside the frame itself. ``out`` None: nothing was loaded. The new statements are
    numbered later (``_number``), after the pass has written its lines."""
    from settlement.services import statements as st

    columns = st.GATHER_COLUMNS
    if out is None:
        take = np.zeros(0, dtype=bool)
        parts = []
        loaded = np.zeros(0, dtype="int64")
    else:
        take = _gatherable(out, prefixes)
        rows = out.loc[take, ["id", "hospital_id", "distributor_id", "accepted_date", "inv_region"]]
        parts = [rows.set_axis(columns, axis=1)] if len(rows) else []
        loaded = out["id"].to_numpy(dtype="int64")
    outside = pd.DataFrame(columns=columns)
    if not whole_partition:
        # Locks them (the frame's are locked already); one query per prefix, sorted with the frame's below.
        found = [st.unassigned_lines(region_prefix=p) for p in (prefixes or (None,))]
        outside = pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]
        outside = outside[~outside["id"].isin(loaded)]
        if len(outside):
            parts.append(outside)
    # After the lines, as statements_build does; only the hospitals whose statements change.
    st.builder_lock(pd.concat([part["hospital_id"] for part in parts]) if parts else ())
    if not parts:
        return take
    # The frame's accepted dates are ISO text on PostgreSQL (COPY), the others dates: one type.
    parts = [part.assign(accepted=pd.to_datetime(part["accepted"])) for part in parts]
    gathered = pd.concat(parts, ignore_index=True)
    gathered["id"] = gathered["id"].astype("int64")
    gathered = gathered.sort_values("id", kind="stable").reset_index(drop=True)
    gathered["statement_id"] = st.statements_for(gathered, built)
    result.statement_lines_added = built.lines_added
    if take.any():
        by_id = pd.Series(gathered["statement_id"].to_numpy(), index=gathered["id"].to_numpy())
        positions = np.flatnonzero(take)
        out.iloc[positions, out.columns.get_loc("new_statement_id")] = (
            out["id"].iloc[positions].map(by_id).astype("Int64").to_numpy()
        )
    if len(outside):
        st.statement_ids_write(gathered.loc[gathered["id"].isin(outside["id"].to_numpy()), ["id", "statement_id"]])
    return take


def _number(built: BuildResult, result: MatchResult) -> None:
    """The new statements' numbers, last in the pass (statements.statements_number): the
    counter's lock is then held only until COMMIT, not through the pass's UPDATE."""
    from settlement.services import statements as st

    st.statements_number(built)
    result.statements_created = list(built.statements_created)


def _prefixes(region_prefix: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Coverage prefixes of the region code(s) given, sorted and without repeats; None = every region."""
    if not region_prefix:
        return None
    codes = [region_prefix] if isinstance(region_prefix, str) else list(region_prefix)
    return tuple(sorted({to_prefix(c) for c in codes})) or None


def covering_prefixes(region_codes) -> list[str]:
    """Coverage prefixes of the hospitals' regions, without those another one already
    covers: a city-level hospital (371000 → 3710) covers its districts' partitions, and
    matching each line once is both correct and 1.7× less work (measured at scale M)."""
    kept: list[str] = []
    for p in sorted({to_prefix(c) for c in region_codes}, key=lambda s: (len(s), s)):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


def reconcile_passes(max_lines: int | None = None, workers: int = 1) -> list[list[str]]:
    """The passes of a whole reconcile (``manage.py reconcile``, the bench): the coverage prefixes
    of the hospitals' regions without those another one covers, packed into the fewest passes of
    at most ``max_lines`` invoice lines (``settings.RECONCILE_PASS_LINES``; a prefix with more is
    a pass of its own) — ``pack_passes``.

    Each pass's load reads the invoice, delivery and order line tables once, whatever the
    size of its partitions (the region's lines lie all over them), so fewer, larger passes
    read them fewer times; the frame of a pass grows with its lines (about 2.5 KB per line at
    the peak), so the cap bounds the memory.

    ``workers``: the passes are shared among that many workers (one task each), so there are a
    multiple of ``workers`` of them where the prefixes allow, of sizes as even as the prefixes
    allow, largest first: each worker takes the next pass as it finishes one, and none is left
    alone with a large pass while the others wait."""
    from django.conf import settings
    from django.db.models import Count

    cap = max_lines if max_lines is not None else getattr(settings, "RECONCILE_PASS_LINES", PASS_LINES)
    counts = dict(
        InvoiceLine.objects.order_by()
        .values_list("hospital__region_id")
        .annotate(n=Count("pk"))
        .values_list("hospital__region_id", "n")
    )
    prefixes = covering_prefixes(counts)
    sizes = {prefix: sum(v for code, v in counts.items() if code.startswith(prefix)) for prefix in prefixes}
    return pack_passes(sizes, cap, workers)


def pack_passes(sizes: dict[str, int], cap: int, workers: int = 1) -> list[list[str]]:
    """Prefixes (with their invoice lines) packed into passes of at most ``cap`` lines.

    A prefix above the cap is a pass of its own. The others go into the fewest passes that
    the cap allows — rounded up to a multiple of ``workers`` (no more passes than prefixes),
    so that every worker has as many: each prefix, largest first, into the pass with the
    fewest lines so far, then single moves and swaps out of the largest pass while they make
    it smaller (``_even_out``); should a pass still exceed the cap, more passes. Each pass's
    prefixes are sorted; the passes come largest first (ties by their first prefix), the order
    for workers taking them one at a time."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1 line: {cap!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1: {workers!r}")
    alone = [[p] for p, n in sizes.items() if n > cap]
    rest = sorted(((n, p) for p, n in sizes.items() if n <= cap), key=lambda item: (-item[0], item[1]))
    packed: list[tuple[int, list[str]]] = [(sizes[p[0]], p) for p in alone]

    def rounded(k: int) -> int:  # up to a multiple of workers (with the prefixes alone), at most one pass a prefix
        while (k + len(alone)) % workers and k < len(rest):
            k += 1
        return min(k, len(rest))

    if rest:
        k = rounded(max(1, -(-sum(n for n, _ in rest) // cap)))
        while True:
            loads = [0] * k
            bins: list[list[tuple[int, str]]] = [[] for _ in range(k)]
            for n, prefix in rest:
                i = min(range(k), key=loads.__getitem__)  # the lightest; the first of equals
                loads[i] += n
                bins[i].append((n, prefix))
            _even_out(bins, loads)
            if max(loads) <= cap or k >= len(rest):
                break
            k = rounded(k + 1)
        packed += [(load, sorted(p for _, p in b)) for load, b in zip(loads, bins, strict=True) if b]
    packed.sort(key=lambda item: (-item[0], item[1][0]))
    return [prefixes for _, prefixes in packed]


def _even_out(bins: list[list[tuple[int, str]]], loads: list[int]) -> None:
    """Local search on the largest-first packing: move one prefix out of the largest pass, or
    swap one of its prefixes for a smaller one of another pass, taking the change that leaves
    the larger of the two passes smallest, while that is below the largest pass's size. Each
    change lowers the sum of squared sizes, so it stops."""
    while True:
        h = max(range(len(loads)), key=loads.__getitem__)
        best = (loads[h], None)
        for j in range(len(loads)):
            if j == h:
                continue
            for x_index, (x, _) in enumerate(bins[h]):
                worst = max(loads[h] - x, loads[j] + x)
                if worst < best[0]:
                    best = (worst, (j, x_index, None))
                for y_index, (y, _) in enumerate(bins[j]):
                    if y < x:
                        worst = max(loads[h] - x + y, loads[j] + x - y)
                        if worst < best[0]:
                            best = (worst, (j, x_index, y_index))
        if best[1] is None:
            return
        j, x_index, y_index = best[1]
        item = bins[h].pop(x_index)
        loads[h] -= item[0]
        loads[j] += item[0]
        if y_index is not None:
            other = bins[j].pop(y_index)
            loads[j] -= other[0]
            loads[h] += other[0]
            bins[h].append(other)
        bins[j].append(item)


@transaction.atomic
def invoices_match(
    *,
    region_prefix: str | Sequence[str] | None = None,
    period: str | None = None,
    invoice_line_ids: Iterable[int] | None = None,
    delivery_line_ids: Iterable[int] | None = None,
    build_statements: bool = False,
) -> MatchResult:
    """Match the lines of one partition (or of the given lines and their delivery lines, or
    the invoice lines of the given delivery lines).

    ``region_prefix``: a region code or coverage prefix (``371002``, ``371000``, ``3710``)
    of the invoices' hospitals, or several (one pass over their partitions together: see
    ``reconcile_passes``); ``period``: YYYY-MM (see the module docstring for what a
    month's partition holds). No arguments: every line. Re-running changes nothing;
    only lines whose result differs are written; lines in an approved batch never are.

    ``delivery_line_ids``: every invoice line of these delivery lines, and nothing else — what
    one receipt can change (a line's result depends only on its own delivery line, order line
    and award; the running sums and the red-line netting stay within one delivery line).
    ``region_prefix`` then only says which regions' statements the pass builds, as the
    partition's pass would (``match_delivery_lines``).

    ``build_statements``: also gather the newly matched lines into statements in the same
    pass and the same UPDATE — the result of ``statements_build(region_prefix=region_prefix)``
    right after, with every line written once instead of twice.
    """
    started = time.monotonic()
    if period is not None:
        period_bounds(period)  # ValueError on a malformed period
    prefixes = _prefixes(region_prefix)
    if invoice_line_ids is not None and delivery_line_ids is not None:
        raise ValueError("invoice_line_ids or delivery_line_ids, not both")
    by_ids, of = (invoice_line_ids, "il") if delivery_line_ids is None else (delivery_line_ids, "dl")
    if by_ids is not None:
        ids = sorted({int(i) for i in by_ids})
        frames = [_load(None, None, ids[i : i + IDS_CHUNK], of) for i in range(0, len(ids), IDS_CHUNK)]
        if frames:
            df = pd.concat(frames, ignore_index=True).drop_duplicates("id").reset_index(drop=True)
        else:
            df = pd.DataFrame(columns=_COLUMNS)
    else:
        df = _load(prefixes, period, None)
    result = MatchResult(lines_checked=len(df))
    # The frame holds every line a build of the partition could gather: every line of the region.
    whole_partition = by_ids is None and period is None
    from settlement.services.statements import BuildResult  # not at the top: statements reads the lines' selectors

    built = BuildResult()
    if df.empty:
        if build_statements and not whole_partition:
            _gather(None, prefixes, whole_partition, result, built)
            _number(built, result)
        result.seconds = time.monotonic() - started
        return result
    out = _compute(df)
    changed = _changed(out)
    out["touch"] = changed.astype("int64")
    if build_statements:
        changed = changed | _gather(out, prefixes, whole_partition, result, built)
    result.frozen = int((out["frozen"] == 1).fillna(False).sum())
    result.lines_changed = int(changed.sum())
    _write(out.loc[changed], timezone.now())
    _number(built, result)
    _summary(out, result)
    result.seconds = time.monotonic() - started
    logger.info(
        "matching region=%s period=%s checked=%s changed=%s statement lines=%s in %.2fs",
        ",".join(prefixes) if prefixes else None,
        period,
        result.lines_checked,
        result.lines_changed,
        result.statement_lines_added,
        result.seconds,
    )
    return result
