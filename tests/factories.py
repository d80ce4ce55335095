"""factory_boy factories shared by every test module.

Codes are valid identifiers (credit codes with a correct check character, hospital
codes embedding their region). Build the smallest consistent world with
``OrderLineFactory`` → ``DeliveryLineFactory`` → ``InvoiceLineFactory``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from parties.identifiers import credit_code_check_char, region_prefix
from parties.models import Bureau, Enterprise, Hospital, Region, Role, User
from price_monitor.models import ReferencePrice
from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Product, Round
from settlement.models import FundAllocation, InvoiceLine

SHANGHAI = ZoneInfo("Asia/Shanghai")


def credit_code(n: int) -> str:
    first17 = f"91370000{n:09d}"
    return first17 + credit_code_check_char(first17)


def at(day: str, hour: int = 10) -> dt.datetime:
    """A Shanghai timestamp on ``day`` (YYYY-MM-DD) at ``hour``."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = "371002"
    name = factory.LazyAttribute(lambda o: f"区划{o.code}")
    prefix = factory.LazyAttribute(lambda o: region_prefix(o.code))
    parent = None


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    credit_code = factory.Sequence(lambda n: credit_code(n + 1))
    name = factory.Sequence(lambda n: f"配送企业{n}")
    role = "distributor"
    bank_name = "中国工商银行威海分行"
    bank_account = factory.Sequence(lambda n: f"{6222020000000000 + n}")


class ManufacturerFactory(EnterpriseFactory):
    name = factory.Sequence(lambda n: f"制药企业{n}")
    role = "manufacturer"
    bank_name = ""
    bank_account = ""


class HospitalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hospital

    region = factory.SubFactory(RegionFactory)
    code = factory.Sequence(lambda n: f"H371002{n:05d}")
    name = factory.Sequence(lambda n: f"医院{n}")
    level = "secondary"
    ownership = "public"

    @factory.lazy_attribute
    def code(self):  # noqa: F811 - the region decides the code's middle digits
        HospitalFactory._seq = getattr(HospitalFactory, "_seq", 0) + 1
        return f"H{self.region.code}{HospitalFactory._seq:05d}"


class BureauFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bureau
        django_get_or_create = ("region",)

    region = factory.SubFactory(RegionFactory, code="371000")
    name = factory.LazyAttribute(lambda o: f"{o.region.name}医疗保障局")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"XA01ABD075A0020101{n:05d}")
    category = "drug"
    generic_name = factory.Sequence(lambda n: f"药品{n}")
    dosage_form = "片剂"
    specification = "10mg"
    package = "14片/盒"
    units_per_package = 14
    manufacturer = factory.SubFactory(ManufacturerFactory)


class RoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Round

    code = factory.Sequence(lambda n: f"NVBP-{n + 1}")
    name = factory.Sequence(lambda n: f"第{n + 1}批国家集采")
    level = "national"
    category = "drug"
    start_date = dt.date(2026, 1, 1)
    end_date = dt.date(2027, 12, 31)


class AwardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Award

    round = factory.SubFactory(RoundFactory)
    product = factory.SubFactory(ProductFactory)
    enterprise = factory.LazyAttribute(lambda o: o.product.manufacturer)
    supply_region = factory.SubFactory(RegionFactory, code="370000")
    award_price = Decimal("10.0000")


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agreement

    round = factory.SubFactory(RoundFactory)
    hospital = factory.SubFactory(HospitalFactory)
    product = factory.SubFactory(ProductFactory)
    year_start = dt.date(2026, 1, 1)
    year_end = dt.date(2026, 12, 31)
    agreed_qty = 1000


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order_no = factory.Sequence(lambda n: f"PO{n:08d}")
    line_no = 1
    hospital = factory.SubFactory(HospitalFactory)
    distributor = factory.SubFactory(EnterpriseFactory)
    product = factory.SubFactory(ProductFactory)
    qty = 10
    unit_price = Decimal("10.0000")
    ordered_at = factory.LazyFunction(lambda: at("2026-09-01", 9))
    order_date = factory.LazyAttribute(lambda o: o.ordered_at.astimezone(SHANGHAI).date())


class DeliveryLineFactory(factory.django.DjangoModelFactory):
    """A delivery line; pass ``accepted_qty`` (and friends) for a received one, or use ``received=True``."""

    class Meta:
        model = DeliveryLine

    class Params:
        received = factory.Trait(
            accepted_qty=factory.LazyAttribute(lambda o: o.qty),
            rejected_qty=0,
            received_at=factory.LazyAttribute(lambda o: o.delivered_at + dt.timedelta(days=1)),
            accepted_date=factory.LazyAttribute(lambda o: o.received_at.astimezone(SHANGHAI).date()),
        )

    delivery_no = factory.Sequence(lambda n: f"DL{n:08d}")
    line_no = 1
    order_line = factory.SubFactory(OrderLineFactory)
    qty = factory.LazyAttribute(lambda o: o.order_line.qty)
    batch_no = "B20260901"
    expiry_date = dt.date(2028, 8, 31)
    delivered_at = factory.LazyAttribute(lambda o: o.order_line.ordered_at + dt.timedelta(days=1))
    delivery_date = factory.LazyAttribute(lambda o: o.delivered_at.astimezone(SHANGHAI).date())


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    """A blue 全电 invoice line for a delivery line (seller, buyer, price and amount from its order)."""

    class Meta:
        model = InvoiceLine

    invoice_code = ""
    invoice_no = factory.Sequence(lambda n: f"{26370000000000000000 + n}")
    line_no = 1
    kind = "blue"
    delivery_line = factory.SubFactory(DeliveryLineFactory, received=True)
    distributor = factory.LazyAttribute(lambda o: o.delivery_line.order_line.distributor)
    hospital = factory.LazyAttribute(lambda o: o.delivery_line.order_line.hospital)
    delivery_no = factory.LazyAttribute(lambda o: o.delivery_line.delivery_no)
    delivery_line_no = factory.LazyAttribute(lambda o: o.delivery_line.line_no)
    qty = factory.LazyAttribute(lambda o: o.delivery_line.accepted_qty or o.delivery_line.qty)
    unit_price = factory.LazyAttribute(lambda o: o.delivery_line.order_line.unit_price)
    amount = factory.LazyAttribute(lambda o: (o.qty * o.unit_price).quantize(Decimal("0.01")))
    tax_rate = Decimal("0.13")
    issued_at = factory.LazyAttribute(lambda o: (o.delivery_line.accepted_date or o.delivery_line.delivery_date))


class FundAllocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FundAllocation

    hospital = factory.SubFactory(HospitalFactory)
    period = "2026-09"
    amount = Decimal("100000.00")


class ReferencePriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferencePrice

    product = factory.SubFactory(ProductFactory)
    source = "listing"
    region = factory.SubFactory(RegionFactory, code="370000")
    price = Decimal("12.0000")
    effective_from = dt.date(2026, 1, 1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.ADMIN
    password = factory.PostGenerationMethodCall("set_password", "pass-for-tests-1")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook signature
        if create:
            obj.save()


def hospital_user(hospital: Hospital, **kw) -> User:
    return UserFactory(role=Role.HOSPITAL, hospital=hospital, **kw)


def enterprise_user(enterprise: Enterprise, **kw) -> User:
    return UserFactory(role=Role.ENTERPRISE, enterprise=enterprise, **kw)


def bureau_user(bureau: Bureau, role: str = Role.BUREAU_OPERATOR, **kw) -> User:
    return UserFactory(role=role, bureau=bureau, **kw)


# --- statements (receipts, matching and statements feature) ---------------------------


class StatementFactory(factory.django.DjangoModelFactory):
    """An open 对账单 of one hospital × distributor × month of acceptance."""

    class Meta:
        model = "settlement.Statement"

    no = factory.Sequence(lambda n: f"STMT2026{n + 900001:06d}")
    hospital = factory.SubFactory(HospitalFactory)
    distributor = factory.SubFactory(EnterpriseFactory)
    period = "2026-09"
    sequence = 0
    status = "open"
    deadline = dt.date(2026, 10, 5)


# --- settlement batches, payments, prepayments (batches feature) ------------------------


def confirmed_statement(hospital, distributor, period: str = "2026-09"):
    """The confirmed statement of a hospital × distributor × month (created once)."""
    from django.utils import timezone

    from settlement.models import Statement

    statement, _ = Statement.objects.get_or_create(
        hospital=hospital,
        distributor=distributor,
        period=period,
        sequence=0,
        defaults={
            "no": f"ST{hospital.code}{distributor.credit_code[-6:]}{period.replace('-', '')}",
            "status": "confirmed",
            "deadline": dt.date(int(period[:4]) + (period[5:] == "12"), int(period[5:]) % 12 + 1, 5),
            "confirmed_at": timezone.now(),
        },
    )
    return statement


class ConfirmedInvoiceLineFactory(InvoiceLineFactory):
    """A settleable blue line (the matching feature's contract): match_status matched, on
    a confirmed statement. Pass ``delivery_line__order_line__hospital=…`` and
    ``…__distributor=…`` to choose the parties, ``amount``/``qty`` for the money."""

    match_status = "matched"
    net_qty = factory.LazyAttribute(lambda o: o.qty)
    net_amount = factory.LazyAttribute(lambda o: o.amount)
    accepted_on = factory.LazyAttribute(  # as matching writes it
        lambda o: o.delivery_line.accepted_date if (o.delivery_line.accepted_qty or 0) > 0 else None
    )
    statement = factory.LazyAttribute(
        lambda o: confirmed_statement(o.hospital, o.distributor, o.delivery_line.accepted_date.strftime("%Y-%m"))
    )


def red_line_for(blue: InvoiceLine, *, qty: int | None = None, issued_at: dt.date | None = None, **kw) -> InvoiceLine:
    """A red (reversal) line of ``blue``: ``qty`` packages back (default all), linked by ``reverses``."""
    back = qty if qty is not None else blue.qty
    amount = -(Decimal(back) * blue.unit_price).quantize(Decimal("0.01"))
    return InvoiceLine.objects.create(
        invoice_code="",
        invoice_no=kw.pop("invoice_no", f"{27370000000000000000 + InvoiceLine.objects.count() + 1}"),
        line_no=1,
        kind="red",
        original_invoice_no=blue.invoice_no,
        distributor=blue.distributor,
        hospital=blue.hospital,
        delivery_no=blue.delivery_no,
        delivery_line_no=blue.delivery_line_no,
        delivery_line=blue.delivery_line,
        qty=-back,
        unit_price=blue.unit_price,
        amount=amount,
        tax_rate=blue.tax_rate,
        issued_at=issued_at or blue.issued_at,
        reverses=blue,
        **kw,
    )


def batch_staff(region_code: str = "371000"):
    """(bureau, operator, approver, second approver) of a bureau of ``region_code``."""
    bureau = BureauFactory(region=RegionFactory(code=region_code))
    return (
        bureau,
        bureau_user(bureau, Role.BUREAU_OPERATOR),
        bureau_user(bureau, Role.BUREAU_APPROVER),
        bureau_user(bureau, Role.BUREAU_APPROVER),
    )


def settleable_line(hospital, distributor, *, amount: str = "100.00", accepted: str = "2026-09-02", **kw) -> InvoiceLine:
    """A confirmed, matched blue line of ``amount`` yuan (qty 1) accepted on ``accepted``."""
    price = Decimal(amount)
    order = OrderLineFactory(hospital=hospital, distributor=distributor, qty=1, unit_price=price,
                             ordered_at=at(accepted, 8) - dt.timedelta(days=2))
    delivery = DeliveryLineFactory(order_line=order, qty=1, delivered_at=at(accepted, 8) - dt.timedelta(days=1),
                                   accepted_qty=1, rejected_qty=0, received_at=at(accepted, 11),
                                   accepted_date=dt.date.fromisoformat(accepted))
    return ConfirmedInvoiceLineFactory(delivery_line=delivery, qty=1, unit_price=price, amount=price, **kw)


def pay_instruction(user, instruction, *, paid_at: str = "2026-10-08T10:00:00+08:00", bank_ref: str = ""):
    """Apply one successful bank confirmation of ``instruction`` in full (as the bank file
    would carry it); returns the report."""
    from settlement.services.payments import confirmation_rows, payment_confirmations_apply

    cells = {
        "instruction_no": instruction.no,
        "payee_credit_code": instruction.distributor_id,
        "amount": str(instruction.amount),
        "status": "success",
        "paid_at": paid_at,
        "bank_ref": bank_ref or f"BR{instruction.no}",
    }
    rows, errors = confirmation_rows([(2, cells)])
    return payment_confirmations_apply(rows=rows, user=user, source="t.csv", cell_errors=errors)


def paid_instruction_for(batch, distributor, *, paid_at: dt.datetime, amount: Decimal | None = None):
    """The paid instruction of ``distributor`` in ``batch``, written directly (no bank file):
    what makes that distributor's lines there paid (BatchLineQuerySet.paid). ``amount``
    defaults to Σ those lines (at least one fen)."""
    from django.db.models import Sum

    from settlement.models import BatchLine, InstructionStatus, PaymentInstruction

    if amount is None:
        total = BatchLine.objects.filter(batch=batch, distributor=distributor).aggregate(s=Sum("amount"))["s"]
        amount = max(total or Decimal("0"), Decimal("0.01"))
    instruction, _ = PaymentInstruction.objects.update_or_create(
        batch=batch,
        distributor=distributor,
        defaults={
            "no": f"ZFT{batch.pk:06d}{str(distributor.pk)[-6:]}",
            "payee_name": str(distributor),
            "amount": amount,
            "status": InstructionStatus.PAID,
            "paid_at": paid_at,
        },
    )
    return instruction
