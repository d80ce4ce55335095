"""Master data of the synthetic province: regions, enterprises, hospitals, products,
rounds and awards, and the price model every order line is priced from.

Prices are integers in 1/10000 yuan (``*_e4``). The price model:

* an awarded product (中选产品) is bought at the award covering the hospital: the
  city award where the hospital's city has one (lower than the province's), else the
  province award;
* any other product is bought at a negotiated price (二次议价) of 70-76% of the
  province listing that the price basis follows month by month.

Special products are chosen here so that the price faults they carry do not disturb
anything else: ``SPIKE`` products have their listing (and so the price) raised 30% in
the last month, ``LISTING_DROP`` products have their listing cut below what hospitals
keep paying in the last month, ``LISTING_ABOVE_REF`` products have a national minimum
far under their listing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interchange.synthetic import codes
from interchange.synthetic.formats import date_text, month_start_day, price_text
from interchange.synthetic.scales import Calendar, Scale
from interchange.synthetic.vocabulary import (
    BANKS,
    BOTH_SUFFIXES,
    CITIES,
    CONSUMABLES,
    DISTRIBUTOR_SUFFIXES,
    DRUGS,
    FIRM_STEMS,
    MANUFACTURER_HOME_CODES,
    MANUFACTURER_SUFFIXES,
    PRIMARY_KINDS,
    PRIVATE_KINDS,
    PROVINCE_CODE,
    PROVINCE_NAME,
    TOWN_STEMS,
)

TERTIARY, SECONDARY, PRIMARY = 0, 1, 2
LEVEL_NAMES = np.array(["tertiary", "secondary", "primary"], dtype=object)

ROLE_NORMAL, ROLE_SPIKE, ROLE_LISTING_DROP, ROLE_LISTING_ABOVE_REF = 0, 1, 2, 3

SPIKE_PERMILLE = 1300  # listing (and price) × 1.3 in the last month
LISTING_DROP_PERMILLE = 600  # listing × 0.6 in the last month, price unchanged
CITY_AWARD_PERMILLE = 900  # a city award 10% under the province award


def scaled(value_e4: np.ndarray | int, permille: np.ndarray | int) -> np.ndarray:
    """value × permille / 1000, rounded half up, in integers."""
    return (np.asarray(value_e4, dtype=np.int64) * permille + 500) // 1000


@dataclass
class Rounds:
    frame: pd.DataFrame  # the rounds table
    codes: list[str]
    category: list[str]


@dataclass
class Master:
    regions: pd.DataFrame
    city_codes: np.ndarray  # included cities, object
    district_codes: np.ndarray  # every included district, object
    district_city: np.ndarray  # city index of each district

    hospitals: pd.DataFrame
    h_code: np.ndarray
    h_region: np.ndarray  # region_code, object
    h_city: np.ndarray  # city index
    h_level: np.ndarray
    h_private: np.ndarray
    h_order_weight: np.ndarray  # probability of placing an order
    h_qty_mult: np.ndarray
    h_dists: np.ndarray  # (n_h, 3) enterprise indices of the hospital's distributors

    enterprises: pd.DataFrame
    e_code: np.ndarray  # credit codes, object
    distributors: np.ndarray  # enterprise indices with role distributor or both
    paper_invoice_code: np.ndarray  # per enterprise: 10-digit code of its paper invoices, "" if none

    products: pd.DataFrame
    p_code: np.ndarray
    p_drug: np.ndarray  # True for drugs
    p_high_value: np.ndarray
    p_common: np.ndarray  # primary care buys it
    p_popularity: np.ndarray  # probabilities
    p_lambda: np.ndarray  # mean packages per order line at a secondary hospital
    p_manufacturer: np.ndarray  # enterprise index
    p_base_e4: np.ndarray  # pre-集采 price
    p_awarded: np.ndarray
    p_round: np.ndarray  # round index or -1
    p_award_e4: np.ndarray  # province award, 0 if none
    p_city_award_city: np.ndarray  # city index of a city-specific award, -1 if none
    p_city_award_e4: np.ndarray
    p_role: np.ndarray
    p_factor_permille: np.ndarray  # negotiated price / listing
    p_listing_e4: np.ndarray  # (n_p, n_months) province listing in force during each month
    p_basis_e4: np.ndarray  # (n_p, n_months) listing the negotiated price follows

    rounds: Rounds
    awards: pd.DataFrame


def build_regions(scale: Scale) -> tuple[pd.DataFrame, list]:
    cities = list(CITIES[: scale.cities])
    if scale.name == "S":
        # Keep S small: four districts a city.
        cities = [c._replace(districts=c.districts[:4]) for c in cities]
    rows = [(PROVINCE_CODE, PROVINCE_NAME, "")]
    for city in cities:
        rows.append((city.code, city.name, PROVINCE_CODE))
        rows.extend((code, name, city.code) for code, name in city.districts)
    return pd.DataFrame(rows, columns=["region_code", "name", "parent_code"]), cities


def _firm_names(rng: np.random.Generator, suffixes: tuple[str, ...], n: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    stems = np.array(FIRM_STEMS, dtype=object)
    while len(names) < n:
        stem = stems[rng.integers(len(stems))] + stems[rng.integers(len(stems))]
        name = (
            f"山东{stem}{suffixes[rng.integers(len(suffixes))]}"
            if rng.random() < 0.5
            else f"{stem}{suffixes[rng.integers(len(suffixes))]}"
        )
        if name not in taken and stem[:2] != stem[2:]:
            taken.add(name)
            names.append(name)
    return names


def build_enterprises(rng: np.random.Generator, scale: Scale, cities: list) -> dict:
    n_dist, n_both, n_manu = scale.distributors, scale.both, scale.manufacturers
    taken: set[str] = set()
    dist_names = _firm_names(rng, DISTRIBUTOR_SUFFIXES, n_dist, taken)
    both_names = _firm_names(rng, BOTH_SUFFIXES, n_both, taken)
    # About a fifth of the manufacturers make devices (医用耗材); the rest make drugs.
    n_device = max(3, n_manu // 5)
    device_names = _firm_names(rng, ("医疗器械有限公司", "医疗科技股份有限公司"), n_device, taken)
    drug_names = _firm_names(rng, MANUFACTURER_SUFFIXES[:4], n_manu - n_device, taken)

    city_codes = [c.code for c in cities]
    dist_home = [city_codes[i % len(city_codes)] for i in range(n_dist)]
    both_home = [city_codes[rng.integers(len(city_codes))] for _ in range(n_both)]
    manu_home = [MANUFACTURER_HOME_CODES[rng.integers(len(MANUFACTURER_HOME_CODES))] for _ in range(n_manu)]
    homes = dist_home + both_home + manu_home
    names = dist_names + both_names + device_names + drug_names
    roles = ["distributor"] * n_dist + ["both"] * n_both + ["manufacturer"] * n_manu
    credit = codes.unique_credit_codes(rng, homes)
    n = len(names)
    accounts = codes.bank_accounts(rng, n)
    bank_names = []
    for i in range(n):
        city_name = next((c.name for c in cities if c.code == homes[i]), "济南市")
        bank_names.append(f"{BANKS[rng.integers(len(BANKS))]}{city_name.removesuffix('市')}分行")
    is_dist = np.array([r != "manufacturer" for r in roles])
    frame = pd.DataFrame(
        {
            "credit_code": credit,
            "name": names,
            "role": roles,
            # Manufacturers are never paid by the fund here: their bank columns stay blank.
            "bank_name": np.where(is_dist, bank_names, ""),
            "bank_account": np.where(is_dist, accounts, ""),
        }
    )
    # A few distributors still issue paper invoices, one invoice code each.
    paper = np.full(n, "", dtype=object)
    dist_idx = np.flatnonzero(is_dist)
    n_paper = max(2, len(dist_idx) // 6)
    for k, e in enumerate(rng.choice(dist_idx, size=n_paper, replace=False)):
        paper[e] = f"3700226{k + 101:03d}"
    return {
        "frame": frame,
        "e_code": np.array(credit, dtype=object),
        "distributors": dist_idx,
        "local_distributors": {c: [i for i in range(n_dist) if dist_home[i] == c] for c in city_codes},
        "both": np.arange(n_dist, n_dist + n_both),
        "device_makers": np.arange(n_dist + n_both, n_dist + n_both + n_device),
        "drug_makers": np.concatenate([np.arange(n_dist, n_dist + n_both), np.arange(n_dist + n_both + n_device, n)]),
        "paper": paper,
    }


_CITY_HOSPITALS = (
    "人民医院",
    "中心医院",
    "中医医院",
    "妇幼保健院",
    "第二人民医院",
    "立医院",
    "传染病医院",
    "精神卫生中心",
)
_DISTRICT_SECONDARY = ("人民医院", "中医医院", "妇幼保健院", "第二人民医院", "中西医结合医院", "骨伤医院")


def build_hospitals(rng: np.random.Generator, scale: Scale, cities: list, ent: dict) -> dict:
    n_h = scale.hospitals
    districts = [(code, name, ci) for ci, c in enumerate(cities) for code, name in c.districts]
    n_c = len(cities)
    # A tenth of the hospitals are city-level (市直), spread over the cities.
    n_city_level = max(n_c, n_h // 10)
    region, city, level, private, names = [], [], [], [], []
    for k in range(n_city_level):
        ci = k % n_c
        c = cities[ci]
        j = k // n_c
        suffix = _CITY_HOSPITALS[j % len(_CITY_HOSPITALS)]
        short = c.name.removesuffix("市")
        name = f"{short}市{suffix}" if suffix != "立医院" else f"{short}市立医院"
        if j >= len(_CITY_HOSPITALS):
            name += f"{j // len(_CITY_HOSPITALS) + 1}院区"
        region.append(c.code)
        city.append(ci)
        level.append(TERTIARY if j < 3 else SECONDARY)
        private.append(False)
        names.append(name)
    district_pick = rng.integers(len(districts), size=n_h - n_city_level)
    # Every district gets at least one hospital where there are enough.
    head = min(len(districts), n_h - n_city_level)
    district_pick[:head] = np.arange(head)
    per_district: dict[str, int] = {}
    stems = TOWN_STEMS
    for di in district_pick:
        code, dname, ci = districts[di]
        k = per_district.get(code, 0)
        per_district[code] = k + 1
        roll = rng.random()
        if k < 2:
            lvl, priv = SECONDARY, False
            name = f"{dname}{_DISTRICT_SECONDARY[k]}"
        elif roll < 0.12:
            lvl, priv = (SECONDARY if rng.random() < 0.3 else PRIMARY), True
            name = (
                f"{dname}{FIRM_STEMS[rng.integers(len(FIRM_STEMS))]}{PRIVATE_KINDS[rng.integers(len(PRIVATE_KINDS))]}"
            )
        elif roll < 0.22:
            lvl, priv = SECONDARY, False
            name = f"{dname}{_DISTRICT_SECONDARY[rng.integers(len(_DISTRICT_SECONDARY))]}"
        else:
            lvl, priv = PRIMARY, False
            stem = stems[rng.integers(len(stems))]
            kind = PRIMARY_KINDS[rng.integers(len(PRIMARY_KINDS))]
            name = f"{dname}{stem}{'街道' if '街道' in kind else '镇'}{kind.removeprefix('镇').removeprefix('街道')}"
        region.append(code)
        city.append(ci)
        level.append(lvl)
        private.append(priv)
        names.append(name)
    # Unique names: a repeated name becomes a numbered branch (分院).
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        count = seen.get(name, 0)
        seen[name] = count + 1
        if count:
            names[i] = f"{name}第{count + 1}分院"

    region_arr = np.array(region, dtype=object)
    # 定点医疗机构编码: H + region + 5 digits, increasing per region with gaps.
    order = np.argsort(region_arr, kind="stable")
    serial = np.zeros(n_h, dtype=np.int64)
    last_region, counter = None, 0
    for i in order:
        if region_arr[i] != last_region:
            last_region, counter = region_arr[i], 0
        counter += int(rng.integers(1, 40))
        serial[i] = counter
    h_code = "H" + region_arr + np.array([f"{s:05d}" for s in serial], dtype=object)

    level_arr = np.array(level)
    private_arr = np.array(private)
    weight = np.choose(level_arr, [12.0, 4.0, 1.0]) * np.where(private_arr, 0.5, 1.0) * rng.lognormal(0, 0.3, n_h)
    qty_mult = np.choose(level_arr, [3.0, 1.5, 0.6])

    # Each hospital buys through up to three distributors: two local ones and a province-wide one.
    dists = np.zeros((n_h, 3), dtype=np.int64)
    both = ent["both"]
    for i in range(n_h):
        local = ent["local_distributors"][cities[city[i]].code] or list(both)
        pick = rng.choice(local, size=2, replace=len(local) < 2)
        dists[i, :2] = pick
        dists[i, 2] = both[rng.integers(len(both))] if len(both) else pick[0]

    frame = pd.DataFrame(
        {
            "hospital_code": h_code,
            "name": names,
            "region_code": region_arr,
            "level": LEVEL_NAMES[level_arr],
            "ownership": np.where(private_arr, "private", "public"),
        }
    )
    return {
        "frame": frame,
        "h_code": h_code,
        "h_region": region_arr,
        "h_city": np.array(city, dtype=np.int64),
        "h_level": level_arr,
        "h_private": private_arr,
        "h_order_weight": weight / weight.sum(),
        "h_qty_mult": qty_mult,
        "h_dists": dists,
    }


def _e4(yuan: np.ndarray, cents_only: np.ndarray) -> np.ndarray:
    """Yuan (a float drawn for realism, never money yet) → integer 1/10000 yuan.

    Most prices end in whole fen; the rest keep four decimals, as award prices often do.
    """
    units = np.maximum(np.rint(np.asarray(yuan) * 10_000).astype(np.int64), 100)
    return np.where(cents_only, np.maximum((units + 50) // 100, 1) * 100, units)


def build_products(rng: np.random.Generator, scale: Scale, ent: dict, cal: Calendar) -> dict:
    n = scale.products
    n_hv = max(4, round(0.03 * n))
    n_cons = max(5, round(0.15 * n))
    n_z = max(3, round(0.08 * n))
    n_x = n - n_hv - n_cons - n_z

    drug_makers, device_makers = ent["drug_makers"], ent["device_makers"]

    # Candidates: (entry, spec) combinations × manufacturer slots, slot-major so that
    # small scales get distinct generic names before second makers of one name.
    def candidates(entries: list, pool: np.ndarray, max_slots: int) -> list[tuple]:
        combos = [(ei, si) for ei, e in entries for si in range(len(e.specs))]
        combos = [combos[i] for i in rng.permutation(len(combos))]
        slots = min(max_slots, len(pool))
        makers = {c: rng.choice(pool, size=slots, replace=False) for c in combos}
        return [(c[0], c[1], makers[c][s]) for s in range(slots) for c in combos]

    drug_entries = list(enumerate(DRUGS))
    picks: list[tuple] = []  # (kind, entry index, spec index, maker)
    for kind, entries, count in (
        ("hv", [(i, e) for i, e in drug_entries if e.high_value], n_hv),
        ("z", [(i, e) for i, e in drug_entries if e.kind == "Z"], n_z),
        ("x", [(i, e) for i, e in drug_entries if e.kind == "X" and not e.high_value], n_x),
    ):
        pool = candidates(entries, drug_makers, 6)
        if len(pool) < count:
            raise ValueError(f"vocabulary too small for {count} {kind} products")
        picks.extend((kind, ei, si, m) for ei, si, m in pool[:count])
    cons_pool = candidates(list(enumerate(CONSUMABLES)), device_makers, 6)
    if len(cons_pool) < n_cons:
        raise ValueError("vocabulary too small for the consumables asked for")
    picks.extend(("c", ei, si, m) for ei, si, m in cons_pool[:n_cons])

    maker_ids = sorted({int(m) for *_, m in picks})
    enterprise_no = dict(
        zip(maker_ids, rng.choice(np.arange(100, 10_000), size=len(maker_ids), replace=False).tolist(), strict=True)
    )

    rows = []
    for kind, ei, si, maker in picks:
        if kind == "c":
            e = CONSUMABLES[ei]
            spec = e.specs[si]
            code = codes.consumable_code(e.class_code, ei + 1, si + 1, enterprise_no[int(maker)], si + 1)
            rows.append((code, "consumable", e.generic_name, "", spec, int(maker), spec.base_price, False, e.common))
        else:
            e = DRUGS[ei]
            spec = e.specs[si]
            form_no = sorted({d.dosage_form for d in DRUGS}).index(e.dosage_form) + 1
            code = codes.drug_code(e.kind, e.atc4, ei + 1, form_no, (si + 1) * 100 + 1, enterprise_no[int(maker)])
            rows.append(
                (
                    code,
                    "drug",
                    e.generic_name,
                    e.dosage_form,
                    spec,
                    int(maker),
                    spec.base_price,
                    e.high_value,
                    not e.high_value,
                )
            )
    n = len(rows)
    p_code = np.array([r[0] for r in rows], dtype=object)
    p_drug = np.array([r[1] == "drug" for r in rows])
    p_hv = np.array([r[7] for r in rows])
    p_common = np.array([r[8] for r in rows])
    p_maker = np.array([r[5] for r in rows], dtype=np.int64)
    # Makers' prices for one name differ a little.
    base_yuan = np.array([r[6] for r in rows]) * rng.uniform(0.9, 1.15, n)
    p_base = _e4(base_yuan, np.ones(n, dtype=bool))
    # High-value drugs stay at or above HIGH_VALUE_PRICE (1,000 yuan) so the retail rule applies.
    p_base = np.where(p_hv, np.maximum(p_base, 10_500_000), p_base)

    popularity = rng.lognormal(0, 1.0, n) * np.where(p_hv, 0.15, 1.0) * np.where(~p_drug & ~p_common, 0.4, 1.0)
    lam = np.where(p_drug, rng.uniform(2, 20, n), np.where(p_common, rng.uniform(2, 10, n), rng.uniform(0.2, 2, n)))
    lam = np.where(p_hv, rng.uniform(0.3, 2, n), lam)

    frame = pd.DataFrame(
        {
            "product_code": p_code,
            "category": np.where(p_drug, "drug", "consumable"),
            "generic_name": [r[2] for r in rows],
            "dosage_form": [r[3] for r in rows],
            "specification": [r[4].specification for r in rows],
            "package": [r[4].package for r in rows],
            "units_per_package": [r[4].units_per_package for r in rows],
            "manufacturer_credit_code": ent["e_code"][p_maker],
        }
    )
    kinds = np.array([r[0][0] for r in rows], dtype=object)  # X / Z / C
    return {
        "frame": frame,
        "p_code": p_code,
        "p_drug": p_drug,
        "p_high_value": p_hv,
        "p_common": p_common,
        "p_popularity": popularity,
        "p_lambda": lam,
        "p_manufacturer": p_maker,
        "p_base_e4": p_base,
        "p_kind": kinds,
    }


def build_rounds(scale: Scale, cal: Calendar) -> Rounds:
    start = int(cal.year_start_day)
    ys_month = int(np.datetime64(start, "D").astype("datetime64[M]").astype(np.int64))
    spec = [
        ("NVBP-11", "第十一批国家组织药品集中带量采购", "national", "drug", 36),
        ("SD-2026-01", "山东省第三批药品集中带量采购", "provincial", "drug", 24),
        ("ALLY-2026-01", "省际联盟冠脉介入及通用耗材集中带量采购", "alliance", "consumable", 24),
    ]
    if scale.name != "S":
        spec.append(("SD-2026-02", "山东省医用耗材集中带量采购(第四批)", "provincial", "consumable", 24))
    ends = [month_start_day(ys_month + months) - 1 for *_, months in spec]
    frame = pd.DataFrame(
        {
            "round_code": [s[0] for s in spec],
            "name": [s[1] for s in spec],
            "level": [s[2] for s in spec],
            "category": [s[3] for s in spec],
            "start_date": date_text(np.full(len(spec), start)),
            "end_date": date_text(np.array(ends)),
        }
    )
    return Rounds(frame=frame, codes=[s[0] for s in spec], category=[s[3] for s in spec])


def build_master(rng: np.random.Generator, scale: Scale, cal: Calendar) -> Master:
    regions, cities = build_regions(scale)
    ent = build_enterprises(rng, scale, cities)
    hos = build_hospitals(rng, scale, cities, ent)
    prod = build_products(rng, scale, ent, cal)
    rounds = build_rounds(scale, cal)
    n_p = len(prod["p_code"])
    n_m = len(cal.months)
    p_drug, p_hv, kinds = prod["p_drug"], prod["p_high_value"], prod["p_kind"]

    # Awards: about half the ordinary drugs and consumables; never the high-value drugs.
    award_share = np.where(kinds == "X", 0.55, np.where(kinds == "Z", 0.25, 0.5))
    awarded = (rng.random(n_p) < award_share) & ~p_hv
    drug_rounds = [i for i, c in enumerate(rounds.category) if c == "drug"]
    cons_rounds = [i for i, c in enumerate(rounds.category) if c == "consumable"]
    p_round = np.full(n_p, -1, dtype=np.int64)
    x_idx = np.flatnonzero(awarded & (kinds == "X"))
    p_round[x_idx] = np.where(rng.random(len(x_idx)) < 0.6, drug_rounds[0], drug_rounds[1])
    p_round[awarded & (kinds == "Z")] = drug_rounds[1]
    c_idx = np.flatnonzero(awarded & ~p_drug)
    p_round[c_idx] = np.array(cons_rounds)[rng.integers(len(cons_rounds), size=len(c_idx))]
    # 集采 cuts prices by half or more.
    discount = np.where(p_drug, rng.uniform(0.15, 0.55, n_p), rng.uniform(0.1, 0.4, n_p))
    p_award = np.where(awarded, _e4(prod["p_base_e4"] / 10_000 * discount, rng.random(n_p) < 0.6), 0)

    # City-specific awards (lower price) so that "most specific region wins" matters.
    city_award_city = np.full(n_p, -1, dtype=np.int64)
    city_award = np.zeros(n_p, dtype=np.int64)
    aw_idx = np.flatnonzero(awarded & p_drug)
    n_city_awards = max(2, round(0.02 * len(aw_idx)))
    chosen = rng.choice(aw_idx, size=min(n_city_awards, len(aw_idx)), replace=False)
    for k, pi in enumerate(chosen):
        city_award_city[pi] = 0 if k < 2 else int(rng.integers(len(cities)))  # 371000 威海 first
        city_award[pi] = scaled(p_award[pi], CITY_AWARD_PERMILLE)

    # Special products among the non-awarded ordinary drugs, the most popular first so
    # that every city buys them every month.
    popularity = prod["p_popularity"]
    role = np.zeros(n_p, dtype=np.int64)
    plain = np.flatnonzero(~awarded & p_drug & ~p_hv)
    plain = plain[np.argsort(-popularity[plain], kind="stable")]
    n_spike = max(2, round(0.01 * n_p)) if n_m >= 2 else 0
    n_drop = max(1, round(0.005 * n_p)) if n_m >= 2 else 0
    n_lar = max(2, round(0.01 * n_p))
    spike = plain[:n_spike]
    drop = plain[n_spike : n_spike + n_drop]
    lar = plain[n_spike + n_drop :][::3][:n_lar]  # not only the most popular
    role[spike], role[drop], role[lar] = ROLE_SPIKE, ROLE_LISTING_DROP, ROLE_LISTING_ABOVE_REF
    # Staples: the most popular remaining plain drugs, bought widely enough that every
    # city has five or more buyers a month (PRICE_OUTLIER needs peers).
    rest = plain[~np.isin(plain, np.concatenate([spike, drop, lar]))]
    staples = rest[: max(3, round(0.02 * n_p))]
    popularity = popularity.copy()
    popularity[spike] *= 3
    popularity[drop] *= 3
    popularity[staples] *= 3

    # Listing in force per month (province): awarded products are listed at the award
    # from the round start, others at the base price; spikes and drops change in the
    # last month.
    listing = np.repeat(np.where(awarded, p_award, prod["p_base_e4"])[:, None], n_m, axis=1)
    basis = listing.copy()
    if n_m >= 2:
        listing[spike, -1] = scaled(listing[spike, -1], SPIKE_PERMILLE)
        basis[spike, -1] = listing[spike, -1]
        listing[drop, -1] = scaled(listing[drop, -1], LISTING_DROP_PERMILLE)
    factor = rng.integers(700, 761, size=n_p)

    e_code = ent["e_code"]
    award_rows = []
    for pi in np.flatnonzero(awarded):
        rc = rounds.codes[p_round[pi]]
        maker = e_code[prod["p_manufacturer"][pi]]
        award_rows.append((rc, prod["p_code"][pi], maker, PROVINCE_CODE, int(p_award[pi])))
        if city_award_city[pi] >= 0:
            award_rows.append((rc, prod["p_code"][pi], maker, cities[city_award_city[pi]].code, int(city_award[pi])))
    awards = pd.DataFrame(
        award_rows, columns=["round_code", "product_code", "enterprise_credit_code", "supply_region_code", "award_e4"]
    )
    awards["award_price"] = price_text(awards["award_e4"].to_numpy())
    awards = awards.drop(columns="award_e4")

    district_codes = np.array([code for c in cities for code, _ in c.districts], dtype=object)
    district_city = np.array([ci for ci, c in enumerate(cities) for _ in c.districts], dtype=np.int64)
    return Master(
        regions=regions,
        city_codes=np.array([c.code for c in cities], dtype=object),
        district_codes=district_codes,
        district_city=district_city,
        hospitals=hos["frame"],
        h_code=hos["h_code"],
        h_region=hos["h_region"],
        h_city=hos["h_city"],
        h_level=hos["h_level"],
        h_private=hos["h_private"],
        h_order_weight=hos["h_order_weight"],
        h_qty_mult=hos["h_qty_mult"],
        h_dists=hos["h_dists"],
        enterprises=ent["frame"],
        e_code=e_code,
        distributors=ent["distributors"],
        paper_invoice_code=ent["paper"],
        products=prod["frame"],
        p_code=prod["p_code"],
        p_drug=p_drug,
        p_high_value=p_hv,
        p_common=prod["p_common"],
        p_popularity=popularity / popularity.sum(),
        p_lambda=prod["p_lambda"],
        p_manufacturer=prod["p_manufacturer"],
        p_base_e4=prod["p_base_e4"],
        p_awarded=awarded,
        p_round=p_round,
        p_award_e4=p_award,
        p_city_award_city=city_award_city,
        p_city_award_e4=city_award,
        p_role=role,
        p_factor_permille=factor,
        p_listing_e4=listing,
        p_basis_e4=basis,
        rounds=rounds,
        awards=awards,
    )


def covering_award_e4(master: Master, h: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Award price covering each (hospital, product); 0 where the product has no award."""
    city_hit = master.p_city_award_city[p] == master.h_city[h]
    return np.where(city_hit, master.p_city_award_e4[p], master.p_award_e4[p])


def normal_price_e4(master: Master, h: np.ndarray, p: np.ndarray, month_pos: np.ndarray) -> np.ndarray:
    negotiated = scaled(master.p_basis_e4[p, month_pos], master.p_factor_permille[p])
    return np.where(master.p_awarded[p], covering_award_e4(master, h, p), negotiated)
