"""Price observations: every transaction price and reference price, per package and per minimal unit.

A build of one partition (region prefix, month) is two set-based statements per source
group, no Python loop over rows:

1. ``DELETE … WHERE NOT EXISTS``: observations of the partition whose source row is
   gone (or left the partition);
2. ``INSERT … SELECT … ON CONFLICT (source_id, source) DO UPDATE … WHERE … IS DISTINCT
   FROM …``: new rows are inserted, rows whose product data or price changed are
   rewritten, unchanged rows are not written at all.

So a rebuild of an unchanged month reads but writes nothing (the daily scan rebuilds the
current month: on a large province that is a read of 1.5 M rows, not a rewrite), and the
job is idempotent when partitions overlap (a province and one of its cities) or two
workers build the same one.

Units: ``price_units`` is 1/10,000 yuan per package (exact for the 4-decimal prices);
``unit_price_micro`` is 1/1,000,000 yuan per minimal unit, rounded half-up in integer
arithmetic: (2 × price_units × 100 + upp) div (2 × upp), all operands non-negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from parties.identifiers import region_prefix as code_prefix
from price_monitor.models import ObservationSource, PriceObservation
from price_monitor.periods import period_bounds, period_check

TABLE = PriceObservation._meta.db_table
BUILD_WORK_MEM = "64MB"  # per hash of the build's joins, for the build's transaction only (SET LOCAL)
REFERENCE_SOURCES = (
    ObservationSource.LISTING,
    ObservationSource.PROVINCE_MIN,
    ObservationSource.NATIONAL_MIN,
    ObservationSource.RETAIL,
    ObservationSource.BASELINE,
)

_DATA_COLUMNS = (
    "product_id",
    "category",
    "comparable_key",
    "units_per_package",
    "region_code",
    "hospital_id",
    "enterprise_id",
    "period",
    "observed_on",
    "qty",
    "price_units",
    "unit_price_micro",
)
_COLUMNS = "source, source_id, " + ", ".join(_DATA_COLUMNS)
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _DATA_COLUMNS)
# Null-safe "differs": PostgreSQL spells it IS DISTINCT FROM, SQLite IS NOT (any version).
_CHANGED = " OR ".join(f"{TABLE}.{c} {{distinct}} excluded.{c}" for c in _DATA_COLUMNS)
# Unit prices are NUMERIC(14,4): × 10000 is an integer on PostgreSQL; SQLite keeps them
# as REAL, so ROUND before the cast makes 10.1234 → 101234 there too.
_PRICE_UNITS = "CAST(ROUND({col} * 10000) AS BIGINT)"
_COMPARABLE = "p.generic_name || '|' || p.dosage_form || '|' || p.specification"


_CONFLICT = " ON CONFLICT (source_id, source) DO UPDATE SET "


# unit_price_micro from an inner SELECT's ``u`` (price_units) and units_per_package.
_MICRO = "(s.u * 200 + s.units_per_package) / (2 * s.units_per_package)"


def _upsert(select_sql: str) -> str:
    """Wrap an inner SELECT (which yields ``u`` = price_units) into the upsert."""
    return (
        f"INSERT INTO {TABLE} ({_COLUMNS}) "
        f"SELECT source, source_id, product_id, category, comparable_key, units_per_package, region_code, "
        f"hospital_id, enterprise_id, period, observed_on, qty, u, {_MICRO} "
        f"FROM ({select_sql}) s WHERE s.u >= 0"
        f"{_CONFLICT}{_UPDATE} WHERE {_CHANGED}"
    )


def _plain_insert(upsert_sql: str) -> str:
    """The upsert without its ON CONFLICT clause: for a partition with nothing observed yet."""
    return upsert_sql[: upsert_sql.index(_CONFLICT)]


# Each source: (its rows in the partition — FROM/WHERE with %s for start, end, region LIKE —, the SELECT list).
_ORDERS_IN_PARTITION = (
    "FROM procurement_orderline o JOIN parties_hospital h ON h.code = o.hospital_id "
    "WHERE o.order_date >= %s AND o.order_date < %s AND h.region_id LIKE %s"
)
_ORDERS_FROM = _ORDERS_IN_PARTITION.replace(
    "FROM procurement_orderline o ", "FROM procurement_orderline o JOIN procurement_product p ON p.code = o.product_id "
)
_ORDERS_SELECT = (
    "SELECT 'order' AS source, o.id AS source_id, o.product_id AS product_id, p.category AS category, "
    f"{_COMPARABLE} AS comparable_key, p.units_per_package AS units_per_package, h.region_id AS region_code, "
    "o.hospital_id AS hospital_id, o.distributor_id AS enterprise_id, %s AS period, o.order_date AS observed_on, "
    f"o.qty AS qty, {_PRICE_UNITS.format(col='o.unit_price')} AS u " + _ORDERS_FROM
)
_ORDERS_SQL = _upsert(_ORDERS_SELECT)

# Invoice lines without a delivery line (NO_DELIVERY) name no product: not observed.
_INVOICES_IN_PARTITION = (
    "FROM settlement_invoiceline i JOIN parties_hospital h ON h.code = i.hospital_id "
    "WHERE i.delivery_line_id IS NOT NULL AND i.issued_at >= %s AND i.issued_at < %s AND h.region_id LIKE %s"
)
_INVOICES_FROM = (
    "FROM settlement_invoiceline i "
    "JOIN procurement_deliveryline d ON d.id = i.delivery_line_id "
    "JOIN procurement_orderline o ON o.id = d.order_line_id "
    "JOIN procurement_product p ON p.code = o.product_id "
    "JOIN parties_hospital h ON h.code = i.hospital_id "
    "WHERE i.issued_at >= %s AND i.issued_at < %s AND h.region_id LIKE %s"
)
_INVOICES_SELECT = (
    "SELECT 'invoice' AS source, i.id AS source_id, o.product_id AS product_id, p.category AS category, "
    f"{_COMPARABLE} AS comparable_key, p.units_per_package AS units_per_package, h.region_id AS region_code, "
    "i.hospital_id AS hospital_id, i.distributor_id AS enterprise_id, %s AS period, i.issued_at AS observed_on, "
    f"i.qty AS qty, {_PRICE_UNITS.format(col='i.unit_price')} AS u " + _INVOICES_FROM
)
_INVOICES_SQL = _upsert(_INVOICES_SELECT)

_REFERENCES_IN_PARTITION = (
    "FROM price_monitor_referenceprice r WHERE r.effective_from >= %s AND r.effective_from < %s AND r.region_id LIKE %s"
)
_REFERENCES_FROM = _REFERENCES_IN_PARTITION.replace(
    "FROM price_monitor_referenceprice r ",
    "FROM price_monitor_referenceprice r JOIN procurement_product p ON p.code = r.product_id ",
)
_REFERENCES_SELECT = (
    "SELECT r.source AS source, r.id AS source_id, r.product_id AS product_id, p.category AS category, "
    f"{_COMPARABLE} AS comparable_key, p.units_per_package AS units_per_package, r.region_id AS region_code, "
    "CAST(NULL AS VARCHAR(12)) AS hospital_id, CAST(NULL AS VARCHAR(18)) AS enterprise_id, %s AS period, "
    "r.effective_from AS observed_on, "
    f"CAST(NULL AS INTEGER) AS qty, {_PRICE_UNITS.format(col='r.price')} AS u " + _REFERENCES_FROM
)
_REFERENCES_SQL = _upsert(_REFERENCES_SELECT)

# Source groups a build can be limited to (an import of one table rebuilds only its own).
GROUP_ORDERS = "orders"
GROUP_INVOICES = "invoices"
GROUP_REFERENCES = "references"
GROUPS = (GROUP_ORDERS, GROUP_INVOICES, GROUP_REFERENCES)
_GROUP_SOURCES = {
    GROUP_ORDERS: (ObservationSource.ORDER.value,),
    GROUP_INVOICES: (ObservationSource.INVOICE.value,),
    GROUP_REFERENCES: tuple(s.value for s in REFERENCE_SOURCES),
}
# group → (upsert, FROM … WHERE of the partition's source rows, the source row's id column, the inner SELECT)
_GROUP_SQL = {
    GROUP_ORDERS: (_ORDERS_SQL, _ORDERS_IN_PARTITION, "o.id", _ORDERS_SELECT),
    GROUP_INVOICES: (_INVOICES_SQL, _INVOICES_IN_PARTITION, "i.id", _INVOICES_SELECT),
    GROUP_REFERENCES: (_REFERENCES_SQL, _REFERENCES_IN_PARTITION, "r.id", _REFERENCES_SELECT),
}


def _distinct() -> str:
    return "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"


def _partition_observed(group: str) -> str:
    """Whether the partition holds any observation of the group (one probe of the partition index)."""
    marks = ", ".join(["%s"] * len(_GROUP_SOURCES[group]))
    return f"SELECT 1 FROM {TABLE} WHERE period = %s AND region_code LIKE %s AND source IN ({marks}) LIMIT 1"


def _stale_delete(group: str) -> str:
    """Observations of the partition whose source row is not (or no longer) in it."""
    _upsert_sql, from_where, id_col, _select = _GROUP_SQL[group]
    marks = ", ".join(["%s"] * len(_GROUP_SOURCES[group]))
    return (
        f"DELETE FROM {TABLE} WHERE period = %s AND region_code LIKE %s AND source IN ({marks}) "
        f"AND NOT EXISTS (SELECT 1 {from_where} AND {id_col} = {TABLE}.source_id)"
    )


def _in_step(group: str) -> str:
    """One row (observations of the partition, source rows of the partition, source rows
    whose observation equals, column for column, what the build would write for them).

    The build's own inner SELECT LEFT JOINed to the observations on the unique key
    (source_id, source) and every data column, null-safe: a source row has at most one
    equal observation, and an equal one lies in the partition (same period and region)."""
    select_sql = _GROUP_SQL[group][3]
    same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
    expected = {c: f"s.{c}" for c in _DATA_COLUMNS} | {"price_units": "s.u", "unit_price_micro": _MICRO}
    on = " AND ".join(f"t.{c} {same} {expected[c]}" for c in _DATA_COLUMNS)
    marks = ", ".join(["%s"] * len(_GROUP_SOURCES[group]))
    return (
        f"SELECT (SELECT COUNT(*) FROM {TABLE} WHERE period = %s AND region_code LIKE %s AND source IN ({marks})), "
        f"COUNT(*), COUNT(t.id) FROM ({select_sql}) s "
        f"LEFT JOIN {TABLE} t ON t.source_id = s.source_id AND t.source = s.source AND {on} WHERE s.u >= 0"
    )


def observations_stale(*, region_prefix: str, period: str, groups: tuple[str, ...] = GROUPS) -> tuple[str, ...]:
    """The groups of ``groups`` whose build of the partition would write or delete a row
    (read-only, one statement per group; the rest are in step with their sources).

    In step ⇔ every source row of the partition has an observation equal to the one the
    build derives from it (product and hospital data included, so a corrected product or
    a hospital moved to another region counts as a change) and the partition holds no
    other observation: then ``observations_build`` finds nothing stale to delete and its
    upsert nothing to insert or rewrite. A group with nothing observed yet is stale
    without the comparison as soon as it has a source row (the first build)."""
    start, end, like = _partition(region_prefix, period, groups)
    stale = []
    with connection.cursor() as cur:
        for g in GROUPS:
            if g not in groups:
                continue
            sources = _GROUP_SOURCES[g]
            cur.execute(_partition_observed(g), [period, like, *sources])
            if cur.fetchone() is None:
                _upsert_sql, from_where, _id, _select = _GROUP_SQL[g]
                cur.execute(f"SELECT 1 {from_where} LIMIT 1", [start, end, like])
                if cur.fetchone() is not None:
                    stale.append(g)
                continue
            cur.execute(_in_step(g), [period, like, *sources, period, start, end, like])
            observed, rows, equal = cur.fetchone()
            if not observed == rows == equal:
                stale.append(g)
    return tuple(stale)


def _partition(region_prefix: str, period: str, groups) -> tuple:
    """(first day, day after, region LIKE pattern) of a partition; refuses a bad period or group."""
    period_check(period)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown observation groups: {sorted(unknown)}")
    start, end = period_bounds(period)
    return start, end, f"{partition_prefix(region_prefix)}%"


@dataclass(frozen=True)
class ObservationBuild:
    region_prefix: str
    period: str
    deleted: int  # stale observations removed
    orders: int  # rows inserted or rewritten, per group (unchanged rows are not counted)
    invoices: int
    references: int

    @property
    def written(self) -> int:
        return self.orders + self.invoices + self.references


def partition_prefix(region: str | None) -> str:
    """A 6-digit region code → its coverage prefix; a prefix (or "" / None = everything) as is."""
    if not region:
        return ""
    return code_prefix(region) if len(region) == 6 else region


@transaction.atomic
def observations_build(*, region_prefix: str, period: str, groups: tuple[str, ...] = GROUPS) -> ObservationBuild:
    """Bring the observations of one partition in step with their sources: transactions of
    hospitals whose region lies under ``region_prefix`` dated in ``period``, and reference
    prices of regions under it effective from a day of ``period`` (``groups`` limits the
    sources). Idempotent: a second run writes nothing."""
    start, end, like = _partition(region_prefix, period, groups)
    counts = dict.fromkeys(GROUPS, 0)
    deleted = 0
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # The invoice group hashes a month of invoice and delivery lines: in memory, not in batches on disk.
            cur.execute(f"SET LOCAL work_mem = '{BUILD_WORK_MEM}'")
        for g in GROUPS:
            if g not in groups:
                continue
            cur.execute(_stale_delete(g), [period, like, *_GROUP_SOURCES[g], start, end, like])
            deleted += max(cur.rowcount, 0)
            counts[g] = _write_group(cur, g, period=period, start=start, end=end, like=like)
    return ObservationBuild(
        partition_prefix(region_prefix),
        period,
        deleted,
        counts[GROUP_ORDERS],
        counts[GROUP_INVOICES],
        counts[GROUP_REFERENCES],
    )


def _write_group(cur, group: str, *, period: str, start, end, like: str) -> int:
    """Insert or rewrite the group's observations of the partition; the number of rows written.

    A partition with nothing of the group observed yet (the first build of a month) takes
    a plain INSERT … SELECT: no speculative insertion and no conflict check per row. A
    source row can still be observed under another partition (an order whose date or
    hospital moved and whose old month was not rebuilt since), or a concurrent build may
    have written the partition meanwhile: the unique key then refuses the INSERT, which is
    undone to its savepoint and done again as the upsert."""
    upsert = _GROUP_SQL[group][0].format(distinct=_distinct())
    params = [period, start, end, like]
    cur.execute(_partition_observed(group), [period, like, *_GROUP_SOURCES[group]])
    if cur.fetchone() is None:
        try:
            with transaction.atomic():
                cur.execute(_plain_insert(upsert), params)
                return max(cur.rowcount, 0)
        except IntegrityError:
            pass
    cur.execute(upsert, params)
    return max(cur.rowcount, 0)
