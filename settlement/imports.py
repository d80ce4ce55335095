"""Tables of settlement that the generic importer (interchange.registry) loads through
this app's services: ``payment_confirmations`` (银行支付回单, INTERCHANGE.md).

``manage.py import_table payment_confirmations FILE`` and ``POST /api/v1/imports/
payment_confirmations/`` use this loader; ``manage.py import_payment_confirmations`` is
the same check and write without the generic report machinery.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interchange.loaders.base import ImportBatch, TableLoader
from interchange.money import from_fen
from interchange.reasons import Reason
from interchange.registry import register_table
from interchange.tables import PAYMENT_CONFIRMATIONS
from settlement.models.batches import ConfirmationStatus
from settlement.services import batch_rules as rules
from settlement.services.payments import ConfirmationRow, confirmations_check, confirmations_write


class PaymentConfirmationLoader(TableLoader):
    spec = PAYMENT_CONFIRMATIONS

    def check(self, batch: ImportBatch) -> None:
        df = batch.valid()
        no_ref = (df["status"] == ConfirmationStatus.SUCCESS) & (df["bank_ref"].fillna("") == "")
        batch.flag(df, no_ref, "bank_ref", Reason("bank_ref_required", rules.MSG_BANK_REF_REQUIRED))
        df = df[~no_ref.to_numpy()]
        rows = [
            ConfirmationRow(
                row=int(row),
                instruction_no=str(no),
                payee_credit_code=str(payee),
                amount=from_fen(int(units)),
                status=str(status),
                paid_at=pd.Timestamp(paid_at).to_pydatetime(),
                bank_ref=str(ref or ""),
            )
            for row, no, payee, units, status, paid_at, ref in zip(
                df.index,
                df["instruction_no"],
                df["payee_credit_code"],
                df["amount"],
                df["status"],
                df["paid_at"],
                df["bank_ref"],
                strict=True,
            )
        ]
        apply, skip, errors, instructions = confirmations_check(rows, batch.user)
        for e in errors:
            batch.log.add(np.array([e.row]), e.column, [e.value], Reason(e.code, e.reason))
        batch.context["apply"], batch.context["instructions"] = apply, instructions
        batch.plan.unchanged = len(skip)

    def write(self, batch: ImportBatch) -> tuple[int, int]:
        bad = set(batch.log.bad_rows().tolist())
        apply = [r for r in batch.context.get("apply", []) if r.row not in bad]
        report = confirmations_write(
            apply=apply, instructions=batch.context.get("instructions", {}), user=batch.user, source=batch.source
        )
        return report.created, 0


register_table("payment_confirmations", PAYMENT_CONFIRMATIONS, PaymentConfirmationLoader(), roles=("bureau_operator",))
