"""Shared by the importer's tests: a small consistent world and file writers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from interchange.synthetic.writer import TABLE_COLUMNS
from parties.models import Bureau, Enterprise, Hospital, Region
from procurement.models import DeliveryLine, OrderLine, Product
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    ManufacturerFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
    at,
)


def write_csv(path: Path, header: list[str], rows: list[list], *, encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@dataclass
class World:
    province: Region
    city: Region
    district: Region
    other_city: Region
    distributor: Enterprise
    distributor2: Enterprise
    manufacturer: Enterprise
    hospital: Hospital  # in the district 371002
    other_hospital: Hospital  # in 370200 (another city)
    product: Product
    order_line: OrderLine  # hospital, distributor, 10 packages at 10.0000, ordered 2026-09-01 09:00
    delivery_line: DeliveryLine  # 10 packages delivered 2026-09-02 10:00, no receipt yet
    other_delivery_line: DeliveryLine  # of other_hospital, no receipt


def build_world() -> World:
    province = RegionFactory(code="370000", name="山东省")
    city = RegionFactory(code="371000", name="威海市", parent=province)
    district = RegionFactory(code="371002", name="环翠区", parent=city)
    other_city = RegionFactory(code="370200", name="青岛市", parent=province)
    Bureau.objects.get_or_create(region=city, defaults={"name": "威海市医疗保障局"})
    manufacturer = ManufacturerFactory()
    distributor = EnterpriseFactory()
    distributor2 = EnterpriseFactory()
    hospital = HospitalFactory(region=district)
    other_hospital = HospitalFactory(region=other_city)
    product = ProductFactory(manufacturer=manufacturer)
    order_line = OrderLineFactory(
        order_no="PO0001",
        hospital=hospital,
        distributor=distributor,
        product=product,
        qty=10,
        unit_price=Decimal("10.0000"),
        ordered_at=at("2026-09-01", 9),
    )
    delivery_line = DeliveryLineFactory(
        delivery_no="DL0001", order_line=order_line, qty=10, delivered_at=at("2026-09-02", 10)
    )
    other_order = OrderLineFactory(
        order_no="PO0002",
        hospital=other_hospital,
        distributor=distributor,
        product=product,
        qty=5,
        ordered_at=at("2026-09-01", 9),
    )
    other_delivery_line = DeliveryLineFactory(
        delivery_no="DL0002", order_line=other_order, qty=5, delivered_at=at("2026-09-02", 10)
    )
    return World(
        province,
        city,
        district,
        other_city,
        distributor,
        distributor2,
        manufacturer,
        hospital,
        other_hospital,
        product,
        order_line,
        delivery_line,
        other_delivery_line,
    )


ORDER_HEADER = TABLE_COLUMNS["orders"]


def order_row(w: World, order_no: str = "PO1000", line_no: int = 1, **over) -> list:
    row = {
        "order_no": order_no,
        "line_no": line_no,
        "hospital_code": w.hospital.code,
        "distributor_credit_code": w.distributor.credit_code,
        "product_code": w.product.code,
        "qty": 20,
        "unit_price": "12.5",
        "ordered_at": "2026-09-10T09:30:00+08:00",
    }
    row.update(over)
    return [row[c] for c in ORDER_HEADER]


RECEIPT_HEADER = TABLE_COLUMNS["receipts"]
DELIVERY_HEADER = TABLE_COLUMNS["deliveries"]
INVOICE_HEADER = TABLE_COLUMNS["invoices"]


def invoice_row(w: World, invoice_no: str = "26370000000000000001", line_no: int = 1, **over) -> list:
    row = {
        "invoice_no": invoice_no,
        "invoice_code": "",
        "line_no": line_no,
        "kind": "blue",
        "original_invoice_no": "",
        "original_invoice_code": "",
        "distributor_credit_code": w.distributor.credit_code,
        "hospital_code": w.hospital.code,
        "delivery_no": w.delivery_line.delivery_no,
        "delivery_line_no": 1,
        "qty": 10,
        "unit_price": "10.0000",
        "amount": "100.00",
        "tax_rate": "0.13",
        "issued_at": "2026-09-05",
    }
    row.update(over)
    return [row[c] for c in INVOICE_HEADER]


def errors_of(report) -> list[tuple]:
    """(row, column, value, reason) of every error, in report order."""
    return [(e["row"], e["column"], e["value"], e["reason"]) for e in report.error_list()]


def counts(*models) -> tuple[int, ...]:
    return tuple(m.objects.count() for m in models)


def shanghai_day(ts: dt.datetime) -> dt.date:
    from zoneinfo import ZoneInfo

    return ts.astimezone(ZoneInfo("Asia/Shanghai")).date()
