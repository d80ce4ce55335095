"""Master data: regions, enterprises, hospitals, products, rounds, reference prices.

Re-importing a changed row updates it in place; every created or changed row gets an
``AuditEntry`` (field → [old, new]) through the owning app's loading service.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interchange import reasons, tables
from interchange.loaders import refs
from interchange.loaders.base import (
    ImportBatch,
    TableLoader,
    audit_changes,
    canonical,
    compare,
    kinds_of,
    month,
    partitions_of,
)
from interchange.loaders.identifiers import (
    BANK_ACCOUNT_RE,
    HOSPITAL_RE,
    REGION_RE,
    credit_code_problems,
    matches,
    product_category,
)
from parties.identifiers import region_prefix
from parties.models import Enterprise, Hospital, Region
from price_monitor.models import ReferencePrice
from procurement.models import Product, Round


def _frame(qs, columns: list[str], names: list[str]) -> pd.DataFrame:
    rows = list(qs.values_list(*columns))
    return pd.DataFrame.from_records(rows, columns=names).astype(object) if rows else pd.DataFrame(columns=names)


class MasterLoader(TableLoader):
    def existing(self, df: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def rules(self, batch: ImportBatch, df: pd.DataFrame) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def partitions(self, rows: pd.DataFrame) -> set[tuple[str, str]]:
        return set()

    def check(self, batch: ImportBatch) -> None:
        spec = self.spec
        self.rules(batch, batch.valid())
        df = batch.valid()
        kinds = kinds_of(spec)
        key = list(spec.key)
        cols = [c for c in spec.column_names if c not in key]
        existing = canonical(self.existing(df), kinds)
        cmp = compare(df, existing, key, cols)
        batch.plan.create = cmp.new
        batch.plan.update = cmp.differing[list(spec.column_names)] if not cmp.differing.empty else cmp.differing
        batch.plan.changes = audit_changes(cmp, key, kinds)
        batch.plan.unchanged = len(cmp.same)
        touched = pd.concat([cmp.new, batch.plan.update]) if len(cmp.differing) else cmp.new
        batch.plan.partitions = self.partitions(touched)

    def write(self, batch: ImportBatch) -> tuple[int, int]:
        return self.save(batch, batch.plan.create, batch.plan.update, batch.plan.changes)

    def save(self, batch, create, update, changes) -> tuple[int, int]:  # pragma: no cover - interface
        raise NotImplementedError


class RegionLoader(MasterLoader):
    spec = tables.REGIONS
    self_referencing = True

    def existing(self, df):
        return _frame(Region.objects.all(), ["code", "name", "parent_id"], ["region_code", "name", "parent_code"])

    def rules(self, batch, df):
        code, parent = df["region_code"], df["parent_code"]
        batch.flag(df, ~matches(code, REGION_RE), "region_code", reasons.REGION_FORMAT)
        has_parent = (parent != "").to_numpy()
        parent_shaped = matches(parent, REGION_RE)
        batch.flag(df, has_parent & ~parent_shaped, "parent_code", reasons.REGION_FORMAT)
        in_file = set(code[matches(code, REGION_RE)])
        known = refs.known(parent, refs.region_codes() | in_file)
        batch.flag(df, has_parent & parent_shaped & ~known, "parent_code", reasons.UNKNOWN_REFERENCE)
        prefixes = refs.mapped(parent, {p: region_prefix(p) for p in parent.unique() if p})
        covers = np.array(
            [
                bool(p) and c.startswith(p) and c != par
                for c, p, par in zip(code, prefixes.fillna(""), parent, strict=True)
            ],
            dtype=bool,
        )
        batch.flag(df, has_parent & parent_shaped & known & ~covers, "parent_code", reasons.PARENT_NOT_COVERING)
        batch.flag(df, ~refs.scope_of(batch.user).region_rows(code), "region_code", reasons.OUT_OF_SCOPE)

    def save(self, batch, create, update, changes):
        from parties.services.loading import regions_upsert

        return regions_upsert(create=create, update=update, changes=changes, source=batch.source, user=batch.user)


class EnterpriseLoader(MasterLoader):
    spec = tables.ENTERPRISES

    def existing(self, df):
        return _frame(
            Enterprise.objects.all(),
            ["credit_code", "name", "role", "bank_name", "bank_account"],
            ["credit_code", "name", "role", "bank_name", "bank_account"],
        )

    def rules(self, batch, df):
        bad_format, bad_check = credit_code_problems(df["credit_code"])
        batch.flag(df, bad_format, "credit_code", reasons.CREDIT_FORMAT)
        batch.flag(df, bad_check, "credit_code", reasons.CREDIT_CHECK)
        distributor = df["role"].isin(["distributor", "both"]).to_numpy()
        batch.flag(df, distributor & (df["bank_name"] == "").to_numpy(), "bank_name", reasons.BANK_REQUIRED)
        batch.flag(df, distributor & (df["bank_account"] == "").to_numpy(), "bank_account", reasons.BANK_REQUIRED)
        account = df["bank_account"]
        batch.flag(
            df, (account != "").to_numpy() & ~matches(account, BANK_ACCOUNT_RE), "bank_account", reasons.BANK_ACCOUNT
        )

    def save(self, batch, create, update, changes):
        from parties.services.loading import enterprises_upsert

        return enterprises_upsert(create=create, update=update, changes=changes, source=batch.source, user=batch.user)


class HospitalLoader(MasterLoader):
    spec = tables.HOSPITALS

    def existing(self, df):
        return _frame(
            Hospital.objects.all(),
            ["code", "name", "region_id", "level", "ownership"],
            ["hospital_code", "name", "region_code", "level", "ownership"],
        )

    def rules(self, batch, df):
        code, region = df["hospital_code"], df["region_code"]
        regions = refs.region_codes()
        shaped = matches(code, HOSPITAL_RE)
        batch.flag(df, ~shaped, "hospital_code", reasons.HOSPITAL_FORMAT)
        embedded = code.str.slice(1, 7)
        batch.flag(df, shaped & ~refs.known(embedded, regions), "hospital_code", reasons.HOSPITAL_REGION_UNKNOWN)
        region_shaped = matches(region, REGION_RE)
        batch.flag(df, ~region_shaped, "region_code", reasons.REGION_FORMAT)
        batch.flag(df, region_shaped & ~refs.known(region, regions), "region_code", reasons.UNKNOWN_REFERENCE)
        batch.flag(df, ~refs.scope_of(batch.user).region_rows(region), "region_code", reasons.OUT_OF_SCOPE)

    def save(self, batch, create, update, changes):
        from parties.services.loading import hospitals_upsert

        return hospitals_upsert(create=create, update=update, changes=changes, source=batch.source, user=batch.user)


class ProductLoader(MasterLoader):
    spec = tables.PRODUCTS

    def existing(self, df):
        cols = [
            "code",
            "category",
            "generic_name",
            "dosage_form",
            "specification",
            "package",
            "units_per_package",
            "manufacturer_id",
        ]
        return _frame(Product.objects.all(), cols, list(self.spec.column_names))

    def rules(self, batch, df):
        code, category = df["product_code"], df["category"]
        shape = product_category(code)
        batch.flag(df, (shape == "").to_numpy(), "product_code", reasons.PRODUCT_FORMAT)
        batch.flag(
            df,
            ((shape != "") & (category != "") & (shape != category)).to_numpy(),
            "product_code",
            reasons.PRODUCT_CATEGORY,
        )
        drug_without_form = ((category == "drug") & (df["dosage_form"] == "")).to_numpy()
        batch.flag(df, drug_without_form, "dosage_form", reasons.DOSAGE_FORM_REQUIRED)
        batch.flag(
            df, (df["units_per_package"] <= 0).fillna(False).to_numpy(), "units_per_package", reasons.NOT_POSITIVE
        )
        manufacturer = df["manufacturer_credit_code"]
        batch.flag(
            df,
            (manufacturer != "").to_numpy() & ~refs.known(manufacturer, refs.enterprise_roles()),
            "manufacturer_credit_code",
            reasons.UNKNOWN_REFERENCE,
        )

    def save(self, batch, create, update, changes):
        from procurement.services.loading import products_upsert

        return products_upsert(create=create, update=update, changes=changes, source=batch.source, user=batch.user)


class RoundLoader(MasterLoader):
    spec = tables.ROUNDS

    def existing(self, df):
        df = _frame(
            Round.objects.all(),
            ["code", "name", "level", "category", "start_date", "end_date"],
            list(self.spec.column_names),
        )
        for c in ("start_date", "end_date"):
            df[c] = df[c].map(lambda d: d.isoformat() if d else "")
        return df

    def rules(self, batch, df):
        ordered = (df["start_date"] != "") & (df["end_date"] != "")
        batch.flag(
            df, (ordered & (df["end_date"] <= df["start_date"])).to_numpy(), "end_date", reasons.END_NOT_AFTER_START
        )

    def save(self, batch, create, update, changes):
        from procurement.services.loading import rounds_upsert

        return rounds_upsert(create=create, update=update, changes=changes, source=batch.source, user=batch.user)


class ReferencePriceLoader(MasterLoader):
    spec = tables.REFERENCE_PRICES

    def existing(self, df):
        products = df["product_code"].unique().tolist()
        qs = (
            ReferencePrice.objects.filter(product_id__in=products)
            if len(products) < 500
            else ReferencePrice.objects.all()
        )
        out = _frame(
            qs,
            ["product_id", "source", "region_id", "price", "effective_from"],
            list(self.spec.column_names),
        )
        out["effective_from"] = out["effective_from"].map(lambda d: d.isoformat() if d else "")
        return out

    def rules(self, batch, df):
        product, region = df["product_code"], df["region_code"]
        batch.flag(df, ~refs.known(product, refs.product_categories()), "product_code", reasons.UNKNOWN_REFERENCE)
        batch.flag(df, ~refs.known(region, refs.region_codes()), "region_code", reasons.UNKNOWN_REFERENCE)
        batch.flag(df, (df["price"] <= 0).fillna(False).to_numpy(), "price", reasons.NOT_POSITIVE)
        batch.flag(df, ~refs.scope_of(batch.user).region_rows(region), "region_code", reasons.OUT_OF_SCOPE)

    def partitions(self, rows):
        return partitions_of(rows["region_code"], month(rows["effective_from"]))

    def save(self, batch, create, update, changes):
        from price_monitor.services.loading import reference_prices_upsert

        return reference_prices_upsert(
            create=create, update=update, changes=changes, source=batch.source, user=batch.user
        )
