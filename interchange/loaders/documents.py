"""Documents: awards, agreements, orders, deliveries, receipts, invoices, fund allocations.

A document row whose key is already stored is skipped when identical and refused as a
conflict otherwise (documents are corrected by new documents, never overwritten). The
large tables are checked with merges against rows fetched by key from the database
(interchange.bulk.fetch_by_keys), never row by row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interchange import reasons, tables
from interchange.bulk import fetch_by_keys
from interchange.loaders import refs
from interchange.loaders.base import (
    ImportBatch,
    TableLoader,
    canonical,
    compare,
    flag_conflicts,
    kinds_of,
    month,
    partitions_of,
)
from interchange.loaders.identifiers import invoice_number_problems
from interchange.parsing import shanghai_date, timestamps_from_db
from parties.identifiers import region_prefix
from parties.models import Hospital
from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Round
from settlement.models import FundAllocation, InvoiceLine

T_ORDER = OrderLine._meta.db_table
T_DELIVERY = DeliveryLine._meta.db_table
T_INVOICE = InvoiceLine._meta.db_table
T_HOSPITAL = Hospital._meta.db_table
T_AWARD = Award._meta.db_table
T_AGREEMENT = Agreement._meta.db_table
T_ROUND = Round._meta.db_table
T_FUND = FundAllocation._meta.db_table


def _nonblank(s: pd.Series) -> np.ndarray:
    return (s.to_numpy(dtype=object) != "") & s.notna().to_numpy()


def _lt(s: pd.Series, value) -> np.ndarray:
    return (s < value).fillna(False).to_numpy(dtype=bool)


def _le(s: pd.Series, value) -> np.ndarray:
    return (s <= value).fillna(False).to_numpy(dtype=bool)


class DocumentLoader(TableLoader):
    """check = resolve references and rules → compare with stored rows → rules on new rows."""

    compare_columns: tuple[str, ...] = ()
    conflict_reason = reasons.CONFLICT

    def resolve(self, batch: ImportBatch, df: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def existing(self, df: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def after_compare(self, batch: ImportBatch, new: pd.DataFrame) -> None:
        return None

    def partitions(self, rows: pd.DataFrame) -> set[tuple[str, str]]:
        return set()

    def check(self, batch: ImportBatch) -> None:
        df = self.resolve(batch, batch.valid())
        df = df[~df.index.isin(batch.log.bad_rows())]
        kinds = {**kinds_of(self.spec), **getattr(self, "extra_kinds", {})}
        existing = canonical(self.existing(df), kinds)
        key = list(self.spec.key)
        cmp = compare(df, existing, key, list(self.compare_columns))
        flag_conflicts(batch, cmp, kinds, reason=self.conflict_reason)
        self.after_compare(batch, cmp.new)
        new = cmp.new[~cmp.new.index.isin(batch.log.bad_rows())]
        batch.plan.create = new
        batch.plan.unchanged = len(cmp.same)
        batch.plan.partitions = self.partitions(new)

    def flag_unknown(self, batch, df, column: str, keys) -> np.ndarray:
        """Flag non-blank cells not in ``keys``; returns the known mask."""
        ok = refs.known(df[column], keys)
        batch.flag(df, _nonblank(df[column]) & ~ok, column, reasons.UNKNOWN_REFERENCE)
        return ok


def _keys(df: pd.DataFrame, cols: dict[str, str]) -> pd.DataFrame:
    """Key columns for staging: ``cols`` maps frame column → staged name."""
    return df[list(cols)].rename(columns=cols)


# -- awards ---------------------------------------------------------------------------


class AwardLoader(DocumentLoader):
    spec = tables.AWARDS
    compare_columns = ("enterprise_credit_code", "award_price")

    def resolve(self, batch, df):
        rounds = refs.rounds().set_index("code")
        self.flag_unknown(batch, df, "round_code", set(rounds.index))
        self.flag_unknown(batch, df, "product_code", refs.product_categories())
        self.flag_unknown(batch, df, "enterprise_credit_code", refs.enterprise_roles())
        self.flag_unknown(batch, df, "supply_region_code", refs.region_codes())
        batch.flag(df, _le(df["award_price"], 0), "award_price", reasons.NOT_POSITIVE)
        batch.flag(
            df,
            ~refs.scope_of(batch.user).region_rows(df["supply_region_code"]),
            "supply_region_code",
            reasons.OUT_OF_SCOPE,
        )
        df = df.copy()
        df["round_id"] = refs.mapped(df["round_code"], rounds["id"].to_dict())
        df["round_start"] = refs.mapped(df["round_code"], rounds["start_date"].to_dict())
        return df

    def existing(self, df):
        qs = Award.objects.filter(round__code__in=df["round_code"].unique().tolist()).values_list(
            "round__code", "product_id", "supply_region_id", "enterprise_id", "award_price"
        )
        cols = ["round_code", "product_code", "supply_region_code", "enterprise_credit_code", "award_price"]
        return pd.DataFrame.from_records(list(qs), columns=cols).astype(object)

    def partitions(self, rows):
        return partitions_of(rows["supply_region_code"], month(rows["round_start"]))

    def write(self, batch):
        from procurement.services.loading import awards_create

        return awards_create(rows=batch.plan.create), 0


# -- agreements -----------------------------------------------------------------------


class AgreementLoader(DocumentLoader):
    chunkable = True
    spec = tables.AGREEMENTS
    compare_columns = ("year_end", "agreed_qty")

    def resolve(self, batch, df):
        rounds = refs.rounds().set_index("code")
        hospitals = refs.hospital_regions()
        round_ok = self.flag_unknown(batch, df, "round_code", set(rounds.index))
        hosp_ok = self.flag_unknown(batch, df, "hospital_code", hospitals)
        prod_ok = self.flag_unknown(batch, df, "product_code", refs.product_categories())
        df = df.copy()
        df["round_id"] = refs.mapped(df["round_code"], rounds["id"].to_dict())
        start = refs.mapped(df["round_code"], rounds["start_date"].to_dict()).fillna("")
        end = refs.mapped(df["round_code"], rounds["end_date"].to_dict()).fillna("")
        df["hospital_region"] = refs.mapped(df["hospital_code"], hospitals).fillna("")
        ys, ye = df["year_start"], df["year_end"]
        dated = round_ok & _nonblank(ys)
        batch.flag(df, dated & ((ys < start) | (ys > end)).to_numpy(), "year_start", reasons.OUTSIDE_ROUND)
        batch.flag(df, _nonblank(ys) & _nonblank(ye) & (ye <= ys).to_numpy(), "year_end", reasons.END_NOT_AFTER_START)
        batch.flag(df, _le(df["agreed_qty"], 0), "agreed_qty", reasons.NOT_POSITIVE)
        in_scope = refs.scope_of(batch.user).hospital_rows(df["hospital_code"], df["hospital_region"])
        batch.flag(df, hosp_ok & ~in_scope, "hospital_code", reasons.OUT_OF_SCOPE)
        # An award of the round for the product whose supply region covers the hospital's region.
        awards = pd.DataFrame.from_records(
            list(
                Award.objects.filter(round__code__in=df["round_code"].unique().tolist()).values_list(
                    "round__code", "product_id", "supply_region_id"
                )
            ),
            columns=["round_code", "product_code", "supply_region"],
        )
        covered = np.zeros(len(df), dtype=bool)
        if not awards.empty:
            awards["prefix"] = awards["supply_region"].map(region_prefix)
            probe = df[["round_code", "product_code", "hospital_region"]].reset_index()
            for n in sorted(awards["prefix"].str.len().unique()):
                a = awards[awards["prefix"].str.len() == n][["round_code", "product_code", "prefix"]].drop_duplicates()
                p = probe.assign(prefix=probe["hospital_region"].str.slice(0, n))
                hit = p.merge(a, on=["round_code", "product_code", "prefix"], how="inner")["row"]
                covered |= df.index.isin(hit)
        batch.flag(df, round_ok & hosp_ok & prod_ok & ~covered, "product_code", reasons.NO_AWARD)
        return df

    def existing(self, df):
        keys = _keys(
            df,
            {
                "round_id": "round_id",
                "hospital_code": "hospital_id",
                "product_code": "product_id",
                "year_start": "year_start",
            },
        )
        keys = keys.assign(round_id=pd.array(keys["round_id"], dtype="Int64"))
        sql = (
            f"SELECT r.code AS round_code, t.hospital_id AS hospital_code, t.product_id AS product_code, "
            f"t.year_start, t.year_end, t.agreed_qty FROM {T_AGREEMENT} t "
            f"JOIN {{keys}} k ON t.round_id = k.round_id AND t.hospital_id = k.hospital_id "
            f"AND t.product_id = k.product_id AND t.year_start = k.year_start "
            f"JOIN {T_ROUND} r ON r.id = t.round_id"
        )
        types = {"round_id": "bigint", "hospital_id": "text", "product_id": "text", "year_start": "date"}
        return fetch_by_keys(keys, types, sql)

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], month(rows["year_start"]))

    def write(self, batch):
        from procurement.services.loading import agreements_create

        return agreements_create(rows=batch.plan.create), 0


# -- orders ---------------------------------------------------------------------------


class OrderLoader(DocumentLoader):
    chunkable = True
    spec = tables.ORDERS
    compare_columns = ("hospital_code", "distributor_credit_code", "product_code", "qty", "unit_price", "ordered_at")

    def resolve(self, batch, df):
        hospitals = refs.hospital_regions()
        roles = refs.enterprise_roles()
        hosp_ok = self.flag_unknown(batch, df, "hospital_code", hospitals)
        dist_ok = self.flag_unknown(batch, df, "distributor_credit_code", roles)
        self.flag_unknown(batch, df, "product_code", refs.product_categories())
        role = refs.mapped(df["distributor_credit_code"], roles)
        batch.flag(
            df,
            dist_ok & ~role.isin(["distributor", "both"]).to_numpy(),
            "distributor_credit_code",
            reasons.NOT_DISTRIBUTOR,
        )
        batch.flag(df, _le(df["line_no"], 0), "line_no", reasons.NOT_POSITIVE)
        batch.flag(df, _le(df["qty"], 0), "qty", reasons.NOT_POSITIVE)
        batch.flag(df, _lt(df["unit_price"], 0), "unit_price", reasons.NEGATIVE)
        df = df.copy()
        df["hospital_region"] = refs.mapped(df["hospital_code"], hospitals).fillna("")
        scope = refs.scope_of(batch.user)
        batch.flag(
            df,
            hosp_ok & ~scope.hospital_rows(df["hospital_code"], df["hospital_region"]),
            "hospital_code",
            reasons.OUT_OF_SCOPE,
        )
        batch.flag(
            df,
            dist_ok & ~scope.enterprise_rows(df["distributor_credit_code"]),
            "distributor_credit_code",
            reasons.OUT_OF_SCOPE,
        )
        df["order_date"] = shanghai_date(df["ordered_at"])
        return df

    def existing(self, df):
        sql = (
            f"SELECT t.order_no, t.line_no, t.hospital_id AS hospital_code, t.distributor_id AS distributor_credit_code, "
            f"t.product_id AS product_code, t.qty, t.unit_price, t.ordered_at FROM {T_ORDER} t "
            f"JOIN {{keys}} k ON t.order_no = k.order_no AND t.line_no = k.line_no"
        )
        return fetch_by_keys(df[["order_no", "line_no"]], {"order_no": "text", "line_no": "bigint"}, sql)

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], month(rows["order_date"]))

    def write(self, batch):
        from procurement.services.loading import order_lines_create

        return order_lines_create(rows=batch.plan.create), 0


# -- deliveries -----------------------------------------------------------------------


class DeliveryLoader(DocumentLoader):
    chunkable = True
    spec = tables.DELIVERIES
    compare_columns = ("order_no", "order_line_no", "qty", "batch_no", "expiry_date", "delivered_at")

    def resolve(self, batch, df):
        batch.flag(df, _le(df["line_no"], 0), "line_no", reasons.NOT_POSITIVE)
        batch.flag(df, _le(df["order_line_no"], 0), "order_line_no", reasons.NOT_POSITIVE)
        batch.flag(df, _le(df["qty"], 0), "qty", reasons.NOT_POSITIVE)
        sql = (
            f"SELECT o.order_no, o.line_no AS order_line_no, o.id AS order_line_id, o.qty AS order_qty, o.ordered_at, "
            f"o.hospital_id AS hospital_code, o.distributor_id AS distributor_credit_code, h.region_id AS hospital_region, "
            f"(SELECT COALESCE(SUM(d.qty), 0) FROM {T_DELIVERY} d WHERE d.order_line_id = o.id) AS delivered_before "
            f"FROM {{keys}} k JOIN {T_ORDER} o ON o.order_no = k.order_no AND o.line_no = k.line_no "
            f"JOIN {T_HOSPITAL} h ON h.code = o.hospital_id"
        )
        keys = _keys(df[df["order_line_no"].notna()], {"order_no": "order_no", "order_line_no": "line_no"})
        found = canonical(
            fetch_by_keys(keys, {"order_no": "text", "line_no": "bigint"}, sql),
            {
                "order_line_no": "int",
                "order_line_id": "int",
                "order_qty": "int",
                "ordered_at": "timestamp",
                "delivered_before": "int",
            },
        )
        merged = df.reset_index().merge(found, on=["order_no", "order_line_no"], how="left").set_index("row")
        scope = refs.scope_of(batch.user)
        found_mask = merged["order_line_id"].notna().to_numpy()
        visible = found_mask & scope.hospital_rows(merged["hospital_code"], merged["hospital_region"])
        visible &= scope.enterprise_rows(merged["distributor_credit_code"].fillna(""))
        # Another party's order line looks like a missing one (404, not 403).
        batch.flag(merged, _nonblank(merged["order_no"]) & ~visible, "order_no", reasons.UNKNOWN_REFERENCE)
        early = (merged["delivered_at"] < merged["ordered_at"]).fillna(False).to_numpy(dtype=bool)
        batch.flag(merged, visible & early, "delivered_at", reasons.DELIVERED_BEFORE_ORDERED)
        merged["delivery_date"] = shanghai_date(merged["delivered_at"])
        return merged

    def existing(self, df):
        sql = (
            f"SELECT t.delivery_no, t.line_no, o.order_no, o.line_no AS order_line_no, t.qty, t.batch_no, "
            f"t.expiry_date, t.delivered_at FROM {T_DELIVERY} t "
            f"JOIN {{keys}} k ON t.delivery_no = k.delivery_no AND t.line_no = k.line_no "
            f"JOIN {T_ORDER} o ON o.id = t.order_line_id"
        )
        return fetch_by_keys(df[["delivery_no", "line_no"]], {"delivery_no": "text", "line_no": "bigint"}, sql)

    def after_compare(self, batch, new):
        """Σ delivered per order line (stored + new rows of this file, in file order) ≤ ordered."""
        if new.empty:
            return
        before = new["delivered_before"]
        # Read in chunks: the new rows of the file's earlier chunks count as delivered before.
        earlier = batch.context.get("delivered_in_file")
        if earlier is not None and len(earlier):
            before = before + new["order_line_id"].map(earlier).fillna(0).astype("Int64")
        running = new.groupby("order_line_id", sort=False)["qty"].cumsum() + before
        this_chunk = new.groupby("order_line_id")["qty"].sum().astype("int64")
        this_chunk.index = this_chunk.index.astype("int64")
        batch.context["delivered_in_file"] = (
            this_chunk if earlier is None else earlier.add(this_chunk, fill_value=0).astype("int64")
        )
        over = (running > new["order_qty"]).fillna(False).to_numpy(dtype=bool)
        detail = [f"{int(r)} > {int(q)}" for r, q in zip(running[over], new["order_qty"][over], strict=True)]
        full = np.full(len(new), "", dtype=object)
        full[over] = detail
        batch.flag(new, over, "qty", reasons.OVER_DELIVERED, detail=full)

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], month(rows["delivery_date"]))

    def write(self, batch):
        from procurement.services.loading import delivery_lines_create

        return delivery_lines_create(rows=batch.plan.create), 0


# -- receipts -------------------------------------------------------------------------


class ReceiptLoader(DocumentLoader):
    chunkable = True
    spec = tables.RECEIPTS
    compare_columns = ("accepted_qty", "rejected_qty", "received_at", "reject_reason")
    conflict_reason = reasons.RECEIPT_CONFLICT

    def resolve(self, batch, df):
        batch.flag(df, _lt(df["accepted_qty"], 0), "accepted_qty", reasons.NEGATIVE)
        batch.flag(df, _lt(df["rejected_qty"], 0), "rejected_qty", reasons.NEGATIVE)
        rejected = (df["rejected_qty"] > 0).fillna(False).to_numpy(dtype=bool)
        batch.flag(
            df, rejected & (df["reject_reason"] == "").to_numpy(), "reject_reason", reasons.REJECT_REASON_REQUIRED
        )
        sql = (
            f"SELECT t.delivery_no, t.line_no, t.id AS delivery_line_id, t.qty AS delivered_qty, t.delivered_at, "
            f"t.received_at AS stored_received_at, t.accepted_qty AS stored_accepted_qty, "
            f"t.rejected_qty AS stored_rejected_qty, t.reject_reason AS stored_reject_reason, o.hospital_id AS hospital_code, "
            f"o.distributor_id AS distributor_credit_code, h.region_id AS hospital_region "
            f"FROM {{keys}} k JOIN {T_DELIVERY} t ON t.delivery_no = k.delivery_no AND t.line_no = k.line_no "
            f"JOIN {T_ORDER} o ON o.id = t.order_line_id JOIN {T_HOSPITAL} h ON h.code = o.hospital_id"
        )
        found = canonical(
            fetch_by_keys(df[["delivery_no", "line_no"]].dropna(), {"delivery_no": "text", "line_no": "bigint"}, sql),
            {
                "line_no": "int",
                "delivery_line_id": "int",
                "delivered_qty": "int",
                "delivered_at": "timestamp",
                "stored_received_at": "timestamp",
                "stored_accepted_qty": "int",
                "stored_rejected_qty": "int",
            },
        )
        merged = df.reset_index().merge(found, on=["delivery_no", "line_no"], how="left").set_index("row")
        scope = refs.scope_of(batch.user)
        found_mask = merged["delivery_line_id"].notna().to_numpy()
        visible = found_mask & scope.hospital_rows(merged["hospital_code"], merged["hospital_region"])
        visible &= scope.enterprise_rows(merged["distributor_credit_code"].fillna(""))
        # Another hospital's delivery line answers as if it did not exist.
        batch.flag(merged, _nonblank(merged["delivery_no"]) & ~visible, "delivery_no", reasons.UNKNOWN_REFERENCE)
        total = merged["accepted_qty"] + merged["rejected_qty"]
        mismatch = (total != merged["delivered_qty"]).fillna(False).to_numpy(dtype=bool) & visible
        detail = (
            np.array(
                [
                    f"{a} + {r} ≠ {d}"
                    for a, r, d in zip(
                        merged["accepted_qty"], merged["rejected_qty"], merged["delivered_qty"], strict=True
                    )
                ],
                dtype=object,
            )
            if mismatch.any()
            else None
        )
        batch.flag(merged, mismatch, "accepted_qty", reasons.QTY_MISMATCH, detail=detail)
        early = (merged["received_at"] < merged["delivered_at"]).fillna(False).to_numpy(dtype=bool)
        batch.flag(merged, visible & early, "received_at", reasons.RECEIVED_BEFORE_DELIVERED)
        merged["accepted_date"] = shanghai_date(merged["received_at"])
        return merged

    def existing(self, df):
        """The stored receipts came with the delivery lines in ``resolve`` (one query, not two)."""
        stored = df[df["stored_received_at"].notna()]
        return pd.DataFrame(
            {
                "delivery_no": stored["delivery_no"],
                "line_no": stored["line_no"],
                "accepted_qty": stored["stored_accepted_qty"],
                "rejected_qty": stored["stored_rejected_qty"],
                "received_at": stored["stored_received_at"],
                "reject_reason": stored["stored_reject_reason"].fillna(""),
            }
        ).reset_index(drop=True)

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], month(rows["accepted_date"]))

    def write(self, batch):
        from procurement.services.loading import receipts_apply

        updated = receipts_apply(rows=batch.plan.create, user=batch.user)
        return 0, updated


# -- invoices -------------------------------------------------------------------------


class InvoiceLoader(DocumentLoader):
    spec = tables.INVOICES
    chunkable = True
    self_referencing = True  # a red line may reverse a blue line of the same file
    compare_columns = tuple(c for c in tables.INVOICES.column_names if c not in tables.INVOICES.key)

    def resolve(self, batch, df):
        for col in ("line_no", "delivery_line_no"):
            batch.flag(df, _le(df[col], 0), col, reasons.NOT_POSITIVE)
        problems = invoice_number_problems(df["invoice_no"], df["invoice_code"])
        batch.flag(df, problems["invoice_no"], "invoice_no", reasons.INVOICE_NO)
        batch.flag(df, problems["invoice_code_unexpected"], "invoice_code", reasons.INVOICE_CODE_UNEXPECTED)
        batch.flag(df, problems["invoice_code"], "invoice_code", reasons.INVOICE_CODE)
        red = (df["kind"] == "red").to_numpy()
        blue = (df["kind"] == "blue").to_numpy()
        has_original = _nonblank(df["original_invoice_no"])
        batch.flag(df, red & ~has_original, "original_invoice_no", reasons.ORIGINAL_REQUIRED)
        batch.flag(
            df,
            blue & (has_original | _nonblank(df["original_invoice_code"])),
            "original_invoice_no",
            reasons.ORIGINAL_UNEXPECTED,
        )
        original = invoice_number_problems(df["original_invoice_no"], df["original_invoice_code"])
        batch.flag(df, red & original["invoice_no"], "original_invoice_no", reasons.INVOICE_NO)
        batch.flag(
            df, red & original["invoice_code_unexpected"], "original_invoice_code", reasons.INVOICE_CODE_UNEXPECTED
        )
        batch.flag(df, red & original["invoice_code"], "original_invoice_code", reasons.INVOICE_CODE)
        qty, amount = df["qty"], df["amount"]
        batch.flag(
            df, blue & _le(qty, 0) | red & (qty >= 0).fillna(False).to_numpy(dtype=bool), "qty", reasons.SIGN_BY_KIND
        )
        batch.flag(
            df,
            blue & _lt(amount, 0) | red & (amount > 0).fillna(False).to_numpy(dtype=bool),
            "amount",
            reasons.SIGN_BY_KIND,
        )
        batch.flag(df, _lt(df["unit_price"], 0), "unit_price", reasons.NEGATIVE)
        batch.flag(
            df,
            _lt(df["tax_rate"], 0) | (df["tax_rate"] >= 10_000).fillna(False).to_numpy(dtype=bool),
            "tax_rate",
            reasons.TAX_RATE_RANGE,
        )
        hospitals = refs.hospital_regions()
        roles = refs.enterprise_roles()
        hosp_ok = self.flag_unknown(batch, df, "hospital_code", hospitals)
        dist_ok = self.flag_unknown(batch, df, "distributor_credit_code", roles)
        role = refs.mapped(df["distributor_credit_code"], roles)
        batch.flag(
            df,
            dist_ok & ~role.isin(["distributor", "both"]).to_numpy(),
            "distributor_credit_code",
            reasons.NOT_DISTRIBUTOR,
        )
        df = df.copy()
        df["hospital_region"] = refs.mapped(df["hospital_code"], hospitals).fillna("")
        scope = refs.scope_of(batch.user)
        batch.flag(
            df,
            dist_ok & ~scope.enterprise_rows(df["distributor_credit_code"]),
            "distributor_credit_code",
            reasons.OUT_OF_SCOPE,
        )
        batch.flag(
            df,
            hosp_ok & ~scope.hospital_rows(df["hospital_code"], df["hospital_region"]),
            "hospital_code",
            reasons.OUT_OF_SCOPE,
        )
        # The red line's blue original: stored, or a valid blue row of this file.
        blue_pairs = set(
            zip(df["invoice_code"].to_numpy()[blue].tolist(), df["invoice_no"].to_numpy()[blue].tolist(), strict=True)
        )
        if red.any():
            want = red & has_original
            reds = df[want]
            sql = (
                f"SELECT DISTINCT t.invoice_code, t.invoice_no FROM {T_INVOICE} t JOIN {{keys}} k "
                f"ON t.invoice_code = k.invoice_code AND t.invoice_no = k.invoice_no WHERE t.kind = 'blue'"
            )
            stored = fetch_by_keys(
                _keys(reds, {"original_invoice_code": "invoice_code", "original_invoice_no": "invoice_no"}),
                {"invoice_code": "text", "invoice_no": "text"},
                sql,
            )
            # Only the red lines' pairs are looked up (the blue rows are many, the red few).
            pairs = pd.Series(
                list(zip(reds["original_invoice_code"], reds["original_invoice_no"], strict=True)),
                index=reds.index,
                dtype=object,
            )
            wanted = set(pairs)
            originals = set(map(tuple, stored.astype(str).to_numpy().tolist())) if len(stored) else set()
            originals |= wanted & blue_pairs
            # Read in chunks: blue rows of the file's other chunks (see ``end_chunk``).
            originals |= wanted & batch.context.get("blue_in_file", set())
            unknown = np.zeros(len(df), dtype=bool)
            unknown[want] = ~refs.known(pairs, originals)
            batch.flag(df, unknown, "original_invoice_no", reasons.UNKNOWN_REFERENCE)
            if unknown.any():
                batch.context.setdefault("unresolved_originals", set()).update(pairs[unknown[want]].tolist())
        if "chunk_blue" not in batch.context:  # the chunk's blue rows as first checked
            batch.context["chunk_blue"] = blue_pairs
        # The delivery line, when it exists (else NULL: matching reports NO_DELIVERY).
        sql = (
            f"SELECT t.delivery_no, t.line_no AS delivery_line_no, t.id AS delivery_line_id FROM {T_DELIVERY} t "
            f"JOIN {{keys}} k ON t.delivery_no = k.delivery_no AND t.line_no = k.line_no"
        )
        lines = canonical(
            fetch_by_keys(
                _keys(
                    df[df["delivery_line_no"].notna()], {"delivery_no": "delivery_no", "delivery_line_no": "line_no"}
                ),
                {"delivery_no": "text", "line_no": "bigint"},
                sql,
            ),
            {"delivery_line_no": "int", "delivery_line_id": "int"},
        )
        merged = df.reset_index().merge(lines, on=["delivery_no", "delivery_line_no"], how="left").set_index("row")
        return merged

    def end_chunk(self, batch: ImportBatch, *, lenient: bool) -> None:
        """Remember the chunk's blue rows for the red lines of later chunks: strict, every
        blue row that was checked (as a whole-file check sees them); lenient, the survivors."""
        checked = batch.context.pop("chunk_blue", set())
        if lenient:
            ok = batch.valid()
            blue = (ok["kind"] == "blue").to_numpy()
            checked = set(
                zip(
                    ok["invoice_code"].to_numpy()[blue].tolist(),
                    ok["invoice_no"].to_numpy()[blue].tolist(),
                    strict=True,
                )
            )
        batch.context.setdefault("blue_in_file", set()).update(checked)

    def existing(self, df):
        cols = ", ".join(
            [
                "t.invoice_code",
                "t.invoice_no",
                "t.line_no",
                "t.kind",
                "t.original_invoice_no",
                "t.original_invoice_code",
                "t.distributor_id AS distributor_credit_code",
                "t.hospital_id AS hospital_code",
                "t.delivery_no",
                "t.delivery_line_no",
                "t.qty",
                "t.unit_price",
                "t.amount",
                "t.tax_rate",
                "t.issued_at",
            ]
        )
        sql = (
            f"SELECT {cols} FROM {T_INVOICE} t JOIN {{keys}} k ON t.invoice_code = k.invoice_code "
            f"AND t.invoice_no = k.invoice_no AND t.line_no = k.line_no"
        )
        return fetch_by_keys(
            df[["invoice_code", "invoice_no", "line_no"]],
            {"invoice_code": "text", "invoice_no": "text", "line_no": "bigint"},
            sql,
        )

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], month(rows["issued_at"]))

    def write(self, batch):
        from settlement.services.loading import invoice_lines_create

        return invoice_lines_create(rows=batch.plan.create), 0


# -- fund allocations -----------------------------------------------------------------


class FundAllocationLoader(DocumentLoader):
    spec = tables.FUND_ALLOCATIONS
    compare_columns = ("amount",)

    def resolve(self, batch, df):
        hospitals = refs.hospital_regions()
        ok = self.flag_unknown(batch, df, "hospital_code", hospitals)
        batch.flag(df, _lt(df["amount"], 0), "amount", reasons.NEGATIVE)
        df = df.copy()
        df["hospital_region"] = refs.mapped(df["hospital_code"], hospitals).fillna("")
        in_scope = refs.scope_of(batch.user).hospital_rows(df["hospital_code"], df["hospital_region"])
        batch.flag(df, ok & ~in_scope, "hospital_code", reasons.OUT_OF_SCOPE)
        return df

    def existing(self, df):
        sql = (
            f"SELECT t.hospital_id AS hospital_code, t.period, t.amount FROM {T_FUND} t "
            f"JOIN {{keys}} k ON t.hospital_id = k.hospital_id AND t.period = k.period"
        )
        return fetch_by_keys(
            _keys(df, {"hospital_code": "hospital_id", "period": "period"}),
            {"hospital_id": "text", "period": "text"},
            sql,
        )

    def partitions(self, rows):
        return partitions_of(rows["hospital_region"], rows["period"])

    def write(self, batch):
        from settlement.services.loading import fund_allocations_create

        return fund_allocations_create(rows=batch.plan.create), 0


__all__ = [
    "AgreementLoader",
    "AwardLoader",
    "DeliveryLoader",
    "FundAllocationLoader",
    "InvoiceLoader",
    "OrderLoader",
    "ReceiptLoader",
    "timestamps_from_db",
]
