"""Look-ups of master data (small tables, read whole) and of the importing user's scope."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parties.models import Enterprise, Hospital, Region, Role
from parties.scoping import sees_everything, user_region_prefix
from procurement.models import Product, Round


def _frame(qs, columns: list[str]) -> pd.DataFrame:
    rows = list(qs.values_list(*columns))
    return pd.DataFrame.from_records(rows, columns=columns).astype(object) if rows else pd.DataFrame(columns=columns)


def region_codes() -> set[str]:
    return set(Region.objects.values_list("code", flat=True))


def enterprise_roles() -> dict[str, str]:
    return dict(Enterprise.objects.values_list("credit_code", "role"))


def hospital_regions() -> dict[str, str]:
    return dict(Hospital.objects.values_list("code", "region_id"))


def product_categories() -> dict[str, str]:
    return dict(Product.objects.values_list("code", "category"))


def rounds() -> pd.DataFrame:
    df = _frame(Round.objects.all(), ["code", "id", "start_date", "end_date"])
    if not df.empty:
        df["start_date"] = df["start_date"].map(lambda d: d.isoformat())
        df["end_date"] = df["end_date"].map(lambda d: d.isoformat())
    return df


def mapped(s: pd.Series, mapping: dict) -> pd.Series:
    """``s`` looked up in ``mapping`` (NaN where absent), on the distinct values only."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=False)
    looked = np.array([mapping.get(u) for u in uniques], dtype=object)
    return pd.Series(looked[codes] if len(codes) else np.array([], dtype=object), index=s.index, dtype=object)


def known(s: pd.Series, keys) -> np.ndarray:
    """Non-blank cells of ``s`` found in ``keys`` (set or dict)."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=False)
    hit = np.array([u in keys for u in uniques], dtype=bool)
    return hit[codes] if len(codes) else np.array([], dtype=bool)


@dataclass(frozen=True)
class Scope:
    """What the importing user may write: everything, one hospital, one enterprise or a region."""

    everything: bool = True
    hospital: str | None = None
    enterprise: str | None = None
    region_prefix: str | None = None

    def hospital_rows(self, hospital_codes: pd.Series, hospital_region: pd.Series) -> np.ndarray:
        """Mask of rows (by hospital) inside the scope (an enterprise may name any hospital)."""
        if self.everything or self.enterprise:
            return np.ones(len(hospital_codes), dtype=bool)
        if self.hospital:
            return (hospital_codes == self.hospital).to_numpy()
        if self.region_prefix:
            return hospital_region.fillna("").astype(str).str.startswith(self.region_prefix).to_numpy()
        return np.zeros(len(hospital_codes), dtype=bool)

    def region_rows(self, region_codes: pd.Series) -> np.ndarray:
        """Mask of rows (by a region column) inside the scope: the user's region and below."""
        if self.everything:
            return np.ones(len(region_codes), dtype=bool)
        if self.region_prefix:
            return region_codes.fillna("").astype(str).str.startswith(self.region_prefix).to_numpy()
        return np.zeros(len(region_codes), dtype=bool)

    def enterprise_rows(self, credit_codes: pd.Series) -> np.ndarray:
        """Mask of rows (by the enterprise party) inside the scope (hospitals/bureaus: any enterprise)."""
        if self.everything or self.region_prefix or self.hospital:
            return np.ones(len(credit_codes), dtype=bool)
        if self.enterprise:
            return (credit_codes == self.enterprise).to_numpy()
        return np.zeros(len(credit_codes), dtype=bool)


def scope_of(user) -> Scope:
    if user is None or sees_everything(user):
        return Scope()
    if user.role == Role.HOSPITAL:
        return Scope(everything=False, hospital=user.hospital_id or "\x00")
    if user.role == Role.ENTERPRISE:
        return Scope(everything=False, enterprise=user.enterprise_id or "\x00")
    prefix = user_region_prefix(user)
    return Scope(everything=False, region_prefix=prefix or "\x00")
