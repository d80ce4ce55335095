"""Bulk writes of settlement input tables from imports: invoice lines and fund allocations.

Frames hold the interchange columns in canonical form (interchange.parsing) plus the
``delivery_line_id`` the importer resolved (null when the delivery line does not exist:
matching then reports NO_DELIVERY). New invoice lines start ``pending`` matching.
"""

from __future__ import annotations

import pandas as pd
from django.db import transaction

from interchange.bulk import insert_rows
from settlement.models import FundAllocation, InvoiceLine, MatchStatus

AMOUNT = 2  # fen
PRICE = 4  # 1/10000 yuan
RATE = 4


@transaction.atomic
def invoice_lines_create(*, rows: pd.DataFrame) -> int:
    frame = pd.DataFrame(
        {
            "invoice_code": rows["invoice_code"],
            "invoice_no": rows["invoice_no"],
            "line_no": rows["line_no"],
            "kind": rows["kind"],
            "original_invoice_code": rows["original_invoice_code"],
            "original_invoice_no": rows["original_invoice_no"],
            "distributor_id": rows["distributor_credit_code"],
            "hospital_id": rows["hospital_code"],
            "delivery_no": rows["delivery_no"],
            "delivery_line_no": rows["delivery_line_no"],
            "delivery_line_id": rows["delivery_line_id"],
            "qty": rows["qty"],
            "unit_price": rows["unit_price"],
            "amount": rows["amount"],
            "tax_rate": rows["tax_rate"],
            "issued_at": rows["issued_at"],
            "match_status": MatchStatus.PENDING.value,
            "exception_codes": "",
            "dispute_reason": "",
        },
        index=rows.index,
    )
    return insert_rows(
        InvoiceLine, frame, {"unit_price": PRICE, "amount": AMOUNT, "tax_rate": RATE, "issued_at": "date"}
    )


@transaction.atomic
def fund_allocations_create(*, rows: pd.DataFrame) -> int:
    frame = pd.DataFrame(
        {"hospital_id": rows["hospital_code"], "period": rows["period"], "amount": rows["amount"]}, index=rows.index
    )
    return insert_rows(FundAllocation, frame, {"amount": AMOUNT})
