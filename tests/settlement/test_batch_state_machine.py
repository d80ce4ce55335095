"""Property test: any sequence of new lines, batches, approvals, rejections, payments,
failures, reissues, red invoices, collections and prepayment recoveries keeps every
invariant of verify_ledger (DOMAIN.md "Money") after every step.

Each example runs inside one transaction that is rolled back at the end, so examples do
not see each other's rows. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from procurement.models import Prepayment
from procurement.services.prepayments import prepayment_recover, prepayments_pay
from settlement.models import (
    BatchLine,
    BatchStatus,
    CollectionOrder,
    InstructionStatus,
    InvoiceLine,
    PaymentInstruction,
    SettlementBatch,
)
from settlement.models.batches import FROZEN_BATCH_STATUSES
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_approve, batch_create, batch_reject, batch_submit
from settlement.services.collections import collection_pay
from settlement.services.ledger import ledger_verify
from settlement.services.payments import confirmation_rows, instruction_reissue, payment_confirmations_apply
from tests.factories import (
    EnterpriseFactory,
    FundAllocationFactory,
    HospitalFactory,
    batch_staff,
    red_line_for,
    settleable_line,
)

pytestmark = pytest.mark.django_db
DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(0, 90, 7)]


class SettlementMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.staff = batch_staff()
        self.hospitals = [HospitalFactory() for _ in range(2)]
        self.distributors = [EnterpriseFactory() for _ in range(2)]
        FundAllocationFactory(hospital=self.hospitals[0], period="2026-09", amount=Decimal("150.00"))
        FundAllocationFactory(hospital=self.hospitals[0], period="2026-10", amount=Decimal("80.00"))
        FundAllocationFactory(hospital=self.hospitals[1], period="2026-11", amount=Decimal("40.00"))
        Prepayment.objects.create(hospital=self.hospitals[1], year_start=dt.date(2026, 1, 1), amount=Decimal("90.00"))
        prepayments_pay(year_start=dt.date(2026, 1, 1), user=self.staff[1])
        self.refs = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- documents arrive -------------------------------------------------------------

    @rule(h=st.integers(0, 1), d=st.integers(0, 1), cents=st.integers(1, 9000), day=st.sampled_from(DAYS))
    def new_line(self, h, d, cents, day):
        settleable_line(
            self.hospitals[h],
            self.distributors[d],
            amount=f"{cents // 100}.{cents % 100:02d}",
            accepted=day.isoformat(),
        )

    @rule(pick=st.integers(0, 10**6), day=st.sampled_from(DAYS))
    def red_invoice_after_approval(self, pick, day):
        blues = list(
            InvoiceLine.objects.filter(
                kind="blue", batch_lines__live=True, batch_lines__batch__status__in=FROZEN_BATCH_STATUSES
            )
            .exclude(reversals__isnull=False)
            .order_by("pk")
        )
        if blues:
            blue = blues[pick % len(blues)]
            red_line_for(blue, issued_at=max(day, blue.issued_at))

    # --- the batch lifecycle -------------------------------------------------------------

    @rule(day=st.sampled_from(DAYS))
    def create_batch(self, day):
        try:
            batch_create(region_code="371000", cutoff=day + dt.timedelta(days=6), user=self.staff[1])
        except SettlementError as exc:
            assert exc.code == rules.NO_LINES

    def _pick(self, status, pick):
        batches = list(SettlementBatch.objects.filter(status=status).order_by("pk"))
        return batches[pick % len(batches)] if batches else None

    @rule(pick=st.integers(0, 100))
    def submit(self, pick):
        if b := self._pick(BatchStatus.DRAFT, pick):
            batch_submit(batch_no=b.no, user=self.staff[1])

    @rule(pick=st.integers(0, 100), which=st.integers(2, 3))
    def approve(self, pick, which):
        if b := self._pick(BatchStatus.SUBMITTED, pick):
            assert batch_approve(batch_no=b.no, user=self.staff[which]).status == BatchStatus.APPROVED

    @rule(pick=st.integers(0, 100))
    def maker_cannot_approve(self, pick):
        if b := self._pick(BatchStatus.SUBMITTED, pick):
            with pytest.raises(SettlementError) as exc:
                batch_approve(batch_no=b.no, user=b.created_by)
            assert exc.value.code in (rules.FOUR_EYES, rules.FORBIDDEN)

    @rule(pick=st.integers(0, 100))
    def reject(self, pick):
        if b := self._pick(BatchStatus.SUBMITTED, pick):
            batch_reject(batch_no=b.no, user=self.staff[2], reason="退回")

    # --- the bank ------------------------------------------------------------------------

    @rule(pick=st.integers(0, 100), success=st.booleans(), twice=st.booleans())
    def bank_answers(self, pick, success, twice):
        issued = list(PaymentInstruction.objects.filter(status=InstructionStatus.ISSUED).order_by("pk"))
        if not issued:
            return
        instr = issued[pick % len(issued)]
        self.refs += 1
        cells = {
            "instruction_no": instr.no,
            "payee_credit_code": instr.distributor_id,
            "amount": str(instr.amount),
            "status": "success" if success else "failed",
            "paid_at": "2026-12-01T10:00:00+08:00",
            "bank_ref": f"R{self.refs}" if success else "",
        }
        for _ in range(2 if twice else 1):
            rows, errors = confirmation_rows([(2, cells)])
            payment_confirmations_apply(rows=rows, user=self.staff[1], cell_errors=errors)

    @rule(pick=st.integers(0, 100))
    def wrong_amount_is_refused(self, pick):
        issued = list(PaymentInstruction.objects.filter(status=InstructionStatus.ISSUED).order_by("pk"))
        if issued:
            instr = issued[pick % len(issued)]
            cells = {
                "instruction_no": instr.no,
                "payee_credit_code": instr.distributor_id,
                "amount": str(instr.amount + 1),
                "status": "success",
                "paid_at": "2026-12-01T10:00:00",
                "bank_ref": "WRONG",
            }
            rows, errors = confirmation_rows([(2, cells)])
            with pytest.raises(SettlementError):
                payment_confirmations_apply(rows=rows, user=self.staff[1], cell_errors=errors)

    @rule(pick=st.integers(0, 100))
    def reissue(self, pick):
        failed = list(PaymentInstruction.objects.filter(status=InstructionStatus.FAILED).order_by("pk"))
        if failed:
            instruction_reissue(instruction_no=failed[pick % len(failed)].no, user=self.staff[1], reason="账户已更正")

    @rule(pick=st.integers(0, 100))
    def hospital_pays_collection(self, pick):
        open_orders = list(CollectionOrder.objects.filter(status="issued").order_by("pk"))
        if open_orders:
            collection_pay(collection_no=open_orders[pick % len(open_orders)].no, user=self.staff[1])

    @rule()
    def recover_prepayment(self):
        prepayment_recover(hospital_code=self.hospitals[1].pk, user=self.staff[1], reason="通报")

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def books_hold(self):
        assert ledger_verify() == []

    @invariant()
    def a_line_is_in_at_most_one_live_batch(self):
        ids = list(BatchLine.objects.filter(live=True).values_list("invoice_line_id", flat=True))
        assert len(ids) == len(set(ids))


def test_any_sequence_keeps_the_money_invariants():
    run_state_machine_as_test(
        SettlementMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
