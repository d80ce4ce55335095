"""Small frames for the pure rule tests (same columns the selectors produce)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from interchange.money import price_to_units
from parties.identifiers import region_prefix
from price_monitor.services.rules import AWARD_COLUMNS, ORDER_COLUMNS, REFERENCE_COLUMNS

PRODUCT = "XA01ABD075A002010100001"
HOSPITAL_REGION = "371002"


def units(price: str) -> int:
    return price_to_units(Decimal(price))


def orders(*rows: dict) -> pd.DataFrame:
    out = []
    for i, r in enumerate(rows, start=1):
        out.append(
            {
                "source_id": r.get("source_id", i),
                "hospital_code": r.get("hospital", f"H{HOSPITAL_REGION}00001"),
                "region_code": r.get("region", HOSPITAL_REGION),
                "product_code": r.get("product", PRODUCT),
                "enterprise_code": r.get("distributor", "913700000000000011"),
                "order_date": pd.Timestamp(r.get("date", "2026-09-10")),
                "price_units": units(r["price"]),
                "qty": r.get("qty", 10),
            }
        )
    df = pd.DataFrame(out, columns=list(ORDER_COLUMNS))
    return df.astype({"source_id": "int64", "price_units": "int64", "qty": "int64"})


def awards(*rows: dict) -> pd.DataFrame:
    out = []
    for r in rows:
        region = r.get("region", "370000")
        prefix = region_prefix(region)
        out.append(
            {
                "product_code": r.get("product", PRODUCT),
                "round_code": r.get("round", "NVBP-1"),
                "enterprise_code": r.get("enterprise", "913700000000000029"),
                "supply_region_code": region,
                "prefix": prefix,
                "prefix_len": len(prefix),
                "start_date": pd.Timestamp(r.get("start", "2026-01-01")),
                "end_date": pd.Timestamp(r.get("end", "2027-12-31")),
                "award_price_units": units(r["price"]),
            }
        )
    df = pd.DataFrame(out, columns=list(AWARD_COLUMNS))
    return df.astype({"prefix_len": "int64", "award_price_units": "int64"})


def references(*rows: dict) -> pd.DataFrame:
    out = []
    for r in rows:
        region = r.get("region", "370000")
        prefix = region_prefix(region)
        out.append(
            {
                "product_code": r.get("product", PRODUCT),
                "category": r.get("category", "drug"),
                "manufacturer_code": r.get("manufacturer", "913700000000000029"),
                "source": r.get("source", "listing"),
                "region_code": region,
                "prefix": prefix,
                "prefix_len": len(prefix),
                "effective_from": pd.Timestamp(r.get("from", "2026-01-01")),
                "price_units": units(r["price"]),
            }
        )
    df = pd.DataFrame(out, columns=list(REFERENCE_COLUMNS))
    return df.astype({"prefix_len": "int64", "price_units": "int64"})


def price_alert(
    *,
    kind: str = "PRICE_ABOVE_AWARD",
    hospital_code: str = "H37100200001",
    product_code: str = PRODUCT,
    enterprise_code: str = "",
    period: str = "2026-09",
    severity: str = "high",
    value: str = "12.0000",
    threshold: str = "10.0000",
):
    """One stored price alert, made by the alert engine as a scan would (no auto-resolve)."""
    import datetime as dt

    from settlement.models import Alert
    from settlement.services.alert_engine import AlertFinding, alerts_sync

    hospital_kind = kind in ("PRICE_ABOVE_AWARD", "PRICE_ABOVE_LISTING", "PRICE_OUTLIER")
    region = hospital_code[1:7]
    key = f"{hospital_code}/{product_code}" if hospital_kind else f"{product_code}/{region}"
    finding = AlertFinding(
        subject_type="hospital_product" if hospital_kind else "product_region",
        subject_key=key,
        severity=severity,
        region_code=region,
        period=period,
        value=Decimal(value),
        threshold=Decimal(threshold),
        message=f"测试 / test {kind}",
        evidence={"price": value, "ratio": "1.2000", "order_lines": ["PO1/1", "PO2/1"]},
        hospital_code=hospital_code if hospital_kind else "",
        enterprise_code=enterprise_code,
    )
    alerts_sync(
        kind=kind, region_prefix="", period=period, findings=[finding], as_of=dt.date(2026, 10, 1), auto_resolve=False
    )
    return Alert.objects.get(kind=kind, subject_key=key, period=period)
