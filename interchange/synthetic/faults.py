"""The fault manifest (``faults.csv``) and the rules that find faults in the data.

Two kinds of record go into the manifest:

* injected faults, recorded where they are made (invoice exceptions, outliers, red
  invoices …), keyed by the natural key of the row they live in;
* rule faults that depend on the whole data set (SUPPLY_DELAY, RECEIPT_PENDING,
  AGREEMENT_BEHIND and the price rules), found here by applying DOMAIN.md's rule to
  the generated data, judged at the manifest's as-of date D (the last day of the data),
  so that collateral cases (a truncated delivery, a hospital that happens to pay more)
  are listed too.

Manifest columns: ``fault, table, key, detail``. Keys join their parts with ``/`` like
the alert subject keys of INTERCHANGE.md; invoice keys of paper invoices are
``invoice_code-invoice_no/line_no``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interchange.synthetic.flow import SUPPLY_WINDOW_S, Deliveries, Orders, Receipts
from interchange.synthetic.formats import day_of
from interchange.synthetic.references import HIGH_VALUE_E4, REFERENCE_TOLERANCE_PCT
from interchange.synthetic.scales import Calendar
from interchange.synthetic.vocabulary import PROVINCE_CODE

RECEIPT_CONFIRM_DAYS = 5
AGREEMENT_LAG_PCT = 10
SPIKE_THRESHOLD_PCT = 20
OUTLIER_MIN_PEERS = 5

MANIFEST_COLUMNS = ["fault", "table", "key", "detail"]


@dataclass
class FaultLog:
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, fault: str, table: str, keys: np.ndarray, detail: np.ndarray | str = "") -> None:
        keys = np.asarray(keys, dtype=object)
        if not len(keys):
            return
        detail_col = (
            np.full(len(keys), detail, dtype=object) if isinstance(detail, str) else np.asarray(detail, dtype=object)
        )
        self.parts.append(pd.DataFrame({"fault": fault, "table": table, "key": keys, "detail": detail_col}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=MANIFEST_COLUMNS)
        df = pd.concat(self.parts, ignore_index=True)
        return df.sort_values(["fault", "table", "key", "detail"], kind="stable").reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        df = self.frame()
        return {str(k): int(v) for k, v in df["fault"].value_counts().sort_index().items()}


def supply_delay(orders: Orders, dl: Deliveries, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Order lines of awarded products with less than the ordered quantity delivered by
    ordered_at + 48 h, where that moment is on or before the end of D.

    Returns (mask per order line, quantity delivered in time)."""
    deadline = orders.l_at + SUPPLY_WINDOW_S
    in_time = np.where(dl.a_at <= deadline, dl.a_qty, 0) + np.where(dl.b_at <= deadline, dl.b_qty, 0)
    judged = deadline < cal.cutoff_s  # cutoff = the first second after D
    return (orders.l_award > 0) & judged & (in_time < orders.l_qty), in_time


def receipt_pending(dl: Deliveries, rc: Receipts, cal: Calendar) -> np.ndarray:
    """Delivery lines with no receipt, delivered more than RECEIPT_CONFIRM_DAYS before D."""
    return ~rc.exists & (cal.as_of_day - day_of(dl.dl_at) > RECEIPT_CONFIRM_DAYS)


def agreement_behind(purchased: np.ndarray, agreed: np.ndarray, cal: Calendar) -> np.ndarray:
    """completion < expected − AGREEMENT_LAG, in integers (DOMAIN.md "Agreement progress")."""
    total = cal.year_end_day - cal.year_start_day + 1
    elapsed = min(max(cal.as_of_day - cal.year_start_day + 1, 0), total)
    completed = purchased >= agreed
    behind = purchased * total * 100 < agreed * (elapsed * 100 - AGREEMENT_LAG_PCT * total)
    return behind & ~completed


def hospital_product_months(h: np.ndarray, p: np.ndarray, month: np.ndarray) -> pd.DataFrame:
    """Distinct (h, p, month) triples, sorted."""
    df = pd.DataFrame({"h": h, "p": p, "m": month}).drop_duplicates()
    return df.sort_values(["h", "p", "m"], kind="stable").reset_index(drop=True)


def price_spikes(city: np.ndarray, p: np.ndarray, month: np.ndarray, price: np.ndarray) -> pd.DataFrame:
    """(city, p, month, prev median, median) where the month's median order price exceeds
    the previous month's by more than SPIKE_THRESHOLD. Medians are kept doubled, so
    they stay integers."""
    df = pd.DataFrame({"c": city, "p": p, "m": month, "x": price})
    med = df.groupby(["c", "p", "m"], sort=True)["x"].median().reset_index()
    med["x2"] = np.rint(med["x"].to_numpy() * 2).astype(np.int64)
    prev = med.assign(m=med["m"] + 1).rename(columns={"x2": "prev2"})[["c", "p", "m", "prev2"]]
    both = med.merge(prev, on=["c", "p", "m"], how="inner")
    hit = both["x2"].to_numpy() * 100 > both["prev2"].to_numpy() * (100 + SPIKE_THRESHOLD_PCT)
    return both.loc[hit, ["c", "p", "m", "prev2", "x2"]].reset_index(drop=True)


def price_outliers(
    region: np.ndarray, h: np.ndarray, p: np.ndarray, month: np.ndarray, price: np.ndarray
) -> pd.DataFrame:
    """Hospitals whose median price is far above their region's peers (DOMAIN.md
    PRICE_OUTLIER: robust z > 3.5 over ≥ 5 hospitals, or > 1.10 × median when MAD = 0).

    Values are kept doubled/quadrupled so that every median is an integer."""
    df = pd.DataFrame({"r": region, "h": h, "p": p, "m": month, "x": price})
    per_h = df.groupby(["r", "p", "m", "h"], sort=True)["x"].median().reset_index()
    per_h["x2"] = np.rint(per_h["x"].to_numpy() * 2).astype(np.int64)
    grp = per_h.groupby(["r", "p", "m"], sort=True)
    per_h["n"] = grp["h"].transform("size")
    per_h = per_h[per_h["n"] >= OUTLIER_MIN_PEERS].copy()
    grp = per_h.groupby(["r", "p", "m"], sort=True)
    per_h["med4"] = np.rint(grp["x2"].transform("median").to_numpy() * 2).astype(np.int64)
    per_h["dev4"] = np.abs(per_h["x2"].to_numpy() * 2 - per_h["med4"].to_numpy())
    per_h["mad8"] = np.rint(
        per_h.groupby(["r", "p", "m"], sort=True)["dev4"].transform("median").to_numpy() * 2
    ).astype(np.int64)
    x4 = per_h["x2"].to_numpy() * 2
    med4, mad8 = per_h["med4"].to_numpy(), per_h["mad8"].to_numpy()
    above = x4 > med4
    # 0.6745 × (x − med) / MAD > 3.5  ⇔  6745 × 2 × (x4 − med4) > 35000 × mad8
    z_hit = (mad8 > 0) & (6745 * 2 * (x4 - med4) > 35_000 * mad8)
    flat_hit = (mad8 == 0) & (x4 * 100 > med4 * 110)
    hit = above & (z_hit | flat_hit)
    return per_h.loc[hit, ["r", "h", "p", "m", "x2", "med4"]].reset_index(drop=True)


def listing_faults(refs: pd.DataFrame, as_of_day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LISTING_ABOVE_REFERENCE and RETAIL_ABOVE_LISTING with the prices in force at D.

    All minimum and retail prices are province-wide (370000), so they cover every
    listing region."""
    live = refs[refs["effective_day"] <= as_of_day]
    live = live.sort_values("effective_day", kind="stable").groupby(["p", "source", "region_code"], sort=True).tail(1)
    listing = live[live["source"] == "listing"][["p", "region_code", "price_e4"]]
    mins = live[live["source"].isin(["province_min", "national_min"])].groupby("p")["price_e4"].min().rename("min_e4")
    lar = listing.join(mins, on="p", how="inner")
    lar = lar[lar["price_e4"] * 100 > lar["min_e4"] * (100 + REFERENCE_TOLERANCE_PCT)]
    province_listing = listing[listing["region_code"] == PROVINCE_CODE].set_index("p")["price_e4"].rename("listing_e4")
    retail = live[live["source"] == "retail"][["p", "region_code", "price_e4"]].join(
        province_listing, on="p", how="inner"
    )
    retail = retail[(retail["listing_e4"] >= HIGH_VALUE_E4) & (retail["price_e4"] > retail["listing_e4"])]
    return lar.sort_values(["p", "region_code"]).reset_index(drop=True), retail.sort_values(
        ["p", "region_code"]
    ).reset_index(drop=True)
