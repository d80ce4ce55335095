"""The non-price alert kinds of DOMAIN.md "Due dates and alerts", one finder per kind.

Each finder reads the documents of one region partition (a region-code prefix) *as they
are now*, judged with the scan date D as today, and returns AlertFindings; the engine
(settlement.services.alert_engine.alerts_sync) turns them into alerts. Reads are
set-based: a few querysets per kind, pandas for the arithmetic, no ORM call per row.

Day counts are calendar days between Asia/Shanghai dates (the ``*_date`` columns).

Payment alerts concern every blue line that is not reversed and whose delivery line was
accepted (accepted_qty > 0), whatever its match status, and accepted delivery lines with
no live blue line (subject: the delivery line, stage "awaiting invoice"). The stage that
holds an unpaid line's money and the party responsible:

| stage | when | responsible |
| --- | --- | --- |
| awaiting_invoice | accepted, no blue line (or only reversed ones) | enterprise |
| exception | line not matched (exception, or not matched yet) | enterprise |
| awaiting_hospital_confirmation | matched, its statement not confirmed (or none yet) | hospital |
| awaiting_batch | matched and confirmed, in no active batch | bureau |
| awaiting_approval | in a batch not yet approved | bureau |
| awaiting_bank | in an approved batch, instruction not (successfully) paid | bank |
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from interchange.money import line_amount
from parties.identifiers import region_prefix as coverage_prefix
from parties.models import Hospital
from parties.policy import policy_value
from procurement.models import Award, DeliveryLine, OrderLine
from procurement.selectors.progress import ProgressStatus, progress_frame, rate
from settlement.models import (
    AlertKind,
    AlertSeverity,
    InvoiceKind,
    InvoiceLine,
    MatchStatus,
    PaymentStage,
    Responsible,
    Statement,
    StatementStatus,
    SubjectType,
)
from settlement.selectors.due_dates import due_dates_series
from settlement.selectors.lines import batches_module, frozen_batch_statuses
from settlement.services.alert_engine import AlertFinding, SyncResult, alerts_sync

log = logging.getLogger(__name__)

# The kinds this module scans, in the order a full scan runs them.
SCAN_KINDS: tuple[str, ...] = (
    AlertKind.PAYMENT_DUE_SOON,
    AlertKind.PAYMENT_OVERDUE,
    AlertKind.RECEIPT_PENDING,
    AlertKind.STATEMENT_UNCONFIRMED,
    AlertKind.COLLECTION_OVERDUE,
    AlertKind.AGREEMENT_BEHIND,
    AlertKind.SUPPLY_DELAY,
)
# SUPPLY_DELAY records a fact (late on day X) and stays after the delivery completes.
NO_AUTO_RESOLVE = frozenset({AlertKind.SUPPLY_DELAY})

# How far back a daily SUPPLY_DELAY scan looks (order date). Older facts were recorded by
# earlier scans and are never auto-resolved, so the window only bounds the work.
SUPPLY_LOOKBACK_DAYS = 62
# AGREEMENT_BEHIND waits until the agreement year has run this long (calendar months).
AGREEMENT_GRACE_MONTHS = 3
# The shortest possible payment term under "end_of_next_month" (accepted 31 Jan → 28 Feb).
_SHORTEST_MONTH_END_TERM = 28

# What the payment finders need of each unpaid line (invoice or never-invoiced delivery line).
PAYMENT_COLUMNS = (
    "subject_type",
    "subject_key",
    "hospital_code",
    "region_code",
    "enterprise_code",
    "match_status",
    "exception_codes",
    "amount",
    "statement_no",
    "accepted_date",
    "batch_approved",
    "stage",
)

MSG_UNKNOWN_SCAN_KIND = "该类型不由本扫描处理 / this kind is not scanned here"

STAGE_TEXT = {
    PaymentStage.AWAITING_INVOICE: ("待企业开票", "awaiting invoice"),
    PaymentStage.EXCEPTION: ("对账异常待企业处理", "matching exception"),
    PaymentStage.AWAITING_HOSPITAL_CONFIRMATION: ("待医院确认", "awaiting hospital confirmation"),
    PaymentStage.AWAITING_BATCH: ("待经办机构纳入结算批次", "awaiting batch"),
    PaymentStage.AWAITING_APPROVAL: ("结算批次待审核", "awaiting approval"),
    PaymentStage.AWAITING_BANK: ("待银行支付", "awaiting bank"),
}
STAGE_RESPONSIBLE = {
    PaymentStage.AWAITING_INVOICE: Responsible.ENTERPRISE,
    PaymentStage.EXCEPTION: Responsible.ENTERPRISE,
    PaymentStage.AWAITING_HOSPITAL_CONFIRMATION: Responsible.HOSPITAL,
    PaymentStage.AWAITING_BATCH: Responsible.BUREAU,
    PaymentStage.AWAITING_APPROVAL: Responsible.BUREAU,
    PaymentStage.AWAITING_BANK: Responsible.BANK,
}

MSG_DUE_SOON = "应付款将于{due}到期（还剩{days}天），当前环节：{stage_zh} / payment due on {due} (in {days} days), stage: {stage_en}"
MSG_OVERDUE = "应付款已逾期{days}天（到期日{due}），当前环节：{stage_zh} / payment {days} days overdue (due {due}), stage: {stage_en}"
MSG_RECEIPT_PENDING = (
    "配送后{days}天仍未验收（配送日{delivered}） / not received {days} days after delivery ({delivered})"
)
MSG_STATEMENT_UNCONFIRMED = (
    "对账单逾期{days}天未确认（截止日{deadline}） / statement unconfirmed {days} days after its deadline ({deadline})"
)
MSG_COLLECTION_OVERDUE = "托收单开具{days}天仍未缴款（开具日{issued}，应缴日{due}） / collection unpaid {days} days after issue ({issued}, due {due})"
MSG_AGREEMENT_BEHIND = "约定采购量完成{completion}，应达{expected}，滞后超过{lag} / agreement {completion} done against {expected} expected, behind by more than {lag}"
MSG_SUPPLY_DELAY = "下单{hours}小时内仅配送{delivered}/{ordered}（截止{deadline}） / only {delivered} of {ordered} delivered within {hours} hours ({deadline})"


# ---------------------------------------------------------------------------
# Policy by region (set-based code varies a rule by the region's override).
# ---------------------------------------------------------------------------


def _policy_by_region(name: str, region_codes: Iterable[str]) -> dict[str, object]:
    return {rc: policy_value(name, rc) for rc in set(region_codes)}


def due_dates(accepted: pd.Series, region_codes: pd.Series) -> pd.Series:
    """Due date per row (datetime.date) by the project's one rule (settlement.selectors.due_dates)."""
    if accepted.empty:
        return pd.Series([], dtype="object", index=accepted.index)
    series = due_dates_series(accepted, region_codes)
    return pd.Series(series.dt.date, index=accepted.index, dtype="object")


def _days(later: pd.Series, earlier: pd.Series | dt.date) -> pd.Series:
    """Calendar days later − earlier for date columns (object dtype of datetime.date)."""
    a = pd.to_datetime(later)
    b = pd.to_datetime(earlier) if isinstance(earlier, pd.Series) else pd.Timestamp(earlier)
    return (a - b).dt.days.astype("int64")


def invoice_subject_key(code: str, no: str, line: int) -> str:
    return f"{code}-{no}/{line}" if code else f"{no}/{line}"


def _money(value) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------
# Batches and collection orders belong to the batch feature: read them if present.
# ---------------------------------------------------------------------------


def _batch_annotations() -> dict:
    """in_batch / batch_approved / batch_paid per invoice line: the same definitions as the
    line stages of settlement.selectors.lines (a line's live batch line, its batch status,
    whether its instruction is paid). False while the batches module is absent."""
    batches = batches_module()
    if batches is None:
        return {"in_batch": Value(False), "batch_approved": Value(False), "batch_paid": Value(False)}
    live = batches.BatchLine.objects.filter(invoice_line_id=OuterRef("pk"), live=True)
    return {
        "in_batch": Exists(live),
        "batch_approved": Exists(live.filter(batch__status__in=frozen_batch_statuses())),
        "batch_paid": Exists(live.paid()),
    }


def _collection_model():
    batches = batches_module()
    return getattr(batches, "CollectionOrder", None) if batches is not None else None


# ---------------------------------------------------------------------------
# The scan of one partition.
# ---------------------------------------------------------------------------


class PartitionScan:
    """Findings of every kind for one region prefix and scan date; shared reads cached."""

    def __init__(self, *, region_prefix: str, as_of: dt.date):
        self.prefix = region_prefix
        self.as_of = as_of

    @cached_property
    def region_codes(self) -> list[str]:
        return list(
            Hospital.objects.filter(region__code__startswith=self.prefix).values_list("region_id", flat=True).distinct()
        )

    def _policy(self, name: str) -> dict[str, object]:
        return _policy_by_region(name, self.region_codes)

    # --- payments -----------------------------------------------------------------

    @cached_property
    def _acceptance_cutoff(self) -> dt.date:
        """Lines accepted after this cannot be due within DUE_SOON_DAYS of D: skip reading them."""
        terms = []
        for rc in self.region_codes or [None]:
            rule = policy_value("PAYMENT_TERM_RULE", rc)
            days = int(policy_value("PAYMENT_TERM_DAYS", rc))
            terms.append(min(days, _SHORTEST_MONTH_END_TERM) if rule == "end_of_next_month" else days)
        soon = max([int(v) for v in self._policy("DUE_SOON_DAYS").values()] or [int(policy_value("DUE_SOON_DAYS"))])
        return self.as_of + dt.timedelta(days=soon - min(terms))

    @cached_property
    def payment_lines(self) -> pd.DataFrame:
        """Unpaid concerned lines with due date, stage and responsible party.

        One query for blue invoice lines, one for never-invoiced delivery lines.
        """
        live_blue = (
            InvoiceLine.objects.filter(kind=InvoiceKind.BLUE)
            .exclude(match_status=MatchStatus.REVERSED)
            .exclude(net_qty=0)
        )
        inv = (
            live_blue.filter(
                hospital__region__code__startswith=self.prefix,
                delivery_line__accepted_qty__gt=0,
                delivery_line__accepted_date__lte=self._acceptance_cutoff,
            )
            .annotate(**_batch_annotations())
            .filter(batch_paid=False)
            .order_by()
            .values_list(
                "invoice_code",
                "invoice_no",
                "line_no",
                "hospital_id",
                "hospital__region_id",
                "distributor_id",
                "match_status",
                "exception_codes",
                Coalesce("net_amount", "amount"),
                "statement__no",
                "statement__status",
                "delivery_line__accepted_date",
                "in_batch",
                "batch_approved",
            )
        )
        cols = [
            "invoice_code",
            "invoice_no",
            "line_no",
            "hospital_code",
            "region_code",
            "enterprise_code",
            "match_status",
            "exception_codes",
            "amount",
            "statement_no",
            "statement_status",
            "accepted_date",
            "in_batch",
            "batch_approved",
        ]
        df = pd.DataFrame.from_records(list(inv), columns=cols)
        df["subject_type"] = SubjectType.INVOICE_LINE
        df["subject_key"] = [
            invoice_subject_key(c, n, ln)
            for c, n, ln in zip(df["invoice_code"], df["invoice_no"], df["line_no"], strict=True)
        ]
        df["stage"] = (
            np.select(
                [
                    df["batch_approved"].astype(bool),
                    df["in_batch"].astype(bool),
                    df["match_status"] != MatchStatus.MATCHED,
                    df["statement_status"] == StatementStatus.CONFIRMED,
                ],
                [
                    PaymentStage.AWAITING_BANK,
                    PaymentStage.AWAITING_APPROVAL,
                    PaymentStage.EXCEPTION,
                    PaymentStage.AWAITING_BATCH,
                ],
                default=PaymentStage.AWAITING_HOSPITAL_CONFIRMATION,
            )
            if not df.empty
            else []
        )

        # Accepted delivery lines with no live blue line: the money waits for an invoice.
        dl = (
            DeliveryLine.objects.filter(
                order_line__hospital__region__code__startswith=self.prefix,
                accepted_qty__gt=0,
                accepted_date__lte=self._acceptance_cutoff,
            )
            .exclude(Exists(live_blue.filter(delivery_line=OuterRef("pk"))))
            .order_by()
            .values_list(
                "delivery_no",
                "line_no",
                "order_line__hospital_id",
                "order_line__hospital__region_id",
                "order_line__distributor_id",
                "accepted_qty",
                "order_line__unit_price",
                "accepted_date",
            )
        )
        dcols = [
            "delivery_no",
            "d_line_no",
            "hospital_code",
            "region_code",
            "enterprise_code",
            "qty",
            "unit_price",
            "accepted_date",
        ]
        ddf = pd.DataFrame.from_records(list(dl), columns=dcols)
        ddf["subject_type"] = SubjectType.DELIVERY_LINE
        ddf["subject_key"] = [f"{n}/{ln}" for n, ln in zip(ddf["delivery_no"], ddf["d_line_no"], strict=True)]
        ddf["amount"] = [line_amount(q, p) for q, p in zip(ddf["qty"], ddf["unit_price"], strict=True)]
        ddf["stage"] = PaymentStage.AWAITING_INVOICE
        ddf["match_status"] = ""
        ddf["exception_codes"] = ""
        ddf["statement_no"] = ""
        ddf["batch_approved"] = False
        frames = [f[list(PAYMENT_COLUMNS)] for f in (df, ddf) if not f.empty]
        if not frames:
            return pd.DataFrame(columns=[*PAYMENT_COLUMNS, "due_date", "days_to_due", "responsible"])
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        for col in ("match_status", "exception_codes", "statement_no"):
            df[col] = df[col].astype(object).where(df[col].notna(), "")
        df["due_date"] = due_dates(df["accepted_date"], df["region_code"])
        df["days_to_due"] = _days(df["due_date"], self.as_of)
        df["responsible"] = df["stage"].map(STAGE_RESPONSIBLE)
        return df

    def _payment_finding(self, r, *, severity: str, value: int, threshold, message: str) -> AlertFinding:
        return AlertFinding(
            subject_type=r.subject_type,
            subject_key=r.subject_key,
            severity=severity,
            region_code=r.region_code,
            value=Decimal(value),
            threshold=threshold,
            message=message,
            amount=r.amount,
            evidence={
                "due_date": r.due_date.isoformat(),
                "accepted_date": r.accepted_date.isoformat(),
                "amount": _money(r.amount),
                "match_status": r.match_status or "",
                "exception_codes": r.exception_codes or "",
                "statement_no": r.statement_no or "",
            },
            hospital_code=r.hospital_code,
            enterprise_code=r.enterprise_code,
            responsible=r.responsible,
            stage=r.stage,
        )

    def payment_due_soon(self) -> list[AlertFinding]:
        df = self.payment_lines
        if df.empty:
            return []
        soon_days = self._policy("DUE_SOON_DAYS")
        window = df["region_code"].map({rc: int(v) for rc, v in soon_days.items()})
        hit = df[
            (df["subject_type"] == SubjectType.INVOICE_LINE)
            & (df["days_to_due"] >= 0)
            & (df["days_to_due"] <= window)
            & ~df["batch_approved"].astype(bool)
        ]
        out = []
        for r in hit.itertuples(index=False):
            zh, en = STAGE_TEXT[r.stage]
            out.append(
                self._payment_finding(
                    r,
                    severity=AlertSeverity.LOW,
                    value=r.days_to_due,
                    threshold=Decimal(int(soon_days[r.region_code])),
                    message=MSG_DUE_SOON.format(due=r.due_date, days=r.days_to_due, stage_zh=zh, stage_en=en),
                )
            )
        return out

    def payment_overdue(self) -> list[AlertFinding]:
        df = self.payment_lines
        if df.empty:
            return []
        hit = df[df["days_to_due"] < 0]
        medium = self._policy("OVERDUE_SEVERITY_MEDIUM_MAX_DAYS")
        high = self._policy("OVERDUE_SEVERITY_HIGH_MAX_DAYS")
        out = []
        for r in hit.itertuples(index=False):
            days = -int(r.days_to_due)
            med_max = int(medium.get(r.region_code) or policy_value("OVERDUE_SEVERITY_MEDIUM_MAX_DAYS", r.region_code))
            high_max = int(high.get(r.region_code) or policy_value("OVERDUE_SEVERITY_HIGH_MAX_DAYS", r.region_code))
            severity = overdue_severity(days, medium_max=med_max, high_max=high_max)
            zh, en = STAGE_TEXT[r.stage]
            out.append(
                self._payment_finding(
                    r,
                    severity=severity,
                    value=days,
                    threshold=None,
                    message=MSG_OVERDUE.format(due=r.due_date, days=days, stage_zh=zh, stage_en=en),
                )
            )
        return out

    # --- receipts -----------------------------------------------------------------

    def receipt_pending(self) -> list[AlertFinding]:
        limits = self._policy("RECEIPT_CONFIRM_DAYS")
        by_limit: dict[int, list[str]] = {}
        for rc, days in limits.items():
            by_limit.setdefault(int(days), []).append(rc)
        cond = Q(pk__in=[])
        for days, codes in by_limit.items():
            # D − delivery_date > days  ⇔  delivery_date < D − days
            cond |= Q(order_line__hospital__region_id__in=codes, delivery_date__lt=self.as_of - dt.timedelta(days=days))
        rows = (
            DeliveryLine.objects.filter(
                order_line__hospital__region__code__startswith=self.prefix, received_at__isnull=True
            )
            .filter(cond)
            .order_by()
            .values_list(
                "delivery_no",
                "line_no",
                "order_line__hospital_id",
                "order_line__hospital__region_id",
                "order_line__distributor_id",
                "delivery_date",
                "qty",
                "order_line__order_no",
                "order_line__line_no",
            )
        )
        out = []
        for no, line, hosp, rc, ent, delivered, qty, order_no, order_line in rows.iterator(chunk_size=5000):
            days = (self.as_of - delivered).days
            out.append(
                AlertFinding(
                    subject_type=SubjectType.DELIVERY_LINE,
                    subject_key=f"{no}/{line}",
                    severity=AlertSeverity.MEDIUM,
                    region_code=rc,
                    value=Decimal(days),
                    threshold=Decimal(int(limits[rc])),
                    message=MSG_RECEIPT_PENDING.format(days=days, delivered=delivered),
                    evidence={
                        "delivery_date": delivered.isoformat(),
                        "qty": qty,
                        "order_line": f"{order_no}/{order_line}",
                    },
                    hospital_code=hosp,
                    enterprise_code=ent,
                    responsible=Responsible.HOSPITAL,
                )
            )
        return out

    # --- statements -----------------------------------------------------------------

    def statement_unconfirmed(self) -> list[AlertFinding]:
        rows = (
            Statement.objects.filter(
                hospital__region__code__startswith=self.prefix, status=StatementStatus.OPEN, deadline__lt=self.as_of
            )
            .annotate(total=Sum(Coalesce("lines__net_amount", "lines__amount")))
            .order_by()
            .values_list("no", "hospital_id", "hospital__region_id", "distributor_id", "period", "deadline", "total")
        )
        out = []
        for no, hosp, rc, ent, period, deadline, total in rows:
            days = (self.as_of - deadline).days
            out.append(
                AlertFinding(
                    subject_type=SubjectType.STATEMENT,
                    subject_key=no,
                    severity=AlertSeverity.MEDIUM,
                    region_code=rc,
                    value=Decimal(days),
                    threshold=Decimal(0),
                    message=MSG_STATEMENT_UNCONFIRMED.format(days=days, deadline=deadline),
                    evidence={"deadline": deadline.isoformat(), "period": period, "amount": _money(total)},
                    hospital_code=hosp,
                    enterprise_code=ent,
                    responsible=Responsible.HOSPITAL,
                    amount=total,
                )
            )
        return out

    # --- collection orders (托收单) ---------------------------------------------------

    def collection_overdue(self) -> list[AlertFinding]:
        """Collection orders still unpaid after their due date (issue + COLLECTION_TERM_DAYS)."""
        model = _collection_model()
        if model is None:
            return []  # collection orders belong to the batch feature; nothing to scan without it
        rows = (
            model.objects.filter(
                hospital__region__code__startswith=self.prefix, status="issued", due_date__lt=self.as_of
            )
            .order_by()
            .values_list(
                "no",
                "hospital_id",
                "hospital__region_id",
                "issued_at",
                "due_date",
                "amount",
                "cleared_amount",
                "batch__no",
            )
        )
        out = []
        for no, hosp, rc, issued_at, due, amount, cleared, batch_no in rows:
            issued_on = _shanghai_date(issued_at)
            owed = amount - (cleared or 0)
            days = (self.as_of - issued_on).days
            out.append(
                AlertFinding(
                    subject_type=SubjectType.COLLECTION,
                    subject_key=no,
                    severity=AlertSeverity.HIGH,
                    region_code=rc,
                    value=Decimal((self.as_of - due).days),
                    threshold=Decimal((due - issued_on).days),
                    message=MSG_COLLECTION_OVERDUE.format(days=days, issued=issued_on, due=due),
                    evidence={
                        "issued_on": issued_on.isoformat(),
                        "due_date": due.isoformat(),
                        "amount": _money(amount),
                        "owed": _money(owed),
                        "batch_no": batch_no,
                    },
                    hospital_code=hosp,
                    responsible=Responsible.HOSPITAL,
                    amount=owed,
                )
            )
        return out

    # --- agreements -----------------------------------------------------------------

    def agreement_behind(self) -> list[AlertFinding]:
        from procurement.models import Agreement

        # D ≥ year_start + 3 calendar months ⇒ year_start ≤ D − 2 months (filter loosely, decide exactly below).
        loose = (pd.Timestamp(self.as_of) - pd.DateOffset(months=AGREEMENT_GRACE_MONTHS - 1)).date()
        qs = Agreement.objects.filter(hospital__region__code__startswith=self.prefix, year_start__lte=loose)
        df = progress_frame(qs, as_of=self.as_of)
        if df.empty:
            return []
        start_plus = pd.to_datetime(df["year_start"]) + pd.DateOffset(months=AGREEMENT_GRACE_MONTHS)
        hit = df[(start_plus <= pd.Timestamp(self.as_of)) & (df["status"] == ProgressStatus.BEHIND)]
        lags = self._policy("AGREEMENT_LAG")
        out = []
        for r in hit.itertuples(index=False):
            completion = rate(r.purchased_qty, r.agreed_qty)
            expected = rate(r.elapsed_days, r.year_days)
            lag = Decimal(str(lags.get(r.region_code, policy_value("AGREEMENT_LAG", r.region_code))))
            out.append(
                AlertFinding(
                    subject_type=SubjectType.AGREEMENT,
                    subject_key=f"{r.round_code}/{r.hospital_code}/{r.product_code}/{r.year_start.isoformat()}",
                    severity=AlertSeverity.MEDIUM,
                    region_code=r.region_code,
                    value=completion,
                    threshold=expected - lag,
                    message=MSG_AGREEMENT_BEHIND.format(
                        completion=f"{completion:.2%}", expected=f"{expected:.2%}", lag=f"{lag:.0%}"
                    ),
                    evidence={
                        "agreed_qty": int(r.agreed_qty),
                        "purchased_qty": int(r.purchased_qty),
                        "completion_rate": str(completion),
                        "expected_rate": str(expected),
                        "year_end": r.year_end.isoformat(),
                    },
                    hospital_code=r.hospital_code,
                    responsible=Responsible.HOSPITAL,
                )
            )
        return out

    # --- supply -----------------------------------------------------------------------

    def supply_delay(self, *, lookback_days: int = SUPPLY_LOOKBACK_DAYS) -> list[AlertFinding]:
        """Order lines of awarded products short of their quantity at ordered_at + SUPPLY_DELAY_HOURS,
        for deadlines on or before the end of D (Asia/Shanghai)."""
        from zoneinfo import ZoneInfo

        end_of_d = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time.min, tzinfo=ZoneInfo("Asia/Shanghai"))
        hours_by_region = self._policy("SUPPLY_DELAY_HOURS")
        by_hours: dict[int, list[str]] = {}
        for rc, h in hours_by_region.items():
            by_hours.setdefault(int(h), []).append(rc)
        covering_award = Award.objects.filter(
            product=OuterRef("product"),
            round__start_date__lte=OuterRef("order_date"),
            round__end_date__gte=OuterRef("order_date"),
            # the award's supply region covers the hospital's region: its prefix starts the code
            supply_region__prefix=_prefix_of_length(OuterRef("hospital__region_id"), F("supply_region__prefix")),
        )
        out = []
        for hours, codes in by_hours.items():
            delay = dt.timedelta(hours=hours)
            delivered = (
                DeliveryLine.objects.filter(order_line=OuterRef("pk"), delivered_at__lte=OuterRef("ordered_at") + delay)
                .order_by()
                .values("order_line")
                .annotate(s=Sum("qty"))
                .values("s")
            )
            rows = (
                OrderLine.objects.filter(
                    hospital__region_id__in=codes,
                    order_date__gte=self.as_of - dt.timedelta(days=lookback_days),
                    ordered_at__lt=end_of_d - delay,  # deadline = ordered_at + delay < start of D+1
                )
                .filter(Exists(covering_award))
                .annotate(delivered=Coalesce(Subquery(delivered, output_field=IntegerField()), 0))
                .filter(delivered__lt=F("qty"))
                .order_by()
                .values_list(
                    "order_no",
                    "line_no",
                    "hospital_id",
                    "hospital__region_id",
                    "distributor_id",
                    "product_id",
                    "qty",
                    "delivered",
                    "ordered_at",
                )
            )
            for order_no, line, hosp, rc, ent, product, qty, got, ordered_at in rows.iterator(chunk_size=5000):
                deadline = (ordered_at + delay).astimezone(ZoneInfo("Asia/Shanghai"))
                out.append(
                    AlertFinding(
                        subject_type=SubjectType.ORDER_LINE,
                        subject_key=f"{order_no}/{line}",
                        severity=AlertSeverity.MEDIUM,
                        region_code=rc,
                        value=Decimal(got),
                        threshold=Decimal(qty),
                        message=MSG_SUPPLY_DELAY.format(
                            hours=hours, delivered=got, ordered=qty, deadline=deadline.strftime("%Y-%m-%d %H:%M")
                        ),
                        evidence={
                            "ordered_at": ordered_at.isoformat(),
                            "deadline": deadline.isoformat(),
                            "ordered_qty": qty,
                            "delivered_by_deadline": got,
                            "product_code": product,
                        },
                        hospital_code=hosp,
                        enterprise_code=ent,
                        responsible=Responsible.ENTERPRISE,
                    )
                )
        return out

    # ---------------------------------------------------------------------------------

    def findings(self, kind: str) -> list[AlertFinding]:
        finder = {
            AlertKind.PAYMENT_DUE_SOON: self.payment_due_soon,
            AlertKind.PAYMENT_OVERDUE: self.payment_overdue,
            AlertKind.RECEIPT_PENDING: self.receipt_pending,
            AlertKind.STATEMENT_UNCONFIRMED: self.statement_unconfirmed,
            AlertKind.COLLECTION_OVERDUE: self.collection_overdue,
            AlertKind.AGREEMENT_BEHIND: self.agreement_behind,
            AlertKind.SUPPLY_DELAY: self.supply_delay,
        }.get(kind)
        if finder is None:
            raise ValueError(f"{MSG_UNKNOWN_SCAN_KIND}: {kind}")
        return finder()


def _prefix_of_length(code_expr, prefix_expr):
    """SQL: the first len(prefix) characters of code (both backends)."""
    from django.db.models import CharField
    from django.db.models.functions import Length, Substr

    return Substr(code_expr, 1, Length(prefix_expr), output_field=CharField())


def _shanghai_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo("Asia/Shanghai")).date() if value.tzinfo else value.date()
    return value


def overdue_severity(days: int, *, medium_max: int, high_max: int) -> str:
    """medium 1–15 days, high 16–60, critical beyond (POLICY OVERDUE_SEVERITY_*_MAX_DAYS)."""
    if days <= medium_max:
        return AlertSeverity.MEDIUM
    if days <= high_max:
        return AlertSeverity.HIGH
    return AlertSeverity.CRITICAL


# ---------------------------------------------------------------------------
# Services: one (kind, partition); one partition; everything.
# ---------------------------------------------------------------------------


def alerts_scan(*, kind: str, region_prefix: str, as_of: dt.date, user=None, digest: bool = True) -> SyncResult:
    """Scan one kind in one region partition and sync its alerts (idempotent)."""
    return alerts_scan_partition(region_prefix=region_prefix, as_of=as_of, kinds=(kind,), user=user, digest=digest)[
        kind
    ]


def alerts_scan_partition(
    *,
    region_prefix: str,
    as_of: dt.date,
    kinds: Iterable[str] = SCAN_KINDS,
    user=None,
    digest: bool = True,
) -> dict[str, SyncResult]:
    """Scan several kinds of one partition, sharing reads (the payment lines load once).

    Not one transaction on purpose: the reads run outside any, and each kind's
    alerts_sync is atomic (locks its alert rows only while it writes), so a long pandas
    step never holds alert rows locked; a scan that dies half-way is simply run again.
    """
    scan = PartitionScan(region_prefix=region_prefix, as_of=as_of)
    results = {}
    for kind in kinds:
        results[kind] = alerts_sync(
            kind=kind,
            region_prefix=region_prefix,
            period=None,
            findings=scan.findings(kind),
            as_of=as_of,
            user=user,
            auto_resolve=kind not in NO_AUTO_RESOLVE,
            digest=digest,
        )
    return results


def scan_partitions(region: str | None = None) -> list[str]:
    """Region prefixes to fan a scan out over: one per city (4 digits) holding hospitals,
    inside ``region`` when given (a district scans alone).

    The cities with the most hospitals come first (then by code): a city's scan grows with
    its hospitals' lines, and workers that take the large ones first are not left waiting
    on one large city at the end."""
    prefix = coverage_prefix(region) if region else ""
    if len(prefix) >= 6:
        return [prefix]
    hospitals = Counter(
        code[:4] for code in Hospital.objects.filter(region__code__startswith=prefix).values_list("region_id", flat=True)
    )
    return sorted(hospitals, key=lambda city: (-hospitals[city], city))


def alerts_scan_all(
    *, as_of: dt.date, region: str | None = None, user=None, kinds: Iterable[str] = SCAN_KINDS
) -> SyncResult:
    """Every kind in every partition (sequentially), then one e-mail digest per user.

    Each partition commits on its own; the digest goes out after the last one.
    """
    from settlement.services.notifications import notifications_send_digests

    total = SyncResult()
    kinds = tuple(kinds)
    for prefix in scan_partitions(region):
        for result in alerts_scan_partition(
            region_prefix=prefix, as_of=as_of, kinds=kinds, user=user, digest=False
        ).values():
            total += result
    if total.notified_users:
        transaction.on_commit(lambda: notifications_send_digests(user_ids=sorted(total.notified_users)))
    return total
