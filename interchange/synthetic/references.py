"""Reference prices (INTERCHANGE.md reference_prices): listings, other provinces' and the
national minimum, pharmacies' retail prices of high-value drugs, and the pre-集采 baseline.

Every price is integer 1/10000 yuan. Minimum prices are set so that a listing stays
within LISTING_ABOVE_REFERENCE's 5% tolerance, except for the products whose role is
``ROLE_LISTING_ABOVE_REF``; retail prices stay under the listing except for a few.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interchange.synthetic.formats import month_start_day
from interchange.synthetic.master import ROLE_LISTING_ABOVE_REF, Master, scaled
from interchange.synthetic.scales import Calendar
from interchange.synthetic.vocabulary import PROVINCE_CODE

HIGH_VALUE_E4 = 1000 * 10_000  # HIGH_VALUE_PRICE, 1,000 yuan a package
REFERENCE_TOLERANCE_PCT = 5


def build_reference_prices(
    rng: np.random.Generator,
    master: Master,
    cal: Calendar,
    district_listings: list[tuple[str, int, int]],
) -> pd.DataFrame:
    """Rows (product index, source, region, price_e4, effective day).

    ``district_listings`` are (district code, product index, price_e4): a district
    listing under what its hospitals pay (PRICE_ABOVE_LISTING through the most specific
    region).
    """
    n_p = len(master.p_code)
    rows: list[tuple[int, str, str, int, int]] = []
    last_month_start = month_start_day(int(cal.months[-1]))
    for p in range(n_p):
        base = int(master.p_base_e4[p])
        rows.append((p, "listing", PROVINCE_CODE, base, cal.price_history_day))
        if master.p_awarded[p]:
            rows.append((p, "listing", PROVINCE_CODE, int(master.p_award_e4[p]), cal.year_start_day))
            baseline = int(scaled(base, int(rng.integers(950, 1101))))
            rows.append((p, "baseline", PROVINCE_CODE, baseline, cal.price_history_day))
        if len(cal.months) >= 2 and master.p_listing_e4[p, -1] != master.p_listing_e4[p, -2]:
            rows.append((p, "listing", PROVINCE_CODE, int(master.p_listing_e4[p, -1]), last_month_start))
    for district, p, price in district_listings:
        rows.append((p, "listing", district, price, cal.price_history_day))

    # Other provinces' and the national minimum: at least listing/1.05 for the highest
    # listing of the data period, so only the chosen products breach the tolerance.
    top = master.p_listing_e4.max(axis=1)
    floor = (top * 100 + 104) // 105  # ceil(top × 100 / 105)
    has_min = (rng.random(n_p) < 0.85) | (master.p_role == ROLE_LISTING_ABOVE_REF)
    province_min = floor + (top * rng.integers(0, 41, n_p)) // 1000
    national_min = floor + (top * rng.integers(0, 31, n_p)) // 1000
    lar = master.p_role == ROLE_LISTING_ABOVE_REF
    national_min = np.where(lar, scaled(top, 800), national_min)
    for p in np.flatnonzero(has_min):
        rows.append((int(p), "province_min", PROVINCE_CODE, int(province_min[p]), cal.reference_day))
        rows.append((int(p), "national_min", PROVINCE_CODE, int(national_min[p]), cal.reference_day))

    # Designated pharmacies' retail prices of high-value drugs; a few above the listing.
    hv = np.flatnonzero(master.p_high_value & (master.p_listing_e4.min(axis=1) >= HIGH_VALUE_E4))
    n_bad = min(len(hv), max(2, round(0.2 * len(hv))))
    bad = set(rng.choice(hv, size=n_bad, replace=False).tolist()) if len(hv) else set()
    for p in hv:
        listing = int(master.p_listing_e4[p, -1])
        permille = int(rng.integers(1050, 1251)) if int(p) in bad else int(rng.integers(900, 991))
        rows.append((int(p), "retail", PROVINCE_CODE, int(scaled(listing, permille)), cal.reference_day))
    frame = pd.DataFrame(rows, columns=["p", "source", "region_code", "price_e4", "effective_day"])
    return frame.sort_values(["p", "source", "region_code", "effective_day"], kind="stable").reset_index(drop=True)
