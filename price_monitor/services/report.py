"""月度价格监测报告 / the monthly price-monitoring report of a region, as an XLSX workbook.

Sheets: 概要 summary · 预警统计 alerts by kind and severity · 涨幅排行 top price increases
· 价格指数 the index with a native line chart · 预警明细 the alerts. Reads only: the
numbers come from the observations, the alerts and the index computed on the spot.

Money is computed in integers (1/10,000 yuan) and rounded half-up once into a Decimal;
an XLSX number cell is an IEEE double by the file format, so Decimals are written with
``write_number`` at the very edge (≤ 15 significant digits round-trip exactly) and a
number format that shows their scale.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import xlsxwriter
from django.db.models import Count, Q
from django.utils import timezone

from interchange.money import round_amount
from parties.models import Region
from price_monitor.periods import period_bounds, period_shift
from price_monitor.selectors import frames
from price_monitor.selectors.alerts import PRICE_KIND_VALUES
from price_monitor.services.index import CATEGORIES, price_index_series
from price_monitor.services.observations import partition_prefix
from price_monitor.services.rules import KIND_LISTING_ABOVE_REFERENCE, price_dec, ratio_dec
from procurement.models import Product
from settlement.models import Alert, AlertKind, AlertSeverity, AlertStatus

TOP_INCREASES = 20
INDEX_MONTHS = 24
SEVERITIES = ("low", "medium", "high", "critical")
CATEGORY_LABELS = {"drug": "药品 / drugs", "consumable": "医用耗材 / consumables"}


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content: bytes
    content_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_alerts(*, region_code: str, period: str):
    """Price alerts of the month in the region, plus the product/region listing alerts
    (they have no month) that are still unresolved."""
    prefix = partition_prefix(region_code)
    return (
        Alert.objects.filter(kind__in=PRICE_KIND_VALUES, region_code__startswith=prefix)
        .filter(Q(period=period) | Q(kind=KIND_LISTING_ABOVE_REFERENCE, period="") & ~Q(status=AlertStatus.RESOLVED))
        .order_by("kind", "subject_key", "period")
    )


def top_increases(
    *, region_code: str, period: str, limit: int = TOP_INCREASES, cur: pd.DataFrame | None = None
) -> list[dict]:
    """Products whose median order price rose most against the previous month."""
    prefix = partition_prefix(region_code)
    if cur is None:
        cur = frames.order_prices(region_prefix=prefix, period=period)
    prev = frames.order_prices(region_prefix=prefix, period=period_shift(period, -1))
    if cur.empty or prev.empty:
        return []
    c = cur.groupby("product_code", observed=True)["price_units"]
    p = prev.groupby("product_code", observed=True)["price_units"]
    cur_m = pd.DataFrame({"cur2": np.rint(c.median() * 2).astype("int64"), "lines": c.size()}).reset_index()
    prev_m = pd.DataFrame({"prev2": np.rint(p.median() * 2).astype("int64")}).reset_index()
    m = cur_m.astype({"product_code": str}).merge(prev_m.astype({"product_code": str}), on="product_code", how="inner")
    m = m[m["cur2"] > m["prev2"]]
    if m.empty:
        return []
    # Rank by the exact ratio: cross-multiplied integers would need pairwise compares, so
    # sort by a Fraction key over the (few) rising products.
    rows = sorted(
        m.reset_index().to_dict("records"),
        key=lambda r: (-Fraction(int(r["cur2"]), int(r["prev2"])), r["product_code"]),
    )[:limit]
    names = {p.code: p for p in Product.objects.filter(code__in=[r["product_code"] for r in rows])}
    out = []
    for r in rows:
        product = names.get(r["product_code"])
        out.append(
            {
                "product_code": r["product_code"],
                "name": str(product) if product else "",
                "category": product.category if product else "",
                "previous": price_dec(Fraction(int(r["prev2"]), 2)),
                "current": price_dec(Fraction(int(r["cur2"]), 2)),
                "change": ratio_dec(int(r["cur2"]) - int(r["prev2"]), int(r["prev2"])),
                "lines": int(r["lines"]),
            }
        )
    return out


def summary_numbers(*, region_code: str, period: str, orders: pd.DataFrame | None = None) -> dict:
    if orders is None:
        orders = frames.order_prices(region_prefix=partition_prefix(region_code), period=period)
    amount_units = (
        int((orders["qty"].astype(object) * orders["price_units"].astype(object)).sum()) if len(orders) else 0
    )
    return {
        "order_lines": len(orders),
        "hospitals": int(orders["hospital_code"].nunique()) if len(orders) else 0,
        "products": int(orders["product_code"].nunique()) if len(orders) else 0,
        "amount": round_amount(Decimal(amount_units) / 10000),
    }


def price_report_build(*, region_code: str, period: str) -> ReportFile:
    """The workbook for ``region_code`` (6 digits) and ``period``."""
    period_bounds(period)  # validates
    region = Region.objects.filter(code=region_code).first()
    region_name = region.name if region else region_code
    orders = frames.order_prices(region_prefix=partition_prefix(region_code), period=period)
    numbers = summary_numbers(region_code=region_code, period=period, orders=orders)
    alerts = list(report_alerts(region_code=region_code, period=period))
    increases = top_increases(region_code=region_code, period=period, cur=orders)
    first = period_shift(period, 1 - INDEX_MONTHS)
    index = {
        c: [p for p in price_index_series(region_code=region_code, category=c) if first <= p.period <= period]
        for c in CATEGORIES
    }

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    f_title = wb.add_format({"bold": True, "font_size": 14})
    f_head = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True})
    f_money = wb.add_format({"num_format": "#,##0.00"})
    f_price = wb.add_format({"num_format": "#,##0.0000"})
    f_pct = wb.add_format({"num_format": "0.00%"})
    f_index = wb.add_format({"num_format": "0.0000"})

    # 概要 / summary
    ws = wb.add_worksheet("概要 Summary")
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 28)
    ws.write(0, 0, f"{region_name} {period} 医药价格监测报告 / price monitoring report", f_title)
    by_status = {s: 0 for s in AlertStatus.values}
    for a in alerts:
        by_status[a.status] += 1
    rows = [
        ("地区 / region", f"{region_code} {region_name}"),
        ("月份 / month", period),
        ("生成时间 / generated at", timezone.localtime().strftime("%Y-%m-%d %H:%M")),
        ("订单明细行数 / order lines", numbers["order_lines"]),
        ("采购医院数 / hospitals buying", numbers["hospitals"]),
        ("采购产品数 / products bought", numbers["products"]),
        ("采购金额(元) / purchase amount (yuan)", numbers["amount"]),
        ("价格预警 / price alerts", len(alerts)),
        *((f"  {AlertStatus(s).label}", n) for s, n in by_status.items() if n),
    ]
    for c in CATEGORIES:
        last = index[c][-1] if index[c] else None
        rows.append((f"价格指数 {CATEGORY_LABELS[c]}", last.value if last and last.period == period else "—"))
    for i, (label, value) in enumerate(rows, start=2):
        ws.write(i, 0, str(label))
        if isinstance(value, Decimal):
            ws.write_number(i, 1, value, f_money if "金额" in str(label) else f_index)
        else:
            ws.write(i, 1, value)

    # 预警统计 / alerts by kind and severity
    ws = wb.add_worksheet("预警统计 Alerts by kind")
    ws.set_column(0, 0, 40)
    ws.set_column(1, 6, 12)
    counts = {(k, s): 0 for k in PRICE_KIND_VALUES for s in SEVERITIES}
    for a in alerts:
        counts[(a.kind, a.severity)] = counts.get((a.kind, a.severity), 0) + 1
    ws.write_row(0, 0, ["类型 / kind", *(str(AlertSeverity(s).label) for s in SEVERITIES), "合计 / total"], f_head)
    for i, k in enumerate(PRICE_KIND_VALUES, start=1):
        row = [counts[(k, s)] for s in SEVERITIES]
        ws.write(i, 0, str(AlertKind(k).label))
        ws.write_row(i, 1, [*row, sum(row)])
    total_row = len(PRICE_KIND_VALUES) + 1
    ws.write(total_row, 0, "合计 / total", f_head)
    ws.write_row(total_row, 1, [sum(counts[(k, s)] for k in PRICE_KIND_VALUES) for s in SEVERITIES] + [len(alerts)])

    # 涨幅排行 / top increases
    ws = wb.add_worksheet("涨幅排行 Top increases")
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 36)
    ws.set_column(2, 6, 14)
    ws.write_row(
        0,
        0,
        [
            "产品编码 / product",
            "产品 / name",
            "类别 / category",
            "上月中位价 / previous",
            "本月中位价 / current",
            "涨幅 / change",
            "明细行 / lines",
        ],
        f_head,
    )
    for i, r in enumerate(increases, start=1):
        ws.write(i, 0, r["product_code"])
        ws.write(i, 1, r["name"])
        ws.write(i, 2, r["category"])
        ws.write_number(i, 3, r["previous"], f_price)
        ws.write_number(i, 4, r["current"], f_price)
        ws.write_number(i, 5, r["change"], f_pct)
        ws.write_number(i, 6, r["lines"])

    # 价格指数 / index, with a native chart
    ws = wb.add_worksheet("价格指数 Price index")
    ws.set_column(0, 2, 18)
    ws.write_row(0, 0, ["月份 / month", *(CATEGORY_LABELS[c] for c in CATEGORIES)], f_head)
    months = sorted({p.period for c in CATEGORIES for p in index[c]})
    by = {c: {p.period: p.value for p in index[c]} for c in CATEGORIES}
    for i, m in enumerate(months, start=1):
        ws.write(i, 0, m)
        for j, c in enumerate(CATEGORIES, start=1):
            if m in by[c]:
                ws.write_number(i, j, by[c][m], f_index)
    if months:
        chart = wb.add_chart({"type": "line"})
        for j, c in enumerate(CATEGORIES, start=1):
            if by[c]:
                chart.add_series(
                    {
                        "name": ["价格指数 Price index", 0, j],
                        "categories": ["价格指数 Price index", 1, 0, len(months), 0],
                        "values": ["价格指数 Price index", 1, j, len(months), j],
                        "marker": {"type": "circle"},
                    }
                )
        chart.set_title({"name": f"{region_name} 价格指数 / price index (基期 = 100)"})
        chart.set_y_axis({"name": "指数 / index"})
        chart.set_x_axis({"name": "月份 / month"})
        chart.set_size({"width": 720, "height": 360})
        ws.insert_chart(1, 4, chart)

    # 预警明细 / alert list
    ws = wb.add_worksheet("预警明细 Alerts")
    head = ["预警编号 / alert no", "类型 / kind", "级别 / severity", "状态 / status", "对象 / subject", "月份 / period",
            "值 / value", "阈值 / threshold", "企业 / enterprise", "说明 / message"]  # fmt: skip
    ws.write_row(0, 0, head, f_head)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 30)
    ws.set_column(4, 4, 40)
    ws.set_column(9, 9, 80)
    for i, a in enumerate(alerts, start=1):
        ws.write_row(i, 0, [a.alert_no, str(AlertKind(a.kind).label), a.severity, a.status, a.subject_key, a.period])
        if a.value is not None:
            ws.write_number(i, 6, a.value, f_price)
        if a.threshold is not None:
            ws.write_number(i, 7, a.threshold, f_price)
        ws.write(i, 8, a.enterprise_code)
        ws.write(i, 9, a.message)
    wb.close()
    return ReportFile(filename=f"price_report_{region_code}_{period}.xlsx", content=buf.getvalue())


def alert_counts(*, region_code: str, period: str) -> dict[str, int]:
    """kind → number of the month's alerts (for the analyst page next to the download)."""
    qs = report_alerts(region_code=region_code, period=period).values("kind").annotate(n=Count("id")).order_by()
    return {r["kind"]: r["n"] for r in qs}
